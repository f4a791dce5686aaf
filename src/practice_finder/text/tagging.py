"""Tagging free text with taxonomy terms: their labels and synonyms matched on words, lemmas and stems."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from practice_finder.models import Taxonomy, Term
from practice_finder.text import lemmas
from practice_finder.text.pipelines import LOCK, has_lemmas, pipeline
from practice_finder.text.proximity import ProximityMatcher, outside
from practice_finder.text.stemming import stem

if TYPE_CHECKING:
    from spacy.matcher import PhraseMatcher
    from spacy.tokens import Doc


PIPED = ("LEMMA", "NORM")  # match attributes read from a phrase run through the pipeline


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
        self._near: dict[str, ProximityMatcher] = {}
        self._terms: dict[int, tuple[str, str]] = {}  # match key -> (vocabulary, term id)
        # the match keys of the terms' everyday wordings (Term.everyday_phrases)
        self._everyday: set[int] = set()
        self._label_words: dict[str, dict[str, tuple[str, str]]] = {}
        self._vocabulary: dict[str, frozenset[str]] = {}

    def _build(self, lang: str) -> list[PhraseMatcher]:
        from spacy.matcher import PhraseMatcher

        nlp = pipeline(lang)
        attrs = ["LOWER", "LEMMA"] if has_lemmas(lang) else ["LOWER"]
        if "pf_stem_norms" in nlp.pipe_names:
            attrs.append("NORM")
        matchers = {attr: PhraseMatcher(nlp.vocab, attr=attr) for attr in attrs}
        near = self._near[lang] = ProximityMatcher(attrs)

        def docs(texts: list[str], piped: bool) -> list[Doc]:
            return list(nlp.pipe(texts)) if piped else [nlp.make_doc(text) for text in texts]

        for term in self.taxonomy.terms():
            phrases = _unique(p.strip() for p in term.phrases(lang) if p.strip())
            everyday = _unique(p.strip() for p in term.everyday_phrases(lang) if p.strip())
            key = f"{term.vocabulary}\t{term.id}"
            self._terms[nlp.vocab.strings.add(key)] = (term.vocabulary, term.id)
            everyday_key = f"{key}\teveryday"
            if everyday:
                matched = nlp.vocab.strings.add(everyday_key)
                self._everyday.add(matched)
                self._terms[matched] = (term.vocabulary, term.id)
            # each phrase made into a document once for the attributes that need the pipeline (LEMMA,
            # NORM) and once for those that do not (LOWER)
            made = {
                piped: (docs(phrases, piped), docs(everyday, piped))
                for piped in {attr in PIPED for attr in attrs}
            }
            for attr in attrs:
                phrase_docs, everyday_docs = made[attr in PIPED]
                verbatim = docs(_verbatim_english(term, phrases, lang, attr), False)
                matchers[attr].add(key, [*phrase_docs, *verbatim])
                if everyday_docs:
                    matchers[attr].add(everyday_key, everyday_docs)
            phrase_docs, everyday_docs = made[attrs[-1] in PIPED]  # these carry every attribute
            for doc in phrase_docs:
                near.add(nlp.vocab.strings[key], doc)
            for doc in everyday_docs:
                near.add(nlp.vocab.strings[everyday_key], doc)
        return list(matchers.values())

    def matchers(self, lang: str) -> list[PhraseMatcher]:
        with LOCK:
            if lang not in self._matchers:
                self._matchers[lang] = self._build(lang)
            return self._matchers[lang]

    def tag_docs(
        self, docs: Iterable[Doc], lang: str, apart: bool = False, everyday: bool = False
    ) -> list[TagHit]:
        """Hits in already processed documents, one per term (its most frequent phrase kept); with `apart`,
        also the labels of 2-3 words whose words are near each other in a sentence (see proximity); with
        `everyday`, also the terms' everyday wordings in `lang` (for a search's question)."""
        counts: Counter[tuple[str, str]] = Counter()
        phrases: dict[tuple[str, str], Counter[str]] = {}
        matchers = self.matchers(lang)
        with LOCK:  # matching and the string look-ups below both touch the shared vocabulary
            for doc in docs:
                spans = {(key, start, end) for m in matchers for key, start, end in m(doc)}
                if apart:
                    spans.update(outside(self._near[lang](doc), spans, self._terms.__getitem__))
                if not everyday:
                    spans = {span for span in spans if span[0] not in self._everyday}
                for key, start, end in spans:
                    vocab, term = self._terms[key]
                    counts[(vocab, term)] += 1
                    phrases.setdefault((vocab, term), Counter())[doc[start:end].text.lower()] += 1
        return [
            TagHit(vocab, term, phrases[(vocab, term)].most_common(1)[0][0], n)
            for (vocab, term), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ]

    def tag(self, text: str, lang: str) -> list[TagHit]:
        """Taxonomy terms mentioned in `text`."""
        return self.tag_texts([text], lang)

    def tag_texts(
        self,
        texts: Iterable[str],
        lang: str,
        compounds: bool = False,
        apart: bool = False,
        everyday: bool = False,
    ) -> list[TagHit]:
        """Taxonomy terms mentioned in any of `texts`, all written in `lang`; with `compounds`, also those
        that are a part of a compound word (see tag_compounds); with `apart`, also the labels whose words
        are apart, and with `everyday` the everyday wordings (see tag_docs)."""
        texts = list(texts)
        with LOCK:  # re-entrant: the steps below take it too
            docs = self._docs(texts, lang)
            hits = self.tag_docs(docs, lang, apart, everyday)
            if not compounds:
                return hits
            hits = _joined(hits, self.tag_compounds(docs, lang))
            return _joined(hits, self.tag_phrase_heads(texts, lang, hits, apart, everyday))

    def _docs(self, texts: list[str], lang: str) -> list[Doc]:
        nlp = pipeline(lang)
        # sentence boundaries do not matter for matching; the sentence recogniser is skipped
        skip = [p for p in nlp.pipe_names if p in ("senter", "sentencizer")]
        with LOCK:
            return list(nlp.pipe(texts, disable=skip))

    def tag_phrase_heads(
        self,
        texts: list[str],
        lang: str,
        found: list[TagHit],
        apart: bool = False,
        everyday: bool = False,
    ) -> list[TagHit]:
        """Terms of a label of several words whose last word is the head of a compound in the text, in
        the languages that write compounds as one word: "suletud külakooli" (a closed village school)
        holds "suletud kool", "paberivabriku sulgemine" holds "vabriku sulgemine". The texts are matched
        again with each compound written as its head; only labels of more than one word count there,
        and only terms not `found` already (`apart`, `everyday`: as for tag_docs)."""
        words = self.label_words(lang)
        if not words:
            return []
        headed = [t for t in (_as_heads(text, lang, words) for text in texts) if t is not None]
        if not headed:
            return []
        more = self.tag_docs(self._docs(headed, lang), lang, apart, everyday)
        known = {(hit.vocabulary, hit.term) for hit in found}
        return [h for h in more if " " in h.phrase and (h.vocabulary, h.term) not in known]

    def tag_compounds(self, docs: Iterable[Doc], lang: str) -> list[TagHit]:
        """Terms whose one-word label is the first or the last part of a compound word, in the languages
        that write compounds as one word: "ungdomsteatern" is a theatre, "Hafenviertel" lies at a
        harbour, "suvefestivali" is a festival. Both parts have at least COMPOUND_PART letters."""
        words = self.label_words(lang)
        if not words:
            return []
        counts: Counter[tuple[str, str]] = Counter()
        phrases: dict[tuple[str, str], str] = {}
        for doc in docs:
            for token in doc:
                found = _compound_part(token.lower_, lang, words)
                if found is not None:
                    counts[found] += 1
                    phrases.setdefault(found, token.lower_)
        return [TagHit(v, t, phrases[(v, t)], n) for (v, t), n in counts.items()]

    def vocabulary(self, lang: str) -> frozenset[str]:
        """Every word of the taxonomy's labels and synonyms in the language, lowercased ("jauniešu",
        "aizplūšana"): words a question about the programme's topics is likely to hold."""
        with LOCK:
            if lang not in self._vocabulary:
                self._vocabulary[lang] = frozenset(
                    word
                    for term in self.taxonomy.terms()
                    for phrase in term.phrases(lang)
                    for word in lemmas.WORD.findall(phrase.lower())
                )
            return self._vocabulary[lang]

    def label_words(self, lang: str) -> dict[str, tuple[str, str]]:
        """The one-word labels of a compounding language and their stems, each with its term (a stem shorter
        than COMPOUND_PART is left out: "Eltern" stems to "elt", which ends "entwickelte")."""
        if lang not in COMPOUNDING:
            return {}
        with LOCK:
            if lang not in self._label_words:
                words: dict[str, tuple[str, str]] = {}
                for term in self.taxonomy.terms():
                    for phrase in term.phrases(lang):
                        word = phrase.strip().lower()
                        if word.isalpha() and len(word) >= COMPOUND_PART:
                            words.setdefault(word, (term.vocabulary, term.id))
                            stemmed = stem(word, lang)
                            if len(stemmed) >= COMPOUND_PART:
                                words.setdefault(stemmed, (term.vocabulary, term.id))
                self._label_words[lang] = words
            return self._label_words[lang]


