"""The ${{ params.dataset }} pipeline: ingest → normalize → validate → publish, files under build/."""

from pathlib import Path

DATASET = "${{ params.dataset }}"
CURRENCY = "${{ params.currency }}"
MAX_BAD_RATIO = ${{ params.max_bad_ratio }}
BUILD = Path("build")
