"""builderos/deskList and builderos/deskApply through a real daemon (pytest-lsp) on a copy of shop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from builderos import protocol
from lsp.conftest import Session


def plain(obj: Any) -> Any:
    """The client turns JSON objects into namedtuples; back to plain data."""
    if hasattr(obj, "_asdict"):
        return {k: plain(v) for k, v in obj._asdict().items()}
    if isinstance(obj, list):
        return [plain(v) for v in obj]
    return obj


async def request(lsp: Session, method: str, params: dict[str, Any]) -> Any:
    return plain(await lsp.client.protocol.send_request_async(method, params))


@pytest.mark.asyncio(loop_scope="module")
async def test_desk_list_has_builtin_and_workspace_desks(lsp: Session) -> None:
    desks = {d["name"]: d for d in (await request(lsp, protocol.DESK_LIST, {}))["desks"]}
    assert {"python-service", "typescript-library", "data-pipeline", "shop-desk"} <= set(desks)
    shop_desk = desks["shop-desk"]
    assert shop_desk["source"] == "workspace" and shop_desk["version"] == "1.0.0"
    assert shop_desk["parameters"]["port"] == {
        "type": "number",
        "required": False,
        "default": 8000,
        "min": 1024,
        "max": 65535,
        "description": "The port the service listens on",
    }
    assert shop_desk["parameters"]["license"]["values"] == ["MIT", "Apache-2.0"]
    assert desks["python-service"]["source"] == "builtin"


@pytest.mark.asyncio(loop_scope="module")
async def test_desk_apply_dry_run_then_apply(lsp: Session, shop: Path) -> None:
    params = {"name": "shop-desk", "params": {"package": "cart", "port": 9000}, "dest": "generated/cart"}
    dry = await request(lsp, protocol.DESK_APPLY, {**params, "dryRun": True})
    assert dry["plan"] == {"create": ["README.md"], "overwrite": [], "unchanged": []}
    assert dry["applied"] is False and not (shop / "generated").exists()

    done = await request(lsp, protocol.DESK_APPLY, params)
    assert done["applied"] is True and done["diagnostics"] == {"errors": 0, "warnings": 0}
    assert "- Port: 9000" in (shop / "generated/cart/README.md").read_text()

    (shop / "generated/cart/README.md").write_text("mine\n")
    with pytest.raises(Exception) as refused:
        await request(lsp, protocol.DESK_APPLY, params)
    assert "would overwrite 1 file(s): README.md" in str(refused.value)
    assert (shop / "generated/cart/README.md").read_text() == "mine\n"
    forced = await request(lsp, protocol.DESK_APPLY, {**params, "force": True})
    assert forced["plan"]["overwrite"] == ["README.md"] and forced["applied"] is True


@pytest.mark.asyncio(loop_scope="module")
async def test_desk_apply_errors_are_one_line_json_rpc_errors(lsp: Session, shop: Path) -> None:
    for params, words in (
        (
            {"name": "shop-desk", "params": {"package": "cart", "port": 80}},
            "parameter 'port': 80 is below the minimum 1024",
        ),
        ({"name": "shop-desk", "params": {"package": "Cart!"}}, "parameter 'package'"),
        ({"name": "shop-desk", "params": {}}, "parameter 'package': a value is required"),
        ({"name": "no-such-desk", "params": {}}, "no desk named 'no-such-desk'"),
        ({"params": {}}, "'name' is required"),
    ):
        with pytest.raises(Exception) as refused:
            await request(lsp, protocol.DESK_APPLY, {**params, "dest": "never"})
        assert words in str(refused.value)
        assert "\n" not in str(refused.value)
    assert not (shop / "never").exists()
