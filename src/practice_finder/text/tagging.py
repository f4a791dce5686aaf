"""Tagging free text with taxonomy terms: their labels and synonyms matched on words, lemmas and stems."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from practice_finder.models import Taxonomy
from practice_finder.text.pipelines import LOCK, has_lemmas, pipeline

if TYPE_CHECKING:
    from spacy.matcher import PhraseMatcher
    from spacy.tokens import Doc


@dataclass(frozen=True)
class TagHit:
    """A taxonomy term found in a text, with the phrase that matched and how often."""

    vocabulary: str
    term: str
    phrase: str
    count: int


class Tagger:
    """Finds taxonomy terms in free text by matching their labels and synonyms (words and lemmas)."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self._matchers: dict[str, list[PhraseMatcher]] = {}
        self._terms: dict[int, tuple[str, str]] = {}  # match key -> (vocabulary, term id)

    def _build(self, lang: str) -> list[PhraseMatcher]:
        from spacy.matcher import PhraseMatcher

        nlp = pipeline(lang)
        attrs = ["LOWER", "LEMMA"] if has_lemmas(lang) else ["LOWER"]
        if "pf_stem_norms" in nlp.pipe_names:
            attrs.append("NORM")
        matchers = []
        for attr in attrs:
            matcher = PhraseMatcher(nlp.vocab, attr=attr)
            for term in self.taxonomy.terms():
                phrases = _unique(p.strip() for p in term.phrases(lang) if p.strip())
                if lang != "en":  # an English label is often used verbatim in any text
                    phrases = _unique([*phrases, term.label])
                maker = (
                    nlp.pipe
                    if attr in ("LEMMA", "NORM")
                    else lambda texts: map(nlp.make_doc, texts)
                )
                key = f"{term.vocabulary}\t{term.id}"
                self._terms[nlp.vocab.strings.add(key)] = (term.vocabulary, term.id)
                matcher.add(key, list(maker(phrases)))
            matchers.append(matcher)
        return matchers

    def matchers(self, lang: str) -> list[PhraseMatcher]:
        with LOCK:
            if lang not in self._matchers:
                self._matchers[lang] = self._build(lang)
            return self._matchers[lang]

    def tag_docs(self, docs: Iterable[Doc], lang: str) -> list[TagHit]:
        """Hits in already processed documents, one per term (its most frequent phrase kept)."""
        counts: Counter[tuple[str, str]] = Counter()
        phrases: dict[tuple[str, str], Counter[str]] = {}
        matchers = self.matchers(lang)
        with LOCK:  # matching and the string look-ups below both touch the shared vocabulary
            for doc in docs:
                spans = {(start, end, key) for m in matchers for key, start, end in m(doc)}
                for start, end, key in spans:
                    vocab, term = self._terms[key]
                    counts[(vocab, term)] += 1
                    phrases.setdefault((vocab, term), Counter())[doc[start:end].text.lower()] += 1
        return [
            TagHit(vocab, term, phrases[(vocab, term)].most_common(1)[0][0], n)
            for (vocab, term), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ]

    def tag(self, text: str, lang: str = "en") -> list[TagHit]:
        """Taxonomy terms mentioned in `text`."""
        return self.tag_texts([text], lang)

    def tag_texts(self, texts: Iterable[str], lang: str) -> list[TagHit]:
        """Taxonomy terms mentioned in any of `texts`, all written in `lang`."""
        nlp = pipeline(lang)
        # sentence boundaries do not matter for matching; the sentence recogniser is skipped
        skip = [p for p in nlp.pipe_names if p in ("senter", "sentencizer")]
        with LOCK:
            return self.tag_docs(list(nlp.pipe(texts, disable=skip)), lang)


_TAGGERS: dict[str, Tagger] = {}
_KEEP_TAGGERS = 4


def tagger_for(taxonomy: Taxonomy) -> Tagger:
    """One tagger per taxonomy in a process: its matchers take seconds to build, and every build of the same
    taxonomy (a re-index, a reload, a test's fresh index) can share them."""
    import json

    import msgspec

    key = json.dumps(msgspec.to_builtins(taxonomy), sort_keys=True, ensure_ascii=False)
    with LOCK:
        if key not in _TAGGERS:
            while len(_TAGGERS) >= _KEEP_TAGGERS:
                _TAGGERS.pop(next(iter(_TAGGERS)))
            _TAGGERS[key] = Tagger(taxonomy)
        return _TAGGERS[key]


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
