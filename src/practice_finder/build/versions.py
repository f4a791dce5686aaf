"""Versioned build directories under the index directory, with an atomic `CURRENT` pointer.

indexes/
  CURRENT              name of the build being served (replaced atomically)
  builds/<build-id>/   manifest.json, store.db, vectors-*.faiss
  builds/.tmp-<id>/    a build in progress; never served, removed by the next ingest
  .lock                held by a running ingest
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from practice_finder.build.manifest import FileDigest, Manifest, decode, to_data
from practice_finder.errors import IndexMismatchError, IndexMissingError, IngestLockedError

MANIFEST = "manifest.json"
POINTER = "CURRENT"


def builds_dir(index_dir: Path) -> Path:
    return index_dir / "builds"


def new_build_id() -> str:
    """Sortable and unique: UTC time to the microsecond plus the process id."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + f"-{os.getpid()}"


def current_build(index_dir: Path) -> Path | None:
    """The directory of the build being served, or None when nothing was built."""
    pointer = index_dir / POINTER
    if not pointer.exists():
        return None
    name = pointer.read_text(encoding="utf-8").strip()
    path = builds_dir(index_dir) / name
    return path if name and path.is_dir() else None


def require_current(index_dir: Path) -> Path:
    path = current_build(index_dir)
    if path is None:
        raise IndexMissingError(f"no index has been built in {index_dir}")
    return path


def read_manifest(build: Path) -> Manifest:
    """The build's manifest; IndexMismatchError when it is missing or not a manifest."""
    try:
        return decode((build / MANIFEST).read_bytes())
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise IndexMismatchError(
            f"the manifest of build {build.name} cannot be read: {exc}"
        ) from exc


def write_manifest(build: Path, manifest: Manifest) -> None:
    """Write the build's manifest durably, with the keys it is read by."""
    write_json(build / MANIFEST, to_data(manifest))


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON durably: to a temporary file, fsync, then rename over the target."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def start_build(index_dir: Path, build_id: str) -> Path:
    """A fresh temporary directory for a build in progress."""
    tmp = builds_dir(index_dir) / f".tmp-{build_id}"
    tmp.mkdir(parents=True)
    return tmp


def publish(index_dir: Path, tmp: Path, build_id: str) -> Path:
    """Move a finished build into place and make it current, atomically."""
    final = builds_dir(index_dir) / build_id
    _fsync_tree(tmp)
    os.replace(tmp, final)
    pointer_tmp = index_dir / f".{POINTER}.tmp"
    with pointer_tmp.open("w", encoding="utf-8") as fh:
        fh.write(build_id + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(pointer_tmp, index_dir / POINTER)
    _fsync_dir(index_dir)
    return final


def prune(index_dir: Path, keep: int) -> list[str]:
    """Remove all but the newest `keep` finished builds (never the current one); return removed names."""
    current = current_build(index_dir)
    finished = sorted(
        p for p in builds_dir(index_dir).iterdir() if p.is_dir() and not p.name.startswith(".")
    )
    removed = []
    for path in finished[: max(0, len(finished) - max(keep, 1))]:
        if current is None or path.name != current.name:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


def list_builds(index_dir: Path) -> list[Path]:
    folder = builds_dir(index_dir)
    return (
        sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        if folder.is_dir()
        else []
    )


def remove_stale_tmp(index_dir: Path) -> int:
    """Delete half-written builds left by an ingest that crashed or was killed (caller holds the lock)."""
    folder = builds_dir(index_dir)
    stale = [p for p in folder.glob(".tmp-*")] if folder.is_dir() else []
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return len(stale)


@contextlib.contextmanager
def ingest_lock(index_dir: Path) -> Iterator[None]:
    """Exclusive lock for one ingest at a time; released automatically if the process dies."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / ".lock").open("a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IngestLockedError(f"another ingest is running in {index_dir}") from exc
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()} {time.time():.0f}\n")
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def file_digests(folder: Path) -> dict[str, FileDigest]:
    """Size and SHA-256 of every file of a build but its manifest: the manifest records them."""
    out = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name != MANIFEST and not path.name.startswith("."):
            out[path.name] = FileDigest(bytes=path.stat().st_size, sha256=sha256_file(path))
    return out


def verify_files(build: Path, manifest: Manifest) -> None:
    """Refuse a build whose files are missing, truncated or altered since it was made (builds before the
    manifest recorded its files are taken as they are)."""
    for name, expected in (manifest.files or {}).items():
        path = build / name
        if not path.is_file():
            raise IndexMismatchError(f"build {build.name} is damaged: {name} is missing")
        size = path.stat().st_size
        if size != expected.bytes:
            raise IndexMismatchError(
                f"build {build.name} is damaged: {name} has {size} bytes, {expected.bytes} were written"
            )
        if sha256_file(path) != expected.sha256:
            raise IndexMismatchError(
                f"build {build.name} is damaged: {name} differs from what was written (checksum)"
            )


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in blocks (model files are hundreds of MB)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_tree(folder: Path) -> None:
    for path in folder.iterdir():
        if path.is_file():
            with path.open("rb") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
