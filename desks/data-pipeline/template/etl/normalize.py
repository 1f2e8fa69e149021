"""Normalize: trimmed text, lower-case emails, amounts in cents, ISO dates (bad values become None)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from etl import BUILD, CURRENCY
from etl.io import read_jsonl, write_jsonl


def cents(text: str) -> int | None:
    try:
        return int((Decimal(text.strip()) * 100).to_integral_value())
    except (InvalidOperation, ValueError):
        return None


def iso_date(text: str) -> str | None:
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        return None


def normalize_row(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row.get("id", "").strip(),
        "customer_email": row.get("customer_email", "").strip().lower(),
        "amount_cents": cents(row.get("amount", "")),
        "currency": CURRENCY,
        "ordered_at": iso_date(row.get("ordered_at", "")),
        "_source": row.get("_source"),
    }


def normalize() -> int:
    return write_jsonl(BUILD / "normalized.jsonl", (normalize_row(r) for r in read_jsonl(BUILD / "ingested.jsonl")))


if __name__ == "__main__":
    print(f"normalized {normalize()} rows")
