"""The words of a language the project's glossary (src/practice_finder/glossaries/<lang>.tsv) is written for.

    .venv/bin/python scripts/glossary_words.py [--lang et] [--tatoeba ../shared/eval/tatoeba] > /tmp/words.txt

Prints one word a line, most frequent first: each word the language's analyser or word-form table
knows (text/lemmas.py: Vabamorf for Estonian, simplemma's table for Latvian; in its base form when it
has one) among the language's labels and everyday wordings in the taxonomy and its practices in the
corpus, and those found at least twice in its messages of the pages and, with --tatoeba, its Tatoeba
sentences together; less spaCy's stop words of the language, names (words written only with a
capital) and words of fewer than three letters. Neither question set of eval/ is read. With
--missing, only the words the glossary lacks.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

from practice_finder.build.dictionaries import OWN_GLOSSARIES, read_own_glossary
from practice_finder.corpus.folder import load_taxonomy
from practice_finder.evaluation.relevance import TATOEBA_CODES, load_tatoeba
from practice_finder.text import lemmas
from practice_finder.text.pipelines import pipeline

ROOT = Path(__file__).resolve().parents[1]
WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
DOMAIN = ("taxonomy", "practices")  # every word of these; of the others, those seen twice


def texts(lang: str, tatoeba: Path | None) -> dict[str, list[str]]:
    """source -> its texts in `lang`."""
    taxonomy = load_taxonomy(ROOT / "corpus/taxonomy.yaml")
    labels = [
        phrase
        for term in taxonomy.terms()
        for phrase in (*term.labels.get(lang, ()), *term.everyday_labels.get(lang, ()))
    ]
    files = sorted((ROOT / "corpus/practices").glob("*.md"))
    written = (path.read_text(encoding="utf-8") for path in files)
    practices = [text for text in written if re.search(rf"^language: {lang}$", text, re.MULTILINE)]
    catalog = ROOT / f"src/practice_finder/locale/{lang}/LC_MESSAGES/messages.po"
    messages = re.findall(r'^msgstr "(.*)"$', catalog.read_text(encoding="utf-8"), re.MULTILINE)
    out = {"taxonomy": labels, "practices": practices, "pages": messages}
    if tatoeba is not None:
        out["tatoeba"] = load_tatoeba(tatoeba, lang)[0]
    return out


def candidates(lang: str, by_source: dict[str, list[str]]) -> list[str]:
    """The words to gloss, most frequent first (see the module's description)."""
    stop_words = pipeline(lang).Defaults.stop_words
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
                if not lemmas.known(key, lang):
                    continue  # neither the analyser nor the table knows it
                base = lemmas.lemma(key, lang)
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
    parser.add_argument("--lang", default="et", choices=sorted(TATOEBA_CODES))
    parser.add_argument(
        "--tatoeba", type=Path, help="the LASER Tatoeba folder (../shared/eval/tatoeba)"
    )
    parser.add_argument("--missing", action="store_true", help="only the words the glossary lacks")
    args = parser.parse_args()
    words = candidates(args.lang, texts(args.lang, args.tatoeba))
    if args.missing:
        held = {e.word for e in read_own_glossary(OWN_GLOSSARIES / f"{args.lang}.tsv")[0]}
        words = [w for w in words if w not in held]
    print("\n".join(words))


if __name__ == "__main__":
    main()
