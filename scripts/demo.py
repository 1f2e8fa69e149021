"""The demo: validate a fresh copy of the example workspace, then show what a typo looks like."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "tests" / "fixtures" / "workspaces" / "shop"


def builderos(*args: str) -> int:
    print(f"$ builderos {' '.join(args)}", flush=True)
    return subprocess.call([sys.executable, "-m", "builderos", *args])


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="builderos-demo-") as tmp:
        ws = Path(tmp) / "shop"
        shutil.copytree(EXAMPLE, ws)
        print(f"Example workspace copied to {ws}\n")
        clean = builderos("validate", "--workspace", str(ws))
        print()
        feature = ws / "ship" / "feature.yaml"
        text = feature.read_text()
        feature.write_text(text.replace("agent: builder", "agent: buidler", 1).replace("needs: [plan]", "needs: [plna]"))
        print("Now with two typos in ship/feature.yaml (agent 'buidler', needs 'plna'):")
        broken = builderos("validate", "--workspace", str(ws), "ship/feature.yaml")
        print()
        if clean != 0 or broken != 1:
            print(f"demo failed: expected exit codes 0 and 1, got {clean} and {broken}", file=sys.stderr)
            return 1
        print("Runs arrive with the engine (ShipMachine); for now the demo shows the validator.")
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
