"""Run localstripe on 127.0.0.1:<port> with its state in <state file> (not its fixed /tmp path).

``python -m tests.stripe.localstripe_app <port> <state file>``, started by the ``localstripe`` fixture.
Two additions for the tests, outside Stripe's API: every request's method, path, query string,
Idempotency-Key and response status are recorded (``GET /_test/requests``; localstripe itself ignores
the header and some parameters, so the tests assert what we send), and ``POST /_test/reset`` forgets
them.
"""

from __future__ import annotations

import pickle
import sys
from typing import Any

from aiohttp import web
from localstripe import resources, server

PORT = int(sys.argv[1])
STATE = sys.argv[2]
REQUESTS: list[dict[str, Any]] = []


def load(self: resources.Store) -> None:
    try:
        with open(STATE, "rb") as f:
            old = pickle.load(f)
    except FileNotFoundError:
        return
    self.clear()
    self.update(old)


def dump(self: resources.Store) -> None:
    with open(STATE, "wb") as f:
        pickle.dump(dict(self), f, protocol=pickle.HIGHEST_PROTOCOL)


resources.Store.try_load_from_disk = load  # type: ignore[method-assign]
resources.Store.dump_to_disk = dump  # type: ignore[method-assign]


@web.middleware
async def record(request: web.Request, handler: Any) -> web.StreamResponse:
    if not request.path.startswith("/v1/"):
        return await handler(request)
    entry: dict[str, Any] = {
        "method": request.method,
        "path": request.path,
        "query": request.query_string,
        "idempotency_key": request.headers.get("Idempotency-Key"),
    }
    REQUESTS.append(entry)
    response: web.StreamResponse = await handler(request)
    entry["status"] = response.status
    return response


async def requests_view(request: web.Request) -> web.Response:
    return web.json_response(REQUESTS)


async def reset_view(request: web.Request) -> web.Response:
    REQUESTS.clear()
    return web.json_response({})


server.app.middlewares.insert(0, record)  # outermost: it sees the status localstripe's errors become
server.app.router.add_get("/_test/requests", requests_view)
server.app.router.add_post("/_test/reset", reset_view)

if __name__ == "__main__":
    resources.store.try_load_from_disk()
    web.run_app(server.app, host="127.0.0.1", port=PORT, access_log=None, print=None)
