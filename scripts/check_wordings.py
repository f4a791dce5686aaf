"""Terms a taxonomy reads in everyday sentences that their English translations do not mention.

    .venv/bin/python scripts/check_wordings.py --tatoeba ../shared/eval/tatoeba [--taxonomy corpus/taxonomy.yaml] [--lang lv ...] [--everyday-only]

Each Tatoeba sentence of a region language is read as a search's question is (compound parts, labels
read apart, the everyday wordings), and so is its English translation. A term read in the sentence but
not in its translation is a false reading when the sentence is about something else: Tatoeba's
sentences are ordinary speech ("I need new shoes"), so a phrase whose stem is shared by a common word
of another meaning shows up here ("brauche", I need, read as the customs "Bräuche"). Some are not
false: the English lists may lack a word the other language has. The output names the phrase read and
a sentence for each, the most frequent first, for a person to judge.

With `--everyday-only` only the terms the everyday wordings add are listed (a term the labels already
read in the sentence is left out).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from practice_finder.corpus.folder import load_taxonomy
from practice_finder.evaluation.relevance import TATOEBA_CODES, load_tatoeba
from practice_finder.text.tagging import Tagger


def _terms(tagger: Tagger, text: str, lang: str, everyday: bool = True) -> dict[str, str]:
    hits = tagger.tag_texts([text], lang, compounds=True, apart=True, everyday=everyday)
    return {f"{hit.vocabulary}/{hit.term}": hit.phrase for hit in hits}


def false_readings(
    tagger: Tagger, lang: str, sentences: list[str], english: list[str], everyday_only: bool
) -> tuple[Counter[tuple[str, str]], dict[tuple[str, str], str]]:
    """(term, phrase) read in a sentence but not in its translation: how often, and one example."""
    counts: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], str] = {}
    for sentence, translation in zip(sentences, english, strict=True):
        read_in_english = _terms(tagger, translation, "en")
        without = _terms(tagger, sentence, lang, everyday=False) if everyday_only else {}
        for term, phrase in _terms(tagger, sentence, lang).items():
            if term in read_in_english or term in without:
                continue
            counts[(term, phrase)] += 1
            examples.setdefault((term, phrase), f"{sentence} | {translation}")
    return counts, examples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tatoeba", type=Path, required=True, help="e.g. ../shared/eval/tatoeba")
    parser.add_argument("--taxonomy", type=Path, default=Path("corpus/taxonomy.yaml"))
    parser.add_argument(
        "--lang",
        action="append",
        choices=sorted(TATOEBA_CODES),
        help="default: every language with a test set",
    )
    parser.add_argument("--everyday-only", action="store_true")
    parser.add_argument("--top", type=int, default=30, help="readings listed per language")
    args = parser.parse_args()
    tagger = Tagger(load_taxonomy(args.taxonomy))
    for lang in args.lang or sorted(TATOEBA_CODES):
        sentences, english = load_tatoeba(args.tatoeba, lang)
        counts, examples = false_readings(tagger, lang, sentences, english, args.everyday_only)
        print(f"{lang}: {sum(counts.values())} readings the English translation lacks")
        for (term, phrase), n in counts.most_common(args.top):
            print(f"  {n:3d}  {term} ({phrase})  {examples[(term, phrase)][:110]}")


if __name__ == "__main__":
    main()
