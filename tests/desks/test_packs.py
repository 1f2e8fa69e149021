"""Signed packs: keygen, build, trust, verify, install. Every tampered, unsigned, untrusted or escaping
pack is refused with its reason and nothing is written; private keys never enter the workspace."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import zipfile
from pathlib import Path

import pytest
from tests.desks.util import audit_records, cli, make_desk, make_workspace, snapshot, write

from builderos.packs.keys import load_private, public_text


def keygen(tmp: Path, name: str) -> tuple[Path, str]:
    r = cli(tmp, "pack", "keygen", "--name", name)
    assert r.returncode == 0, r.stderr
    key = tmp / "config" / "keys" / f"{name}.key"
    return key, (key.with_suffix(".pub")).read_text().strip()


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Path | str]:
    """A publisher's desk folder and key, and a workspace that trusts that key."""
    publisher = make_workspace(tmp_path / "publisher")
    folder = make_desk(
        publisher,
        "shared",
        "1.2.0",
        files={"README.md": "# ${{ params.package }}\n", "data.bin": b"\x00\x01"},
    )
    key, public = keygen(tmp_path, "publisher")
    ws = make_workspace(tmp_path / "ws")
    pack = tmp_path / "shared.deskpack"
    r = cli(tmp_path, "pack", "build", str(folder), "--key", str(key), "--out", str(pack))
    assert r.returncode == 0, r.stderr
    r = cli(tmp_path, "trust", "add", public, "--name", "publisher", "--workspace", str(ws))
    assert r.returncode == 0, r.stderr
    return {"ws": ws, "pack": pack, "key": key, "public": public}


def test_signed_pack_verifies_installs_and_applies(tmp_path: Path, setup: dict[str, Path | str]) -> None:
    ws, pack = Path(setup["ws"]), Path(setup["pack"])
    r = cli(tmp_path, "pack", "verify", str(pack), "--workspace", str(ws))
    assert r.returncode == 0, r.stderr
    assert "ok: desk pack shared 1.2.0, 3 files intact, signed by trusted key" in r.stdout
    r = cli(tmp_path, "desk", "install", str(pack), "--workspace", str(ws))
    assert r.returncode == 0, r.stderr
    installed = ws / ".builderos/desks/installed/shared@1.2.0"
    assert (installed / "template/data.bin").read_bytes() == b"\x00\x01"
    listed = json.loads(cli(tmp_path, "desk", "list", "--json", "--workspace", str(ws)).stdout)["desks"]
    assert {"name": "shared", "source": "installed"}.items() <= next(
        d for d in listed if d["name"] == "shared"
    ).items()
    dest = tmp_path / "out"
    r = cli(
        tmp_path,
        "desk",
        "apply",
        "shared@1.2",
        "--param",
        "package=pkg",
        "--dest",
        str(dest),
        "--workspace",
        str(ws),
    )
    assert r.returncode == 0, r.stderr
    assert (dest / "README.md").read_text() == "# pkg\n"
    [entry] = audit_records(tmp_path, ws, "pack.install")
    assert entry["entity_id"] == "shared@1.2.0" and entry["details"]["trusted"] is True
    # the private key is nowhere in the workspace or its audit
    secret = Path(setup["key"]).read_bytes()
    assert all(secret not in data for data in snapshot(ws, skip_store=False).values())


def test_keygen_refuses_to_put_a_private_key_in_a_workspace(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    r = cli(tmp_path, "pack", "keygen", "--out", str(ws / "keys"))
    assert r.returncode == 1 and "refusing to write a private key inside the workspace" in r.stderr
    assert not (ws / "keys").exists()


# -- refusals ------------------------------------------------------------------------------------


def rezip(src: Path, dest: Path, change: dict[str, bytes | None], symlinks: tuple[str, ...] = ()) -> Path:
    """A copy of a pack with entries replaced, added (bytes) or removed (None)."""
    with zipfile.ZipFile(src) as zin:
        entries = {i.filename: zin.read(i) for i in zin.infolist()}
    for name, data in change.items():
        if data is None:
            entries.pop(name, None)
        else:
            entries[name] = data
    with zipfile.ZipFile(dest, "w") as zout:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)
            if name in symlinks:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zout.writestr(info, data)
    return dest


