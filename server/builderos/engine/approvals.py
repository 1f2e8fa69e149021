"""Approval requests: persisted before anyone is asked, resolved by a person (or an explicit policy).

A request is found again by its key after a crash or a stop, so N approval pauses cause exactly N
requests and the decision made while the run was stopped is the one the resumed run sees.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from builderos.store.db import AuditEntry, Batch, Store, dumps


class ApprovalPending(Exception):
    """The run must stop here until someone decides (CLI without a terminal, `--no-wait`)."""

    def __init__(self, approval_id: str) -> None:
        super().__init__(approval_id)
        self.approval_id = approval_id


@dataclass(slots=True)
class Change:
    """One file an approval would change, with the exact diff a person sees."""

    path: str
    before: str | None
    after: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "before_sha256": sha256_text(self.before),
            "after_sha256": sha256_text(self.after),
            "diff": unified_diff(self.path, self.before, self.after),
        }


def sha256_text(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


def unified_diff(path: str, before: str | None, after: str | None) -> str:
    a = (before or "").splitlines(keepends=True)
    b = (after or "").splitlines(keepends=True)
    old = f"a/{path}" if before is not None else "/dev/null"
    new = f"b/{path}" if after is not None else "/dev/null"
    return "".join(difflib.unified_diff(a, b, old, new))


#: Decides a pending approval: returns "approve" / "deny" (and a comment), or None to stop the run.
Approver = Callable[[dict[str, Any]], Awaitable[tuple[str, str | None, str] | None]]


async def find(store: Store, run_id: str, key: str) -> dict[str, Any] | None:
    rows = await store.fetch(
        "SELECT body, status FROM approvals WHERE run_id = ? AND json_extract(body, '$.key') = ?",
        (run_id, key),
    )
    if not rows:
        return None
    body = dict(json.loads(rows[0][0]))
    body["status"] = rows[0][1]
    return body


async def get(store: Store, approval_id: str) -> dict[str, Any] | None:
    rows = await store.fetch("SELECT body, status FROM approvals WHERE id = ?", (approval_id,))
    if not rows:
        return None
    body = dict(json.loads(rows[0][0]))
    body["status"] = rows[0][1]
    return body


async def pending(store: Store) -> list[dict[str, Any]]:
    rows = await store.fetch(
        "SELECT body, status FROM approvals WHERE status = 'pending' ORDER BY created_at, id"
    )
    out = []
    for body, status in rows:
        item = dict(json.loads(body))
        item["status"] = status
        out.append(item)
    return out


async def resolve(
    store: Store,
    approval_id: str,
    decision: str,
    by: dict[str, Any],
    comment: str | None,
    redact: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """Record a decision (approve or deny) on a pending request; refuses a second decision.

    The comment is a person's free text: it goes through `redact` (the workspace's secrets)
    before it is stored, audited or shown."""
    if comment is not None and redact is not None:
        comment = redact(comment)
    current = await get(store, approval_id)
    if current is None:
        raise LookupError(f"no approval request '{approval_id}'")
    if current["status"] != "pending":
        raise ValueError(f"approval '{approval_id}' is already {current['status']}")
    status = "approved" if decision == "approve" else "denied"
    now = store.clock.iso()
    current.update(status=status, resolved_by=by.get("id"), resolved_at=now, comment=comment)
    body = {k: v for k, v in current.items() if k != "status"}
    batch = Batch().add(
        "UPDATE approvals SET status = ?, resolved_at = ?, body = ? WHERE id = ? AND status = 'pending'",
        (status, now, dumps(body), approval_id),
    )
    batch.audit.append(
        AuditEntry(
            by,
            "approval.decide",
            "approval",
            approval_id,
            "success" if status == "approved" else "denied",
            {"run_id": current.get("run_id"), "step_id": current.get("step_id"), "comment": comment},
        )
    )
    await store.write(batch)
    return current
