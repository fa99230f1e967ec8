"""Signed releases: keys, the manifest, building a release tarball and publishing it on the hub.

A release is a tarball ``onestop-release-{version}.tar`` holding ``manifest.json`` (name, version,
creation time, and every wheel with its size and SHA-256), ``manifest.sig`` (the Ed25519 signature of
the manifest's exact bytes) and the wheels. The private key never goes on the hub: the technician signs
on a laptop, the hub only stores and serves what was signed, and a device trusts nothing but the
signature made with the key whose public half it got in its bundle (docs/operations.md, "Updating the
fleet").
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from provisioning.errors import ProvisionError
from provisioning.files import private_dir, write_private, write_public
from provisioning.install_script import DISTRIBUTION, WHEEL_PREFIX

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
FORMAT = 1
#: Release versions: plain dotted numbers (9.0.1), so that "newer" needs no third-party parser.
VERSION_RE = re.compile(r"\d{1,6}(?:\.\d{1,6}){0,3}")
#: A file of a release: a wheel's name (no folder, no leading dot).
FILE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]{0,199}\.whl")
#: Caps a device (and the hub's publish) applies whatever a manifest says.
MAX_MANIFEST_BYTES = 1 << 20
MAX_FILES = 500
MAX_FILE_BYTES = 256 << 20
MAX_RELEASE_BYTES = 1 << 30
#: Where the hub keeps published releases, under its data folder, and the file naming the latest.
RELEASES_DIR = "releases"
LATEST = "latest"
PUBLIC_KEY_NAME = "release.pub"
ROOT = Path(__file__).resolve().parents[1]


class ReleaseError(ProvisionError):
    """A release that cannot be built, published or trusted; the message says which check failed."""


def parse_version(text: str) -> tuple[int, ...]:
    """``"9.0.1"`` as ``(9, 0, 1, 0)`` for comparison; a ReleaseError for anything else."""
    if not isinstance(text, str) or not VERSION_RE.fullmatch(text):
        raise ReleaseError(f"release version {text!r}: expected dotted numbers such as 9.0.1")
    parts = tuple(int(p) for p in text.split("."))
    return parts + (0,) * (4 - len(parts))


# -- keys ----------------------------------------------------------------------------------------


def keygen(out: Path) -> tuple[Path, Path]:
    """Write ``release.key`` (0600, PKCS#8) and ``release.pub`` into ``out``; never overwrite a key."""
    private_dir(out)
    key = Ed25519PrivateKey.generate()
    key_path, pub_path = out / "release.key", out / PUBLIC_KEY_NAME
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    if not write_private(key_path, pem, exclusive=True):
        raise ReleaseError(f"{key_path} exists: keep it (devices trust its public key) or move it away")
    pub = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    write_public(pub_path, pub.decode("ascii"))
    return key_path, pub_path


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 signing key in ``path``."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ReleaseError(f"{path}: not a readable release key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ReleaseError(f"{path}: not an Ed25519 key (make one with `onestop release keygen`)")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The Ed25519 public key in ``path`` (what devices trust)."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ReleaseError(f"{path}: not a readable release public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ReleaseError(f"{path}: not an Ed25519 public key")
    return key


# -- the manifest --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileEntry:
    """One file of a release."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """What a release holds, as signed."""

    name: str
    version: str
    created: str
    files: tuple[FileEntry, ...]
    #: False: only this project's wheel; install it without dependencies (over what the venv sees).
    complete: bool = True

    @property
    def key(self) -> tuple[int, ...]:
        """The version, comparable."""
        return parse_version(self.version)

    @property
    def total_size(self) -> int:
        """Bytes of every file."""
        return sum(f.size for f in self.files)

    def to_bytes(self) -> bytes:
        """The manifest file's bytes (what is signed)."""
        body = {
            "format": FORMAT,
            "name": self.name,
            "version": self.version,
            "created": self.created,
            "complete": self.complete,
            "files": [{"name": f.name, "size": f.size, "sha256": f.sha256} for f in self.files],
        }
        return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode("utf-8")

    @classmethod
    def parse(cls, raw: bytes) -> Manifest:
        """A manifest from its bytes, every field checked (only after its signature was)."""
        if len(raw) > MAX_MANIFEST_BYTES:
            raise ReleaseError(f"manifest of {len(raw)} bytes is over the {MAX_MANIFEST_BYTES} cap")
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ReleaseError(f"manifest is not JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ReleaseError(f"manifest: expected an object with format {FORMAT}")
        if data.get("name") != DISTRIBUTION:
            raise ReleaseError(f"manifest: name {data.get('name')!r} is not {DISTRIBUTION}")
        version, created, files = data.get("version"), data.get("created"), data.get("files")
        if not isinstance(version, str):
            raise ReleaseError("manifest: version is missing")
        parse_version(version)
        if not isinstance(created, str) or not isinstance(files, list) or not 0 < len(files) <= MAX_FILES:
            raise ReleaseError("manifest: created (text) and files (1 to 500 entries) are required")
        entries: list[FileEntry] = []
        for f in files:
            if not isinstance(f, dict):
                raise ReleaseError("manifest: each file is an object")
            name, size, digest = f.get("name"), f.get("size"), f.get("sha256")
            if not isinstance(name, str) or not FILE_RE.fullmatch(name):
                raise ReleaseError(f"manifest: file name {name!r} is not a wheel's name")
            if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_FILE_BYTES:
                raise ReleaseError(f"manifest: {name}: size {size!r} is not 1 to {MAX_FILE_BYTES} bytes")
            if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise ReleaseError(f"manifest: {name}: sha256 is not 64 hex digits")
            entries.append(FileEntry(name, size, digest))
        if len({e.name for e in entries}) != len(entries):
            raise ReleaseError("manifest: a file is listed twice")
        m = cls(DISTRIBUTION, version, created, tuple(entries), bool(data.get("complete", True)))
        if m.total_size > MAX_RELEASE_BYTES:
            raise ReleaseError(f"manifest: {m.total_size} bytes in all, over the {MAX_RELEASE_BYTES} cap")
        own = f"{WHEEL_PREFIX}{version}-"
        if not any(e.name.startswith(own) for e in entries):
            raise ReleaseError(f"manifest: no {own}*.whl: the project's wheel is not of version {version}")
        return m


def verify(raw: bytes, signature: bytes, public_key: Ed25519PublicKey) -> Manifest:
    """The manifest, once its signature checks out with ``public_key``; a ReleaseError otherwise."""
    try:
        public_key.verify(signature, raw)
    except InvalidSignature:
        raise ReleaseError("the release's signature does not match its manifest and our key") from None
    return Manifest.parse(raw)


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of a file."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -- build ---------------------------------------------------------------------------------------


def _copy_source(dest: Path, version: str) -> None:
    """A copy of the project's source with ``version`` in pyproject.toml and onestop/__init__.py."""
    if not (ROOT / "pyproject.toml").is_file():
        raise ReleaseError(f"{ROOT} is not a source checkout: give --source DIR or --wheels DIR")

    def ignore(_dir: str, names: list[str]) -> set[str]:
        skip = {".git", ".venv", "var", "build", "dist", "__pycache__", ".mypy_cache", ".pytest_cache"}
        return {n for n in names if n in skip or n.endswith(".egg-info") or n.startswith("var-")}

    shutil.copytree(ROOT, dest, ignore=ignore, symlinks=True)
    py = dest / "pyproject.toml"
    text, n = re.subn(r'(?m)^version = "[^"]*"$', f'version = "{version}"', py.read_text("utf-8"), count=1)
    init = dest / "onestop" / "__init__.py"
    itext, m = re.subn(r'(?m)^__version__ = "[^"]*"$', f'__version__ = "{version}"', init.read_text("utf-8"))
    if n != 1 or m != 1:
        raise ReleaseError("could not set the version in pyproject.toml and onestop/__init__.py")
    py.write_text(text, "utf-8")
    init.write_text(itext, "utf-8")


def build_wheels(out: Path, *, version: str | None, source: Path | None, deps: bool, platform: str) -> None:
    """This project's wheel (from ``source``, else a copy of this checkout at ``version``) into
    ``out``, and with ``deps`` the wheels of its dependencies (``scripts/wheels.sh``'s way)."""
    pip = [sys.executable, "-m", "pip"]
    with tempfile.TemporaryDirectory(prefix="onestop-release-src-") as tmp:
        src = source
        if src is None:
            src = Path(tmp) / "src"
            _copy_source(src, version or _current_version())
        run = subprocess.run(
            [*pip, "wheel", "--no-deps", "-q", "-w", str(out), str(src)], capture_output=True, text=True
        )
        if run.returncode != 0:
            raise ReleaseError(f"building the project's wheel failed: {run.stderr.strip()[-2000:]}")
    if not deps:
        return
    project = sorted(out.glob(f"{WHEEL_PREFIX}*.whl"))[-1]
    if platform:
        cmd = [*pip, "download", "-q", "-d", str(out), "--only-binary=:all:", "--platform", platform,
               "--python-version", os.environ.get("PYTHON_VERSION", "3.11"), str(project)]  # fmt: skip
    else:
        cmd = [*pip, "wheel", "-q", "-w", str(out), str(project)]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        raise ReleaseError(f"fetching the dependencies' wheels failed: {run.stderr.strip()[-2000:]}")


def _current_version() -> str:
    if not (ROOT / "pyproject.toml").is_file():
        raise ReleaseError(f"{ROOT} is not a source checkout: give --version, --source or --wheels")
    m = re.search(r'(?m)^version = "([^"]*)"$', (ROOT / "pyproject.toml").read_text("utf-8"))
    if not m:
        raise ReleaseError("no version in pyproject.toml")
    return m.group(1)


def build_release(
    out: Path,
    key_path: Path,
    *,
    version: str | None = None,
    wheels: Path | None = None,
    source: Path | None = None,
    deps: bool = True,
    platform: str = "",
    now: datetime | None = None,
) -> Path:
    """Build, sign and write ``out/onestop-release-{version}.tar``. ``wheels``: take the wheels of an
    existing folder (``make wheels``) instead of building them; ``deps=False``: the project's wheel
    only (the devices install it over the dependencies their environment already sees)."""
    key = load_private_key(key_path)
    if version is not None:
        parse_version(version)
    with tempfile.TemporaryDirectory(prefix="onestop-release-") as tmp:
        stage = Path(tmp)
        if wheels is not None:
            for w in sorted(wheels.glob("*.whl")):
                shutil.copy2(w, stage / w.name)
        else:
            build_wheels(stage, version=version, source=source, deps=deps, platform=platform)
        own = sorted(stage.glob(f"{WHEEL_PREFIX}*.whl"))
        if len(own) != 1:
            raise ReleaseError(f"expected one {WHEEL_PREFIX}*.whl, found {[p.name for p in own]}")
        wheel_version = own[0].name[len(WHEEL_PREFIX) :].split("-")[0]
        if version is not None and wheel_version != version:
            raise ReleaseError(f"{own[0].name} is not version {version}")
        version = wheel_version
        parse_version(version)
        files = tuple(
            FileEntry(p.name, p.stat().st_size, sha256_file(p)) for p in sorted(stage.glob("*.whl"))
        )
        created = (now or datetime.now(UTC)).isoformat(timespec="seconds")
        manifest = Manifest(DISTRIBUTION, version, created, files, complete=deps)
        raw = manifest.to_bytes()
        Manifest.parse(raw)  # what devices will check, checked before anything is signed
        out.mkdir(parents=True, exist_ok=True)
        target = out / f"onestop-release-{version}.tar"
        tmp_tar = target.with_name(f".{target.name}.tmp")
        with tarfile.open(tmp_tar, "w", format=tarfile.PAX_FORMAT) as tar:
            _add_bytes(tar, MANIFEST, raw)
            _add_bytes(tar, SIGNATURE, base64.b64encode(key.sign(raw)) + b"\n")
            for f in files:
                tar.add(stage / f.name, arcname=f"wheels/{f.name}", filter=_plain)
        os.replace(tmp_tar, target)
    return target


def _plain(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o644
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, int(datetime.now(UTC).timestamp())
    tar.addfile(info, io.BytesIO(data))


def decode_signature(text: bytes) -> bytes:
    """The raw 64-byte signature from ``manifest.sig`` (base64, one line)."""
    try:
        sig = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raise ReleaseError("the signature is not base64") from None
    if len(sig) != 64:
        raise ReleaseError("the signature is not 64 bytes (Ed25519)")
    return sig


# -- publish (on the hub machine) ----------------------------------------------------------------


def releases_dir(data_dir: Path) -> Path:
    """Where the hub keeps published releases."""
    return data_dir / RELEASES_DIR


def publish(tar_path: Path, data_dir: Path, public_key: Ed25519PublicKey) -> Manifest:
    """Check a release tarball against ``public_key`` and make it the hub's latest release: its files
    go to ``releases/{version}/``, then ``releases/latest`` names it (written last, atomically)."""
    root = releases_dir(data_dir)
    root.mkdir(mode=0o755, parents=True, exist_ok=True)
    try:
        tar = tarfile.open(tar_path, "r:*")  # noqa: SIM115 (closed by the with below)
    except (OSError, tarfile.TarError) as exc:
        raise ReleaseError(f"{tar_path}: not a release tarball ({exc})") from None
    with tar, tempfile.TemporaryDirectory(prefix=".publish-", dir=root) as tmp:
        members = {m.name: m for m in tar.getmembers()}
        raw, sig = _member_bytes(tar, members, MANIFEST), _member_bytes(tar, members, SIGNATURE)
        manifest = verify(raw, decode_signature(sig), public_key)
        stage = Path(tmp)
        for f in manifest.files:
            member = members.get(f"wheels/{f.name}")
            if member is None or not member.isfile() or member.size != f.size:
                raise ReleaseError(f"{tar_path}: wheels/{f.name} is missing or not {f.size} bytes")
            src = tar.extractfile(member)
            assert src is not None
            h = hashlib.sha256()
            with src, (stage / f.name).open("wb") as dst:
                while block := src.read(1 << 20):
                    h.update(block)
                    dst.write(block)
            if h.hexdigest() != f.sha256:
                raise ReleaseError(f"{tar_path}: wheels/{f.name} does not match its SHA-256 in the manifest")
        (stage / MANIFEST).write_bytes(raw)
        (stage / SIGNATURE).write_bytes(sig)
        for p in stage.iterdir():
            os.chmod(p, 0o644)
        os.chmod(stage, 0o755)
        final = root / manifest.version
        if final.exists():
            shutil.rmtree(final)
        os.replace(stage, final)
        stage.mkdir()  # TemporaryDirectory removes what it made
    write_public(root / LATEST, manifest.version + "\n")
    return manifest


def _member_bytes(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], name: str) -> bytes:
    m = members.get(name)
    if m is None or not m.isfile() or m.size > MAX_MANIFEST_BYTES:
        raise ReleaseError(f"the tarball has no {name} (or not a small plain file)")
    f = tar.extractfile(m)
    assert f is not None
    with f:
        return f.read()


@dataclass(frozen=True)
class Published:
    """The hub's latest release as served to devices."""

    version: str
    manifest: bytes
    signature: bytes
    folder: Path

    def as_json(self) -> dict[str, Any]:
        """What ``GET /api/releases/latest`` answers: the manifest's exact text and its signature."""
        return {
            "version": self.version,
            "manifest": self.manifest.decode("utf-8"),
            "signature": self.signature.decode("ascii").strip(),
        }


def latest(data_dir: Path) -> Published | None:
    """The published release named by ``releases/latest`` (None: nothing published)."""
    root = releases_dir(data_dir)
    try:
        version = (root / LATEST).read_text("utf-8").strip()
        parse_version(version)
        folder = root / version
        return Published(version, (folder / MANIFEST).read_bytes(), (folder / SIGNATURE).read_bytes(), folder)
    except (OSError, ReleaseError, UnicodeDecodeError):
        return None