def signed_with(key_path: Path, files: dict[str, bytes], kind: str = "desk") -> dict[str, bytes]:
    """manifest.json and signature.json for `files`, properly signed: only the paths are wrong."""
    manifest = {
        "format": "builderos-pack/1",
        "kind": kind,
        "name": "evil",
        "version": "1.0.0",
        "files": [
            {"path": p, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d)} for p, d in files.items()
        ],
    }
    raw = json.dumps(manifest).encode()
    key = load_private(key_path)
    sig = {
        "algorithm": "ed25519",
        "public_key": public_text(key.public_key()),
        "signature": base64.b64encode(key.sign(raw)).decode(),
    }
    return {"manifest.json": raw, "signature.json": json.dumps(sig).encode()}


def flip_byte(src: Path, dest: Path) -> Path:
    """The pack with one bit flipped in the middle of a file's compressed data."""
    with zipfile.ZipFile(src) as z:
        info = z.getinfo("files/template/README.md")
    data = bytearray(src.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode())  # no extra field: built by pack build
    data[start + info.compress_size // 2] ^= 0x01
    dest.write_bytes(bytes(data))
    return dest


def bad_packs(tmp: Path, setup: dict[str, Path | str]) -> list[tuple[str, Path, str]]:
    pack, key = Path(setup["pack"]), Path(setup["key"])
    other_key, _ = keygen(tmp, "stranger")
    stranger = tmp / "stranger.deskpack"
    folder = tmp / "publisher/desks/shared"
    assert (
        cli(tmp, "pack", "build", str(folder), "--key", str(other_key), "--out", str(stranger)).returncode
        == 0
    )
    unsigned = tmp / "unsigned.deskpack"
    assert cli(tmp, "pack", "build", str(folder), "--unsigned", "--out", str(unsigned)).returncode == 0
    evil = b"print('pwned')\n"
    cases = [
        ("one flipped byte", flip_byte(pack, tmp / "flipped.deskpack"), "damaged"),
        (
            "a file changed",
            rezip(pack, tmp / "changed.deskpack", {"files/template/README.md": b"# changed\n"}),
            "template/README.md was changed after the pack was signed",
        ),
        (
            "a file added",
            rezip(pack, tmp / "added.deskpack", {"files/template/extra.py": evil}),
            "template/extra.py was added to the pack after it was signed",
        ),
        (
            "a file removed",
            rezip(pack, tmp / "removed.deskpack", {"files/template/data.bin": None}),
            "template/data.bin was removed from the pack after it was signed",
        ),
        (
            "the manifest edited",
            rezip(
                pack,
                tmp / "manifest.deskpack",
                {"manifest.json": (zipfile.ZipFile(pack).read("manifest.json").replace(b"1.2.0", b"9.9.9"))},
            ),
            "signature does not match its manifest",
        ),
        ("a wrong key", stranger, "which is not trusted here"),
        ("no signature", unsigned, "the pack is not signed"),
        (
            "a ../ path",
            rezip(
                pack,
                tmp / "dotdot.deskpack",
                {**signed_with(key, {"../escape.txt": evil}), "files/../escape.txt": evil},
            ),
            "unsafe path",
        ),
        (
            "an absolute path",
            rezip(
                pack,
                tmp / "abs.deskpack",
                {**signed_with(key, {"/tmp/abs.txt": evil}), "files//tmp/abs.txt": evil},
            ),
            "unsafe path",
        ),
        (
            "a symlink",
            rezip(
                pack,
                tmp / "link.deskpack",
                {
                    **signed_with(key, {"template/link": b"/etc/passwd"}),
                    "files/template/link": b"/etc/passwd",
                },
                symlinks=("files/template/link",),
            ),
            "symbolic link",
        ),
        (
            "an agent pack writing the store",
            rezip(
                pack,
                tmp / "store.deskpack",
                {
                    **signed_with(key, {".builderos/builderos.db": evil}, kind="agent"),
                    "files/.builderos/builderos.db": evil,
                },
            ),
            "may not write BuilderOS or git data",
        ),
        ("not a zip", write(tmp, "junk.deskpack", b"PK junk"), "not a zip file"),
    ]
    for _, path, _ in cases:  # crafted packs keep only their own entries
        if path.name in ("dotdot.deskpack", "abs.deskpack", "link.deskpack", "store.deskpack"):
            with zipfile.ZipFile(path) as z:
                keep = {
                    n: z.read(n)
                    for n in z.namelist()
                    if n in ("manifest.json", "signature.json")
                    or n.startswith(("files/..", "files//", "files/template/link", "files/.builderos"))
                }
            links = ("files/template/link",) if path.name == "link.deskpack" else ()
            path.unlink()
            with zipfile.ZipFile(path, "w") as z:
                for n, d in keep.items():
                    info = zipfile.ZipInfo(n)
                    if n in links:
                        info.external_attr = (stat.S_IFLNK | 0o777) << 16
                    z.writestr(info, d)
    return cases


def test_every_bad_pack_is_refused_with_its_reason_and_nothing_written(
    tmp_path: Path, setup: dict[str, Path | str]
) -> None:
    ws = Path(setup["ws"])
    before = snapshot(ws, skip_store=False)
    for case, path, reason in bad_packs(tmp_path, setup):
        for command in (["pack", "verify"], ["desk", "install"]):
            r = cli(tmp_path, *command, str(path), "--workspace", str(ws))
            assert r.returncode == 1, (case, command, r.stdout, r.stderr)
            assert reason in r.stderr, (case, command, r.stderr)
            assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
        assert snapshot(ws, skip_store=False) == before, case
    assert not Path("/tmp/abs.txt").exists() and not (tmp_path / "escape.txt").exists()


def test_allow_untrusted_accepts_unsigned_and_unknown_keys_but_never_tampering(
    tmp_path: Path, setup: dict[str, Path | str]
) -> None:
    ws = Path(setup["ws"])
    cases = {case: (path, reason) for case, path, reason in bad_packs(tmp_path, setup)}
    for ok in ("a wrong key", "no signature"):
        r = cli(tmp_path, "pack", "verify", str(cases[ok][0]), "--allow-untrusted", "--workspace", str(ws))
        assert r.returncode == 0 and ("UNTRUSTED" in r.stdout or "UNSIGNED" in r.stdout), r.stderr
    for bad in ("one flipped byte", "a file added", "the manifest edited", "a ../ path"):
        r = cli(tmp_path, "desk", "install", str(cases[bad][0]), "--allow-untrusted", "--workspace", str(ws))
        assert r.returncode == 1 and cases[bad][1] in r.stderr, (bad, r.stderr)
    r = cli(
        tmp_path,
        "desk",
        "install",
        str(cases["no signature"][0]),
        "--allow-untrusted",
        "--workspace",
        str(ws),
    )
    assert r.returncode == 0 and "UNTRUSTED (allowed explicitly)" in r.stdout
    [entry] = audit_records(tmp_path, ws, "pack.install")
    assert entry["details"]["trusted"] is False and entry["details"]["key_id"] is None


def test_agent_pack_installs_its_files_into_the_workspace(tmp_path: Path) -> None:
    folder = tmp_path / "agentpack"
    write(folder, "pack.yaml", "kind: agent-pack\nname: reviewers\nversion: 0.3.0\n")
    write(
        folder,
        "agents/critic.yaml",
        "kind: agent\nname: critic\nrole: Critic\nprompt: critic@^1.0\ntools: [fs.read]\n",
    )
    write(folder, "prompts/critic.yaml", "kind: prompt\nname: critic\nversion: 1.0.0\ntemplate: Review it.\n")
    key, public = keygen(tmp_path, "team")
    pack = tmp_path / "reviewers.deskpack"
    assert cli(tmp_path, "pack", "build", str(folder), "--key", str(key), "--out", str(pack)).returncode == 0
    ws = make_workspace(tmp_path / "ws")
    assert cli(tmp_path, "trust", "add", str(key.with_suffix(".pub")), "--user").returncode == 0
    r = cli(tmp_path, "desk", "install", str(pack), "--workspace", str(ws))
    assert r.returncode == 0, r.stderr
    assert "installed agent pack reviewers 0.3.0" in r.stdout
    assert (ws / "agents/critic.yaml").is_file() and (ws / "prompts/critic.yaml").is_file()
    assert not (ws / "pack.yaml").exists()
    (ws / "agents/critic.yaml").write_text("kind: agent\nname: critic\nrole: Mine\n")
    r = cli(tmp_path, "desk", "install", str(pack), "--workspace", str(ws))
    assert r.returncode == 1 and "would overwrite 1 file(s): agents/critic.yaml" in r.stderr
    assert public in cli(tmp_path, "trust", "list", "--workspace", str(ws)).stdout
