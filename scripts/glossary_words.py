"""The Estonian words the project's glossary (src/practice_finder/glossaries/et.tsv) was written for.

    .venv/bin/python scripts/glossary_words.py [--tatoeba ../shared/eval/tatoeba] > /tmp/words.txt

Prints one word a line, most frequent first: each word Vabamorf knows (in its base form when it has
one) among the Estonian labels and everyday wordings of the taxonomy and the Estonian practices of
the corpus, and those found at least twice in the Estonian messages of the pages and, with --tatoeba,
the Estonian Tatoeba sentences together; less spaCy's Estonian stop words, names (words written only
with a capital) and words of fewer than three letters. Neither question set of eval/ is read. With
--missing, only the words the glossary lacks.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

from practice_finder.build.dictionaries import OWN_GLOSSARIES, read_own_glossary
from practice_finder.corpus.folder import load_taxonomy
from practice_finder.text import lemmas
from practice_finder.text.pipelines import pipeline

ROOT = Path(__file__).resolve().parents[1]
LANG = "et"
WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
DOMAIN = ("taxonomy", "practices")  # every word of these; of the others, those seen twice


def texts(tatoeba: Path | None) -> dict[str, list[str]]:
    """source -> its Estonian texts."""
    taxonomy = load_taxonomy(ROOT / "corpus/taxonomy.yaml")
    labels = [
        phrase
        for term in taxonomy.terms()
        for phrase in (*term.labels.get(LANG, ()), *term.everyday_labels.get(LANG, ()))
    ]
    practices = [
        path.read_text(encoding="utf-8")
        for path in sorted((ROOT / "corpus/practices").glob("*.md"))
        if re.search(rf"^language: {LANG}$", path.read_text(encoding="utf-8"), re.MULTILINE)
    ]
    catalog = ROOT / f"src/practice_finder/locale/{LANG}/LC_MESSAGES/messages.po"
    messages = re.findall(r'^msgstr "(.*)"$', catalog.read_text(encoding="utf-8"), re.MULTILINE)
    out = {"taxonomy": labels, "practices": practices, "pages": messages}
    if tatoeba is not None:
        out["tatoeba"] = (tatoeba / "tatoeba.est-eng.est").read_text(encoding="utf-8").splitlines()
    return out


def candidates(by_source: dict[str, list[str]]) -> list[str]:
    """The words to gloss, most frequent first (see the module's description)."""
    stop_words = pipeline(LANG).Defaults.stop_words
    seen: Counter[str] = Counter()
    sources: dict[str, set[str]] = {}
    capitalised: Counter[str] = Counter()
    lower: Counter[str] = Counter()
    for source, found in by_source.items():
        for text in found:
            for match in WORD.finditer(text):
                word = match.group(0)
                (capitalised if word[0].isupper() else lower)[word.lower()] += 1
                key = word.lower()
                if key in stop_words or len(key) < 3:
                    continue
                bases = lemmas.forms(key, LANG).lemmas
                if not bases:
                    continue  # Vabamorf does not know it
                base = bases[0] if len(bases) == 1 else key
                seen[base] += 1
                sources.setdefault(base, set()).add(source)
    names = {w for w in capitalised if not lower[w]}
    return [
        word
        for word, n in seen.most_common()
        if word not in stop_words and word not in names and (sources[word] & set(DOMAIN) or n >= 2)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tatoeba", type=Path, help="the LASER Tatoeba folder (../shared/eval/tatoeba)"
    )
    parser.add_argument("--missing", action="store_true", help="only the words the glossary lacks")
    args = parser.parse_args()
    words = candidates(texts(args.tatoeba))
    if args.missing:
        held = {e.word for e in read_own_glossary(OWN_GLOSSARIES / f"{LANG}.tsv")[0]}
        words = [w for w in words if w not in held]
    print("\n".join(words))


if __name__ == "__main__":
    main()
