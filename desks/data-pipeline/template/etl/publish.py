"""Publish: the validated rows as build/published/<dataset>.csv with a manifest (row count, sha256).

Refuses to publish when build/quality.json does not say the gate passed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sys

from etl import BUILD, DATASET
from etl.io import read_jsonl

COLUMNS = ["id", "customer_email", "amount_cents", "currency", "ordered_at"]


def publish() -> dict[str, object]:
    quality = json.loads((BUILD / "quality.json").read_text(encoding="utf-8"))
    if not quality.get("passed"):
        raise SystemExit("publish: the data-quality gate did not pass; nothing published")
    rows = read_jsonl(BUILD / "normalized.jsonl")
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    data = out.getvalue().encode("utf-8")
    folder = BUILD / "published"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{DATASET}.csv"
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    manifest = {"dataset": DATASET, "rows": len(rows), "sha256": hashlib.sha256(data).hexdigest()}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


if __name__ == "__main__":
    m = publish()
    print(f"published {m['rows']} rows of {DATASET} (sha256 {str(m['sha256'])[:12]})")
    sys.exit(0)
