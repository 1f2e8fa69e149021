import io

from ${{ params.package }}.app import app


def test_health_answers_ok() -> None:
    assert app.handle("GET", "/health") == (200, {"status": "ok"})


def test_unknown_path_is_404() -> None:
    status, body = app.handle("GET", "/nope")
    assert status == 404
    assert body == {"detail": "Not Found"}


def test_wsgi_call_returns_json() -> None:
    seen: list[str] = []
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/health", "wsgi.input": io.BytesIO()}
    body = b"".join(app(environ, lambda status, headers: seen.append(status)))
    assert seen == ["200 OK"]
    assert body == b'{"status": "ok"}'
