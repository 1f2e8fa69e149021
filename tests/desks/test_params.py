"""Bad parameter values, each refused by the CLI with exit code 2 (a usage error), the parameter's name
and the rule it breaks, and nothing written; secrets never reach the disk or the audit chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.desks.util import audit_records, cli, make_desk, make_workspace, snapshot, write

BAD = [
    # (what is wrong, --param arguments, words the one-line error must contain)
    (
        "pattern mismatch",
        ["package=Bad-Name"],
        ["parameter 'package'", "does not match the pattern", "^[a-z_]"],
    ),
    ("below the range", ["package=ok", "port=80"], ["parameter 'port'", "below the minimum 1024"]),
    ("above the range", ["package=ok", "port=70000"], ["parameter 'port'", "above the maximum 65535"]),
    ("missing required", ["port=8080"], ["parameter 'package'", "a value is required"]),
    (
        "unknown parameter",
        ["package=ok", "prot=8080"],
        ["parameter 'prot'", "no such parameter", "did you mean 'port'"],
    ),
    ("number of wrong type", ["package=ok", "port=eighty"], ["parameter 'port'", "expected a number"]),
    ("boolean of wrong type", ["package=ok", "debug=maybe"], ["parameter 'debug'", "expected true or false"]),
    ("bad enum", ["package=ok", "license=GPL"], ["parameter 'license'", "not one of MIT, Apache-2.0"]),
    ("not KEY=VALUE", ["package"], ["--param 'package' is not KEY=VALUE"]),
]


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = make_workspace(tmp_path / "ws")
    make_desk(root)
    return root


@pytest.mark.parametrize(("case", "params", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_parameter_is_refused_by_name_and_rule(
    tmp_path: Path, ws: Path, case: str, params: list[str], words: list[str]
) -> None:
    dest = tmp_path / "out"
    r = cli(
        tmp_path, "desk", "apply", "small", *[f"--param={p}" for p in params], "--dest", str(dest), cwd=ws
    )
    assert r.returncode == 2, (case, r.stderr)
    line = r.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    for word in words:
        assert word in line, (case, line)
    assert "hint:" in line
    assert not dest.exists()


def test_good_values_are_converted_to_their_types(tmp_path: Path, ws: Path) -> None:
    dest = tmp_path / "out"
    r = cli(
        tmp_path,
        "desk",
        "apply",
        "small",
        "--param",
        "package=orders",
        "--param",
        "port=9000",
        "--param",
        "debug=yes",
        "--param",
        "license=Apache-2.0",
        "--dest",
        str(dest),
        cwd=ws,
    )
    assert r.returncode == 0, r.stderr
    record = json.loads((dest / ".builderos/desks/applied/small.json").read_text())
    assert record["params"] == {
        "package": "orders",
        "port": 9000,
        "debug": True,
        "license": "Apache-2.0",
        "token": None,
    }
    assert (dest / "README.md").read_text() == "# orders\nport 9000\n"


def test_secret_is_accepted_but_never_written_or_audited(tmp_path: Path, ws: Path) -> None:
    secret = "s3cr3t-value-4711"
    dest = make_workspace(tmp_path / "out")
    r = cli(
        tmp_path,
        "desk",
        "apply",
        "small",
        "--param",
        "package=orders",
        "--param",
        f"token={secret}",
        "--dest",
        str(dest),
        cwd=ws,
    )
    assert r.returncode == 0, r.stderr
    for rel, data in snapshot(dest, skip_store=False).items():
        assert secret.encode() not in data, rel
    entries = audit_records(tmp_path, dest, "desk.apply")
    assert len(entries) == 1
    assert entries[0]["details"]["params"]["token"] == "***"
    assert secret not in json.dumps(entries)


def test_a_template_that_writes_a_secret_into_a_file_is_refused(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    make_desk(ws, "leaky", files={"config.txt": "token=${{ params.token }}\n"})
    dest = tmp_path / "out"
    r = cli(
        tmp_path,
        "desk",
        "apply",
        "leaky",
        "--param",
        "package=a",
        "--param",
        "token=x",
        "--dest",
        str(dest),
        cwd=ws,
    )
    assert r.returncode == 1
    assert "config.txt:1: parameter 'token' is secret and cannot be written into a file" in r.stderr
    assert not dest.exists()


def test_a_parameter_that_would_make_a_path_escape_is_refused(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    folder = make_desk(ws, "paths", files={"${{ params.license }}/x.txt": "x"})
    text = (
        (folder / "desk.yaml")
        .read_text()
        .replace(
            "license: {type: enum, values: [MIT, Apache-2.0], default: MIT}",
            "license: {type: string, default: MIT}",
        )
    )
    write(folder, "desk.yaml", text)
    dest = tmp_path / "out"
    r = cli(
        tmp_path,
        "desk",
        "apply",
        "paths",
        "--param",
        "package=a",
        "--param",
        "license=..",
        "--dest",
        str(dest),
        cwd=ws,
    )
    assert r.returncode == 1, r.stderr
    assert "renders to '..', which is not a file name" in r.stderr
    assert not dest.exists()
