"""Ingest: read a raw CSV as it is into build/ingested.jsonl (with where each row came from)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from etl import BUILD
from etl.io import write_jsonl


def ingest(source: Path) -> int:
    with source.open(newline="", encoding="utf-8") as fh:
        rows = [{**row, "_source": f"{source.as_posix()}:{i + 2}"} for i, row in enumerate(csv.DictReader(fh))]
    return write_jsonl(BUILD / "ingested.jsonl", rows)


if __name__ == "__main__":
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "data/raw/orders.csv")
    print(f"ingested {ingest(src)} rows from {src}")
