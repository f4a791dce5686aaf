"""Whether "similar practices" follow the topic or the language: for the practices not in English and the
English ones, the share of their k most similar practices that share a declared challenge with them.

    PF_INDEX_DIR=/work/idx-e5 .venv/bin/python scripts/eval_similarity.py
    .venv/bin/python scripts/eval_similarity.py --index /tmp/idx-e5 --index /tmp/idx-minilm [-k 5] [--json out.json]

Each --index (default: PF_INDEX_DIR) is a build of the demo corpus, opened with the model it was built with
and the other settings from PF_* variables. Per build and group it prints the number of practices (those
with declared challenges), the share of the k suggestions sharing a challenge with the practice ("on
topic"), that share averaged over the cut-offs 1..k, the share written in the practice's own language,
and what k suggestions drawn at random would reach (the share of all practices sharing a challenge).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from practice_finder import Settings
from practice_finder.evaluation.similarity import topic_agreement
from practice_finder.query.handle import open_as_built

GROUPS = {"other": "not English", "en": "English", "all": "all"}
COLUMNS = (
    ("on_topic", "on topic@k"),
    ("on_topic_mean_over_k", "mean 1..k"),
    ("same_language", "same lang"),
    ("chance", "at random"),
)


def measure(index_dir: Path, k: int) -> dict[str, Any]:
    index = open_as_built(Settings.from_env(index_dir=index_dir))
    try:
        return {
            "model": index.manifest.model.name,
            "build": index.build_id,
            "k": k,
            "groups": topic_agreement(index, k),
        }
    finally:
        index.close()


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        f"{'model':<24}{'practices':<14}{'n':>4}" + "".join(f"{label:>12}" for _, label in COLUMNS)
    ]
    for result in results:
        for group, name in GROUPS.items():
            figures = result["groups"][group]
            lines.append(
                f"{result['model']:<24}{name:<14}{figures['practices']:>4}"
                + "".join(f"{figures.get(key, 0.0):>12.3f}" for key, _ in COLUMNS)
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--index", type=Path, action="append", help="a build of the demo corpus (repeatable)"
    )
    parser.add_argument("-k", type=int, default=5, help="similar practices per practice")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    folders = args.index or [Path(os.environ.get("PF_INDEX_DIR", "indexes"))]
    results = [measure(folder, args.k) for folder in folders]
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
