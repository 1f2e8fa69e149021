"""The service: routes declared FastAPI-style, served by the standard library's WSGI server.

`App.handle` answers a request without any server, which is what the tests call.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

Handler = Callable[[], Any]
PORT = ${{ params.port }}
DEBUG = "${{ params.debug }}" == "true"


class App:
    """A tiny router: `@app.get("/path")` registers a handler that returns JSON-able data."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}

    def get(self, path: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self.routes[("GET", path)] = fn
            return fn

        return register

    def handle(self, method: str, path: str) -> tuple[int, Any]:
        handler = self.routes.get((method.upper(), path))
        if handler is None:
            return 404, {"detail": "Not Found"}
        return 200, handler()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        status, body = self.handle(environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/"))
        if DEBUG:
            print(environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), status)
        data = json.dumps(body).encode()
        reason = "OK" if status == 200 else "Not Found"
        start_response(f"{status} {reason}", [("Content-Type", "application/json")])
        return [data]


app = App()


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/")
def index() -> dict[str, str]:
    return {"service": "${{ params.package }}"}
