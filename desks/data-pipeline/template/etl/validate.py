"""Validate: the data-quality gate. Writes build/quality.json and exits 1 when too many rows are bad."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from etl import BUILD, MAX_BAD_RATIO
from etl.io import read_jsonl

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")


def problems(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row in rows:
        where = row.get("_source")
        if not row["id"]:
            found.append({"row": where, "rule": "id_required"})
        elif row["id"] in seen:
            found.append({"row": where, "rule": "id_unique", "id": row["id"]})
        seen.add(row["id"])
        if not EMAIL.match(row["customer_email"]):
            found.append({"row": where, "rule": "email_format"})
        if row["amount_cents"] is None or row["amount_cents"] < 0:
            found.append({"row": where, "rule": "amount_non_negative"})
        if row["ordered_at"] is None:
            found.append({"row": where, "rule": "date_iso"})
    return found


def validate() -> dict[str, Any]:
    rows = read_jsonl(BUILD / "normalized.jsonl")
    found = problems(rows)
    bad_rows = len({p["row"] for p in found})
    ratio = bad_rows / len(rows) if rows else 1.0
    report = {
        "rows": len(rows),
        "bad_rows": bad_rows,
        "bad_ratio": round(ratio, 4),
        "max_bad_ratio": MAX_BAD_RATIO,
        "passed": bool(rows) and ratio <= MAX_BAD_RATIO,
        "problems": found,
    }
    (BUILD / "quality.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    result = validate()
    print(f"quality: {result['bad_rows']}/{result['rows']} bad rows (at most {MAX_BAD_RATIO:.0%} allowed)")
    for p in result["problems"]:
        print(f"  {p['row']}: {p['rule']}")
    sys.exit(0 if result["passed"] else 1)
