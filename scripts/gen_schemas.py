"""Generate schemas/<kind>.schema.json from the pydantic models in builderos.model.

The models are the reference for file formats; the JSON Schemas are derived from them
for editors and other tools, so they are generated, checked in, and verified in CI:

    python scripts/gen_schemas.py            # rewrite the schema files
    python scripts/gen_schemas.py --check    # exit 1 naming the files that are out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from builderos.model import KIND_MODELS

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = ROOT / "schemas"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "https://builderos.dev/schemas/{kind}.schema.json"

TITLES: dict[str, str] = {
    "project": "BuilderOS project (builderos.yaml)",
    "agent": "BuilderOS agent (agents/*.yaml)",
    "prompt": "BuilderOS prompt (prompts/*.yaml)",
    "pipeline": "BuilderOS pipeline (ship/*.yaml)",
    "policy": "BuilderOS policy (builderos.policy.yaml)",
    "scenario": "BuilderOS scenario (scenarios/*.yaml)",
    "eval": "BuilderOS eval suite (evals/*.yaml)",
    "desk": "BuilderOS desk (desks/<name>/desk.yaml)",
    "context": "BuilderOS context pack (context/*.json)",
}


def schema_file_name(kind: str) -> str:
    return f"{kind}.schema.json"


def render_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of one kind, with the YAML key names (aliases) and a stable `$id`."""
    generated = KIND_MODELS[kind].model_json_schema(by_alias=True)
    generated.pop("title", None)
    return {
        "$schema": DIALECT,
        "$id": SCHEMA_ID.format(kind=kind),
        "title": TITLES.get(kind, f"BuilderOS {kind}"),
        **generated,
    }


def render_schemas() -> dict[str, str]:
    """Every schema file's name mapped to its exact text."""
    return {
        schema_file_name(kind): json.dumps(render_schema(kind), indent=2, sort_keys=False, ensure_ascii=False)
        + "\n"
        for kind in KIND_MODELS
    }


def stale_files(directory: Path = SCHEMA_DIR) -> list[str]:
    """Names of the schema files in `directory` that are missing or differ from a fresh render."""
    stale = []
    for name, text in render_schemas().items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    return stale


def write_schemas(directory: Path = SCHEMA_DIR) -> list[str]:
    """Write the schema files that changed; return their names."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_schemas().items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8", newline="\n")
            written.append(name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only check that the files are up to date")
    parser.add_argument("--dir", type=Path, default=SCHEMA_DIR, help="schema folder (default: schemas/)")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(args.dir)
        if stale:
            for name in stale:
                print(f"stale: {args.dir / name}", file=sys.stderr)
            print("run: python scripts/gen_schemas.py", file=sys.stderr)
            return 1
        print(f"{len(KIND_MODELS)} schemas up to date")
        return 0
    written = write_schemas(args.dir)
    for name in written:
        print(f"wrote {args.dir / name}")
    if not written:
        print(f"{len(KIND_MODELS)} schemas up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