# Languages that write a compound as one word, and the fewest letters of a part of one worth matching.
COMPOUNDING = frozenset({"sv", "fi", "et", "de", "da", "nb"})
COMPOUND_PART = 4
# Languages whose analyser has the last word on what is a compound (lemmas.compound): Estonian's
# (Vabamorf). Finnish's (Voikko) moved its figures by -0.002 to +0.001 and is not asked
# (docs/benchmarks.md#estonian-words-read-by-vabamorf).
ANALYSED_COMPOUNDS = frozenset({"et"})


def _compound_part(
    word: str, lang: str, labels: dict[str, tuple[str, str]]
) -> tuple[str, str] | None:
    """The term of the longest label that ends the word (its head, maybe inflected: "teatern") or else
    begins it ("havn" in "havnekvarteret"), when the word is a compound: no label itself."""
    if not _maybe_compound(word, lang, labels):
        return None
    at = _head_at(word, lang, labels)
    if at is not None:
        return labels.get(word[at:]) or labels[stem(word[at:], lang)]
    for i in reversed(range(COMPOUND_PART, len(word) - COMPOUND_PART + 1)):
        found = labels.get(word[:i])
        if found:
            return found
    return None


def _maybe_compound(word: str, lang: str, labels: dict[str, tuple[str, str]]) -> bool:
    """Whether a word is long enough for two parts, is no label itself, and is not known to the language's
    analyser as a single word ("päriselt", really, ends in "selt", society, but is no compound of it)."""
    too_short = len(word) < 2 * COMPOUND_PART or not word.isalpha()
    if too_short or word in labels or stem(word, lang) in labels:
        return False
    return lang not in ANALYSED_COMPOUNDS or lemmas.compound(word, lang) is not False


