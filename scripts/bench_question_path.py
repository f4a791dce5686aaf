"""What a search costs in one process with the query encoder's ONNX Runtime threads sleeping between
their pieces of work (the service's setting), spinning only while a run lasts, or always spinning (ONNX
Runtime's default).

    .venv/bin/python scripts/bench_question_path.py --index indexes [--rounds 5] [--threads 1] [--language pl] [--json out.json]

Opens the current build of `--index` once and runs the 56 domain questions (English, and their
`--language` translations, Latvian unless said; a language with a dictionary, such as Polish, encodes
its dictionary words too) through `search` with each session, in alternating rounds so a machine slowing down
hits all alike. Prints each one's median of the per-round medians, of the whole search and of its encode
stage, and their ratios to the service's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from practice_finder import Settings
from practice_finder.build import onnx_encoder
from practice_finder.evaluation.relevance import load_domain, load_translations
from practice_finder.query.handle import open_as_built
from practice_finder.query.search import SearchQuery, search

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, default=ROOT / "indexes")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--language", default="lv", help="the translated questions beside English")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="ONNX Runtime threads, PF_THREADS (0: the library's choice; `serve --workers 2` gives 1)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    # no vectors kept between questions: every round encodes
    settings = Settings(index_dir=args.index, threads=args.threads, question_vectors_kept=0)
    index = open_as_built(settings)
    model = index.manifest.model.name
    embedder: Any = index.admission.inner
    if not isinstance(embedder, onnx_encoder.OnnxEmbedder):
        raise SystemExit("the build's questions are not encoded with ONNX Runtime")
    service = embedder.session
    path = Path(service._model_path)
    within = onnx_encoder._session(path, args.threads, spinning="within-runs")
    always = onnx_encoder._session(path, args.threads, spinning="always")
    english = list(load_domain(ROOT / "eval/domain")[0].values())
    other = args.language
    translated = list(load_translations(ROOT / "eval/domain")[other].values())
    variants = {
        "sleeping (the service)": service,
        "spinning within runs": within,
        "spinning": always,
    }
    seen: dict[str, dict[str, list[float]]] = {v: {"en": [], other: []} for v in variants}
    encoding: dict[str, dict[str, list[float]]] = {v: {"en": [], other: []} for v in variants}
    for questions in (english, translated):  # warm both sessions and caches
        for text in questions[:8]:
            search(index, SearchQuery(text=text))
    for turn in range(args.rounds):
        order = list(variants) if turn % 2 == 0 else list(reversed(variants))
        for name in order:
            embedder.session = variants[name]
            for lang, questions in (("en", english), (other, translated)):
                times, encodes = [], []
                for text in questions:
                    started = time.perf_counter()
                    found = search(index, SearchQuery(text=text))
                    times.append((time.perf_counter() - started) * 1000)
                    encodes.append(found.timings_ms["encode"])
                seen[name][lang].append(statistics.median(times))
                encoding[name][lang].append(statistics.median(encodes))
    base = next(iter(variants))
    result: dict[str, Any] = {
        "model": model,
        "build": index.build_id,
        "rounds": args.rounds,
        "threads": args.threads,
    }
    for name in variants:
        result[name] = {
            lang: {
                f"{label}median_ms": round(statistics.median(kept[name][lang]), 2)
                for label, kept in (("", seen), ("encode_", encoding))
            }
            | {
                f"{label}ratio_to_service": round(
                    statistics.median(kept[name][lang]) / statistics.median(kept[base][lang]), 2
                )
                for label, kept in (("", seen), ("encode_", encoding))
            }
            for lang in ("en", other)
        }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
