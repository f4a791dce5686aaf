"""Multi-word labels found with their words apart: a free text says "a closed village school" for the
label "closed school", or "Jaunieši pēc skolas aizbrauc" (young people leave after school) for the
label "jaunieši aizbrauc". A label of two or three content words also matches where each of its words occurs, by its
form, lemma or stem (the attributes the phrase matcher uses), in one sentence and in the label's
order, with at most MAX_GAP other tokens among them. One other order counts: the label's first word
after its others, next to them or with only stop words between, as a modifier said as a predicate
("the high street is dying" for "dying high street", "veikali ir tukši" for "tukši veikali") or a
subject after its verb ("aizbrauc jaunieši" for "jaunieši aizbrauc", young people leave).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from functools import partial
from itertools import product
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spacy.tokens import Doc, Token

# Other tokens, in all, among the words of a label. Measured on the test plans and the 560 domain
# questions in ten languages: a gap of 3 or 4 added only wrong terms ("voneinander entfernt auf und
# lernen" is no peer learning), and any order mostly wrong ones ("a town where young and old" is no
# old town).
MAX_GAP = 2
LABEL_WORDS = range(2, 4)  # labels of this many content words are matched apart
SENTENCE_ENDS = frozenset(".!?;:…")

Form = tuple[str, str]  # (attribute, value)
Span = tuple[int, int, int]  # (match key, start, end), as a spaCy matcher gives
Window = tuple[int, int]  # the first and the last token of a match


class ProximityMatcher:
    """Finds the labels added to it with their content words near each other in one sentence."""

    def __init__(self, attrs: Iterable[str]) -> None:
        self.attrs = tuple(attrs)
        self._labels: list[tuple[int, int]] = []  # (match key, number of content words)
        self._words: dict[Form, list[tuple[int, int]]] = {}  # form -> (label, word) pairs

    def add(self, key: int, phrase: Doc) -> None:
        """Add a label (processed by the same pipeline as the texts) when it is 2-3 content words: a label
        that needs its small words ("nothing to do for young people") is matched whole only."""
        words = [token for token in phrase if not token.is_punct]
        if len(words) not in LABEL_WORDS or not all(map(_is_content, words)):
            return
        label = len(self._labels)
        self._labels.append((key, len(words)))
        for index, token in enumerate(words):
            for form in self._forms(token):
                self._words.setdefault(form, []).append((label, index))

    def __call__(self, doc: Doc) -> list[Span]:
        return [
            span for start, end in _sentences(doc) for span in self._in_sentence(doc, start, end)
        ]

    def _forms(self, token: Token) -> set[Form]:
        forms = {("LOWER", token.lower_)}
        if "LEMMA" in self.attrs and token.lemma_:
            forms.add(("LEMMA", token.lemma_))
        if "NORM" in self.attrs:
            forms.add(("NORM", token.norm_))
        return forms

    def _in_sentence(self, doc: Doc, start: int, end: int) -> Iterator[Span]:
        seen: dict[int, dict[int, set[int]]] = {}  # label -> word -> positions
        for i in range(start, end):
            if _is_content(doc[i]):
                for form in self._forms(doc[i]):
                    for label, word in self._words.get(form, ()):
                        seen.setdefault(label, {}).setdefault(word, set()).add(i)
        for label, positions in seen.items():
            key, size = self._labels[label]
            if len(positions) < size:
                continue
            ordered = [sorted(positions[w]) for w in range(size)]
            windows = _windows(ordered)
            for first, last in windows:
                yield key, first, last + 1
            moved = [*ordered[1:], ordered[0]]
            for first, last in _windows(moved, partial(_other_way_round, doc, windows)):
                yield key, first, last + 1


def _windows(
    positions: list[list[int]], accept: Callable[[tuple[int, ...]], bool] | None = None
) -> list[Window]:
    """Non-overlapping (first, last) positions that hold one token per word, in the order given, with
    at most MAX_GAP other tokens among them (with `accept`: only the choices of positions it accepts)."""
    found = sorted(
        {
            (min(chosen), max(chosen))
            for chosen in product(*positions)
            if all(a < b for a, b in zip(chosen, chosen[1:], strict=False))
            and chosen[-1] - chosen[0] + 1 - len(chosen) <= MAX_GAP
            and (accept is None or accept(chosen))
        },
        key=lambda window: (window[1], window[0]),
    )
    kept: list[tuple[int, int]] = []
    for first, last in found:
        if not kept or first > kept[-1][1]:
            kept.append((first, last))
    return kept


def _other_way_round(doc: Doc, in_order: list[Window], chosen: tuple[int, ...]) -> bool:
    """Whether positions chosen for a label's words, its first word moved last, count: only stop words
    stand between the moved word and the word before it ("is", "ir", "jest": whatever the language's
    stop words hold; Swedish "är" and Lithuanian "yra" are not among them, so there the two must be
    next to each other), and no window of the label's own order overlaps them. With a content word
    between, the words are mostly two phrases."""
    before, moved = chosen[-2], chosen[-1]
    return all(doc[i].is_stop for i in range(before + 1, moved)) and not any(
        chosen[0] <= last and first <= moved for first, last in in_order
    )


def _sentences(doc: Doc) -> Iterator[tuple[int, int]]:
    """(start, end) of the sentences of a document: cut after sentence punctuation and at line breaks
    (the pipelines' sentence recognisers are not run for tagging)."""
    start = 0
    for token in doc:
        if token.text in SENTENCE_ENDS or (token.is_space and "\n" in token.text):
            if token.i > start:
                yield start, token.i
            start = token.i + 1
    if start < len(doc):
        yield start, len(doc)


def _is_content(token: Token) -> bool:
    return not (token.is_stop or token.is_punct or token.is_space) and any(
        ch.isalpha() for ch in token.text
    )


def outside(
    spans: Iterable[Span], exact: Iterable[Span], same: Callable[[int], Hashable]
) -> list[Span]:
    """The spans that overlap no exactly matched span of the same label (those are counted once);
    `same` maps a match key to what counts as the same label (for the tagger, the term, whichever of
    its phrases matched)."""
    taken: dict[Hashable, list[tuple[int, int]]] = {}
    for key, start, end in exact:
        taken.setdefault(same(key), []).append((start, end))
    return [
        (key, start, end)
        for key, start, end in spans
        if not any(start < e and s < end for s, e in taken.get(same(key), ()))
    ]