def _head_at(word: str, lang: str, labels: dict[str, tuple[str, str]]) -> int | None:
    """Where the longest label ending the word (lower case, maybe a compound) begins, if one does."""
    for i in range(COMPOUND_PART, len(word) - COMPOUND_PART + 1):
        head = word[i:]
        if head in labels or stem(head, lang) in labels:
            return i
    return None


_WORD = re.compile(r"\w+")


def _as_heads(text: str, lang: str, labels: dict[str, tuple[str, str]]) -> str | None:
    """The text with each compound whose head is a label written as that head, as it is inflected there
    ("külakooli": "kooli"); None when it has no such compound."""
    changed = False

    def head(match: re.Match[str]) -> str:
        nonlocal changed
        word = match.group(0)
        lower = word.lower()
        at = _head_at(lower, lang, labels) if _maybe_compound(lower, lang, labels) else None
        if at is None:
            return word
        changed = True
        return lower[at:]

    out = _WORD.sub(head, text)
    return out if changed else None


def _joined(hits: list[TagHit], more: list[TagHit]) -> list[TagHit]:
    """Two lists of hits as one, counts added (the first list's phrase kept), most mentioned first."""
    merged = {(h.vocabulary, h.term): h for h in hits}
    for hit in more:
        key = (hit.vocabulary, hit.term)
        if key in merged:
            old = merged[key]
            merged[key] = TagHit(old.vocabulary, old.term, old.phrase, old.count + hit.count)
        else:
            merged[key] = hit
    return sorted(merged.values(), key=lambda h: (-h.count, h.vocabulary, h.term))


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


def _verbatim_english(term: Term, phrases: list[str], lang: str, attr: str) -> list[str]:
    """The term's English label as a phrase of a text in another language: officers often write it as it
    is ("Older people"), so it is matched as written, never by the language's own lemmas or stems (the
    Swedish stem of "river" is that of "riva", to demolish)."""
    if lang == "en" or attr != "LOWER" or term.label.lower() in {p.lower() for p in phrases}:
        return []
    return [term.label]


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
