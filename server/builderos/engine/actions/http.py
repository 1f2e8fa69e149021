"""http.check: GET a URL and compare the status. A read, so it bypasses the ledger and may simply rerun."""

from __future__ import annotations

import httpx

from builderos.engine.actions._common import bad_param, opt_int, opt_seconds, req_str
from builderos.engine.interfaces import ActionInput, Outputs, StepFailed

ACTION = "http.check"
BODY_LIMIT = 2048
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


class HttpCheck:
    """`http.check`: outputs status, ok and the first 2 KB of the body, also when the check fails."""

    name = "http.check"

    async def run(self, inp: ActionInput) -> Outputs:
        url = req_str(inp, ACTION, "url")
        expect = opt_int(inp, ACTION, "expect_status", 200)
        timeout = opt_seconds(inp, ACTION, "timeout", 10.0)
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as e:
            raise bad_param(ACTION, f"`url` {url!r} is not a URL: {e}") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise bad_param(ACTION, f"`url` {url!r} must be an http:// or https:// URL")
        # A proxy from the environment must not intercept the local deploy targets.
        trust_env = parsed.host not in _LOOPBACK
        failed = {"status": 0, "ok": False, "body": ""}
        try:
            async with (
                httpx.AsyncClient(timeout=timeout, trust_env=trust_env, follow_redirects=False) as client,
                client.stream("GET", parsed) as resp,
            ):
                body = bytearray()
                async for chunk in resp.aiter_bytes():
                    body += chunk
                    if len(body) >= BODY_LIMIT:
                        break
                status = resp.status_code
                encoding = resp.encoding or "utf-8"
        except httpx.TimeoutException:
            raise StepFailed(f"GET {url} → timed out after {timeout:g}s", failed, retryable=True) from None
        except httpx.HTTPError as e:
            reason = str(e) or type(e).__name__
            raise StepFailed(f"GET {url} → {reason}", failed, retryable=True) from None
        try:
            text = bytes(body[:BODY_LIMIT]).decode(encoding, errors="replace")
        except LookupError:  # a charset Python does not know
            text = bytes(body[:BODY_LIMIT]).decode("utf-8", errors="replace")
        outputs: Outputs = {"status": status, "ok": status == expect, "body": text}
        inp.log(f"GET {url} → {status}")
        if status != expect:
            raise StepFailed(f"GET {url} → {status}, expected {expect}", outputs, retryable=True)
        return outputs
