"""Celery tasks of the reporting app: the alert rules' evaluation (beat) and the incidents' e-mails."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from reporting.alerts import alert_incident_notify as notify
from reporting.alerts import alerts_evaluate


@shared_task(acks_late=True, ignore_result=True)
def alerts_evaluate_task() -> dict[str, Any]:
    """Celery beat, every ``RATECARD_ALERT_EVALUATE_SECONDS``: open, refresh and clear incidents."""
    found = alerts_evaluate()
    return {"opened": found.opened, "cleared": found.cleared, "failed_rules": found.failed_rules}


@shared_task(acks_late=True, ignore_result=True)
def alert_incident_notify(incident_id: int) -> bool:
    """Mail finance about an incident once (after the commit that opened it; retried by the beat)."""
    return notify(incident_id=incident_id)
