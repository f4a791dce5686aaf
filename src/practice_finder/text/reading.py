"""Reading a free text in any language: which languages it is written in and which taxonomy terms it
mentions. Search (the question), recommendations and peers (a town's plan or description) and the
pages that show what was understood all read a text through `read_text`.

A text is cut into pieces of whole paragraphs; each piece's language is guessed on its own (a plan
that quotes an English strategy in a Latvian text is read as both), and each piece is tagged with the
labels and stems of its likely languages and with the English labels, which any text may use; a
label of two or three words is also found with its words a little apart (see text.proximity). Records'
stored tags are matched on whole labels only (build.analysis).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from practice_finder import languages
from practice_finder.text import lemmas, pipelines
from practice_finder.text.tagging import Tagger, TagHit

# Paragraphs are joined into pieces of at least this many characters before detection: what a question
# needs to be detected as from 600 characters (see languages.QUERY_SAMPLE_CHARS).
PIECE_CHARS = 200


@dataclass(frozen=True)
class Reading:
    """What a text was read as."""

    language: str  # the language of most of the text, or languages.UNDETERMINED
    languages: tuple[str, ...]  # every language the text was read in, most of the text first
    hits: tuple[TagHit, ...]  # taxonomy terms mentioned, most mentioned first

    @property
    def understood(self) -> dict[str, list[str]]:
        """The terms by vocabulary, most mentioned first."""
        out: dict[str, list[str]] = {}
        for hit in self.hits:
            out.setdefault(hit.vocabulary, []).append(hit.term)
        return out

    @property
    def main(self) -> str:
        """The language to read the words of the text in: the decided one, else the likeliest, else English."""
        if self.language != languages.UNDETERMINED:
            return self.language
        return self.languages[0] if self.languages else "en"


def read_text(
    tagger: Tagger,
    text: str,
    prior: str | None = None,
    sample: int = languages.SAMPLE_CHARS,
    question: bool = False,
) -> Reading:
    """Read `text`: the language of each piece guessed (`prior`: the language the writer most likely uses,
    such as the page's; `sample`: how many characters of a piece the detector judges), and the taxonomy
    terms of every piece found in its likely languages and in English. A `question` is read with the
    terms' everyday wordings too: in a question they name what is asked; in a long text (a plan,
    like a practice's record) more often a passing detail (docs/benchmarks.md#everyday-english-wordings)."""
    if not text.strip():
        return Reading(languages.UNDETERMINED, (), ())
    by_language: dict[str, list[str]] = {}
    decided: Counter[str] = Counter()
    likely: dict[str, float] = {}
    for piece in pieces(text):
        guess = languages.guess(piece, sample, prior, lemmas.known_shares)
        if guess.language != languages.UNDETERMINED:
            decided[guess.language] += len(piece)
        for rank, code in enumerate(guess.candidates):
            likely[code] = likely.get(code, 0.0) + len(piece) / (rank + 1)
        for code in dict.fromkeys([*guess.candidates, "en"]):
            by_language.setdefault(code, []).append(piece)
    return Reading(
        _majority(decided, len(text)),
        tuple(sorted(likely, key=lambda code: -likely[code])),
        tuple(_merge(tagger, by_language, question)),
    )


def pieces(text: str, min_chars: int = PIECE_CHARS) -> list[str]:
    """The paragraphs and list items of a text, joined in order into pieces of at least `min_chars`
    characters (the last may be shorter)."""
    out: list[str] = []
    current: list[str] = []
    for block in pipelines.blocks(text):
        current.append(block)
        if sum(len(b) for b in current) >= min_chars:
            out.append("\n".join(current))
            current = []
    if current:
        out.append("\n".join(current))
    return out


def _majority(chars: Counter[str], total: int) -> str:
    """The language of at least half the text's characters, else undetermined."""
    if chars:
        code, n = chars.most_common(1)[0]
        if 2 * n >= total:
            return code
    return languages.UNDETERMINED


def _merge(tagger: Tagger, by_language: dict[str, list[str]], everyday: bool) -> list[TagHit]:
    """The hits of every language's pieces as one list: counts added, the most frequent phrase kept."""
    counts: Counter[tuple[str, str]] = Counter()
    phrases: dict[tuple[str, str], Counter[str]] = {}
    for code, texts in by_language.items():
        for hit in tagger.tag_texts(texts, code, compounds=True, apart=True, everyday=everyday):
            key = (hit.vocabulary, hit.term)
            counts[key] += hit.count
            phrases.setdefault(key, Counter())[hit.phrase] += hit.count
    return [
        TagHit(vocab, term, phrases[(vocab, term)].most_common(1)[0][0], n)
        for (vocab, term), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
