"""``manage.py import_usage FILE``: import historical usage (a customer migrating from another system).

The file is JSON Lines (one event object a line, the API's shape) or CSV (``.csv``: columns
``event_id,customer,metric,timestamp``, every other column a property, empty cells left out). Events
go through the same validation as ``POST /api/v1/events?backfill=true`` in batches of 1,000, without
the late-event limit: a finalized invoice never changes, the next one gets ``adjustment`` lines; a
draft is re-rated. A batch with a bad event is refused whole and the command stops, naming the line;
batches before it stay imported, and running the command again is safe (repeats are duplicates).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.services.usage_ingest import usage_events_ingest_json
from billing.services.usage_schema import MAX_EVENTS
from config.errors import RatecardError

CSV_COLUMNS = ("event_id", "customer", "metric", "timestamp")
_INDEX = re.compile(r"^events\[(\d+)\]\.?")


def _jsonl(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line.strip()


def _csv(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [name for name in CSV_COLUMNS if name not in (reader.fieldnames or [])]
        if missing:
            raise CommandError(f"{path}: missing CSV column(s) {', '.join(missing)}.")
        for row in reader:
            event: dict[str, Any] = {name: row[name] for name in CSV_COLUMNS}
            event["properties"] = {
                key: value for key, value in row.items() if key not in CSV_COLUMNS and key and value != ""
            }
            yield reader.line_num, json.dumps(event).encode()


class Command(BaseCommand):
    help = "Import historical usage events (JSON Lines or CSV) without the late-event limit."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="a .jsonl (one event a line) or .csv file")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"No file {path}.")
        lines = _csv(path) if path.suffix.lower() == ".csv" else _jsonl(path)
        accepted = duplicates = 0
        batch: list[tuple[int, bytes]] = []
        for item in lines:
            batch.append(item)
            if len(batch) == MAX_EVENTS:
                accepted, duplicates = self._send(path, batch, accepted, duplicates)
                batch = []
        if batch:
            accepted, duplicates = self._send(path, batch, accepted, duplicates)
        self.stdout.write(f"Imported {accepted} events ({duplicates} duplicates) from {path}.")

    def _send(
        self, path: Path, batch: list[tuple[int, bytes]], accepted: int, duplicates: int
    ) -> tuple[int, int]:
        body = b'{"events": [' + b", ".join(raw for _, raw in batch) + b"]}"
        try:
            result = usage_events_ingest_json(body=body, backfill=True)
        except RatecardError as exc:
            problems = []
            for error in exc.errors:
                field = error.field or ""
                match = _INDEX.match(field)
                where = f"line {batch[int(match.group(1))][0]}" if match else "batch"
                name = field[match.end() :] if match else field
                problems.append(f"{path}:{where}: {name or 'event'}: {error.message}")
            raise CommandError(
                f"Stopped after {accepted} imported events: this batch of {len(batch)} was refused.\n"
                + "\n".join(problems)
            ) from exc
        return accepted + result.accepted, duplicates + result.duplicates
