"""What a short question costs when its language is unsure: such a question is weighed by the words each
language knows (text/lemmas.py, `known_shares`), a look-up in every language's table of word forms.

    .venv/bin/python scripts/bench_short_questions.py --index indexes [--rounds 3] [--json out.json]

Opens the current build of `--index`, loads what the service loads before its first request
(web/serving.py, `warm_up`), then searches each question below once per round. The first round is
reported apart: a cost paid once per process shows there, one paid on every search in every round.
Prints, per question, the language it was read in, the first round's time and the median of the others.
To compare two versions of the code, run it with each on `PYTHONPATH` in turn.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from practice_finder import Settings
from practice_finder.query.handle import open_as_built
from practice_finder.query.search import SearchQuery, search
from practice_finder.web.serving import warm_up

ROOT = Path(__file__).resolve().parents[1]

# one or two words, several of them written alike in more than one region language
QUESTIONS = (
    "tulva",  # fi: flood (Estonian has the word too)
    "plūdi",  # lv: floods
    "Kuldiga",  # a Latvian town's name without its diacritic
    "bibliotek",  # sv, da, nb: library
    "kultūra",  # lt, lv: culture
    "noored lahkuvad",  # et: young people leave
    "jaunieši",  # lv: young people
    "Jugend",  # de: youth
)


def measure(index: Any, rounds: int = 3) -> dict[str, Any]:
    """Search each question `rounds` times (at least twice) on an index already warmed up; per question, the
    language it was read in, the first search's time and the median of the later ones."""
    rounds = max(rounds, 2)
    times: dict[str, list[float]] = {q: [] for q in QUESTIONS}
    read_as: dict[str, str] = {}
    for _ in range(rounds):
        for text in QUESTIONS:
            started = time.perf_counter()
            found = search(index, SearchQuery(text=text))
            times[text].append((time.perf_counter() - started) * 1000)
            read_as[text] = found.query_language
    return {
        "model": index.manifest.model.name,
        "build": index.build_id,
        "rounds": rounds,
        "questions": {
            text: {
                "read_as": read_as[text],
                "first_ms": round(kept[0], 1),
                "later_median_ms": round(statistics.median(kept[1:]), 1),
            }
            for text, kept in times.items()
        },
        "median_first_ms": round(statistics.median(t[0] for t in times.values()), 1),
        "median_later_ms": round(
            statistics.median(statistics.median(t[1:]) for t in times.values()), 1
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, default=ROOT / "indexes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    index = open_as_built(Settings(index_dir=args.index, question_vectors_kept=0))
    warm_up(index)
    result = measure(index, args.rounds)
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
