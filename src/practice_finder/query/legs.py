"""The retrieval legs of a search, each a ranked list of practice ids: dense (FAISS over record and
passage vectors), lexical (FTS5 BM25) and taxonomy (the terms a question mentions); and the words a
question in another language borrows from English text (the taxonomy's labels, feedback)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from practice_finder.build import vectors
from practice_finder.errors import NotFoundError
from practice_finder.query import fusion
from practice_finder.query.filters import practice_rowids
from practice_finder.query.fusion import Scored
from practice_finder.query.handle import Index, record_vector
from practice_finder.text import lemmas, pipelines, tagging
from practice_finder.text.stemming import stem

PASSAGES_PER_RECORD = (
    12  # dense depth in passages = candidates x this, to reach enough distinct records
)


DENSE_SCORING = ("max", "record", "passages", "fused")


PassageHits = tuple[np.ndarray, np.ndarray]  # FAISS ids and similarities, best first


def passage_hits(
    index: Index, qvec: np.ndarray, depth: int, allowed: list[int] | None = None
) -> PassageHits:
    """The vectors (whole records and passages) nearest the question: enough of them to reach `depth`
    practices."""
    return vectors.search_arrays(
        index.vectors["practice"], qvec, depth * PASSAGES_PER_RECORD, allowed
    )


def dense_leg(
    index: Index,
    qvec: np.ndarray,
    depth: int,
    allowed: list[int] | None,
    scoring: str = "max",
    hits: PassageHits | None = None,
) -> Scored:
    """Practices ranked by their best-matching vectors, relative to the other candidates in their language,
    with that relative similarity (for "fused", the fused score).

    scoring: "max" pools the whole-record vector and the passage vectors (the best and the next, see
    pooled_per_practice); "record" and "passages" take the best vector of one kind only; "fused" fuses
    those two rankings by rank (kept for tuning; see docs/benchmarks.md#hybrid-settings). `hits`: the
    search's passage_hits for these `depth` and `allowed`, when they are known already ("max" only).
    """
    if scoring == "fused":
        ranked = {
            kind: ids(dense_leg(index, qvec, depth, allowed, kind))
            for kind in ("record", "passages")
        }
        return fusion.reciprocal_rank_fusion(ranked)[:depth]
    if scoring != "max":
        whole = index.whole_record_passages
        pool = allowed if allowed is not None else list(index.practice_of_passage)
        allowed = [p for p in pool if (p in whole) == (scoring == "record")]
    found = (
        hits if hits is not None and scoring == "max" else passage_hits(index, qvec, depth, allowed)
    )
    if scoring == "max":
        positions, similarity = pooled_per_practice(*index.passage_owners(*found), depth)
    else:
        positions, similarity = index.best_per_practice(*found, depth)
    relative = language_calibrated(index.practice_language_codes[positions], similarity)
    order = np.argsort(-relative, kind="stable")  # ties keep the dense order
    names = index.practice_ids
    return [(names[i], float(relative[j])) for i, j in zip(positions[order], order, strict=True)]


def ids(scored: Scored) -> list[str]:
    """The ids of a scored list, best first."""
    return [rid for rid, _ in scored]


# A practice's evidence: its best vector, plus POOL_WEIGHT times the mean similarity of its next
# POOLED_VECTORS - 1 vectors. A practice that answers the question in more than one passage beats one
# with a single passage that happens to come close (docs/benchmarks.md#passage-pooling).
POOLED_VECTORS = 2
POOL_WEIGHT = 0.5


def pooled_per_practice(
    owner: np.ndarray, similarity: np.ndarray, depth: int
) -> tuple[np.ndarray, np.ndarray]:
    """From passage hits (best first: the practice position each belongs to and its similarity), the
    `depth` best practices by pooled similarity (see POOL_WEIGHT), best first, with that similarity.

    A vector of the practice that is not among the hits is below all of them: it counts as the lowest
    similarity found."""
    if not len(owner):
        return owner, similarity.astype(np.float64)
    similarity = similarity.astype(np.float64)
    order = np.lexsort((-similarity, owner))  # by practice, then best first within it
    owner, similarity = owner[order], similarity[order]
    practices, starts, counts = np.unique(owner, return_index=True, return_counts=True)
    rank = np.arange(len(owner)) - np.repeat(starts, counts)  # 0 = the practice's best vector
    best = similarity[starts]
    nearby = (rank > 0) & (rank < POOLED_VECTORS)
    found = np.bincount(
        np.searchsorted(practices, owner[nearby]), similarity[nearby], len(practices)
    )
    missing = (POOLED_VECTORS - 1) - np.minimum(counts - 1, POOLED_VECTORS - 1)
    rest = (found + missing * similarity.min()) / (POOLED_VECTORS - 1)
    pooled = best + POOL_WEIGHT * rest
    keep = np.argsort(-pooled, kind="stable")[:depth]
    return practices[keep], pooled[keep]


MIN_LANGUAGE_GROUP = 3  # candidates of one language needed to estimate its own offset


def language_calibrated(language: np.ndarray, similarity: np.ndarray) -> np.ndarray:
    """Each candidate's similarity (`similarity`, best first, and each candidate's `language` code) taken
    relative to the median similarity of the candidates written in its language.

    A multilingual model scores a text in the question's own language higher than an equally relevant
    text in another language (the Finnish practice about wolves scores 0.77 for "wolves and conflict
    between villagers", its English summary 0.92). Comparing each practice with its own language's
    candidates removes that bias: on the translated domain questions the dense leg gains 0.09 nDCG@10
    and the English questions gain too (docs/benchmarks.md#what-each-part-brings). With one language
    only, the similarities stay as they are.
    A language with fewer than MIN_LANGUAGE_GROUP candidates is compared with the median of all.
    """
    similarity = similarity.astype(np.float64)
    codes, group = np.unique(language, return_inverse=True)
    if len(codes) < 2:
        return similarity
    sizes = np.bincount(group)
    offset = np.where(
        sizes >= MIN_LANGUAGE_GROUP, group_medians(similarity, group, sizes), np.median(similarity)
    )
    return similarity - offset[group]


def group_medians(values: np.ndarray, group: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The median of `values` within each group (what np.median gives; one sort for all groups, none empty)."""
    ordered = values[np.lexsort((values, group))]
    starts = np.cumsum(sizes) - sizes
    return (ordered[starts + (sizes - 1) // 2] + ordered[starts + sizes // 2]) / 2


def fts_query(words: Sequence[str], stems: Sequence[str] = ()) -> str:
    """An FTS5 query matching any of the words in any column, or any of the stems in the `stems` column
    (each term quoted, so no word is read as an operator)."""

    def any_of(terms: Sequence[str]) -> str:
        return " OR ".join(_quoted(terms))

    return f"({any_of(words)}) OR stems : ({any_of(stems)})" if stems else any_of(words)


def fts_phrases(words: Sequence[str], stems: Sequence[str] = ()) -> list[str]:
    """The phrases of fts_query(words, stems) as queries of their own, in the order it writes them (the
    order FTS5 adds their BM25 scores in, see query.postings)."""
    return [*_quoted(words), *(f"stems : ({p})" for p in _quoted(stems))]


def _quoted(terms: Sequence[str]) -> list[str]:
    """Each term once, quoted as an FTS5 phrase."""
    return ['"' + t.replace('"', '""') + '"' for t in dict.fromkeys(searchable(terms))]


def searchable(terms: Sequence[str]) -> list[str]:
    """Terms FTS5 can take: without NUL (it ends a quoted string there), none left empty."""
    return [c for c in (t.replace("\x00", "") for t in terms) if c.strip()]


# A question that is not in English mostly looks for practices written in English, which its own words
# rarely match: its lexical leg counts for less (measured on the translated domain set, docs/benchmarks.md#what-each-part-brings).
# The tags leg (tags_leg) counts for half the dense leg: the same encoder, on a text that says less.
TAGS_LEG_SHARE = 0.5
LEG_WEIGHTS_OTHER_LANGUAGE = {"dense": 1.0, "lexical": 0.5, "taxonomy": 1.0, "tags": TAGS_LEG_SHARE}
# A question in a language no dictionary of the build glosses (Latvian; Estonian in a build without the
# project's glossary; every language but English in a build without any dictionary)
# reaches the English practices' words only through its taxonomy terms and the feedback words, and these
# are the languages the multilingual model reads least well; the taxonomy leg, whose labels are written
# in every language, counts for more (docs/benchmarks.md#the-taxonomy-leg-of-a-question-no-dictionary-glosses).
TAXONOMY_WEIGHT_UNGLOSSED = 1.5


def language_weights(lang: str, glossed: bool = True) -> dict[str, float]:
    """The legs' weights for a question in `lang` (LEG_WEIGHTS_OTHER_LANGUAGE unless it is English), its
    taxonomy leg weighed TAXONOMY_WEIGHT_UNGLOSSED when no dictionary of the build glosses its language
    (`glossed` False)."""
    if lang == "en":
        return {}
    if glossed:
        return LEG_WEIGHTS_OTHER_LANGUAGE
    return {**LEG_WEIGHTS_OTHER_LANGUAGE, "taxonomy": TAXONOMY_WEIGHT_UNGLOSSED}


def score_weights(
    scored: Mapping[str, Scored], reads_question: bool, lang: str, glossed: bool = True
) -> dict[str, float]:
    """The weight of each leg when the legs are fused by their scaled scores (fusion.score_fusion).

    The lexical and taxonomy legs both read the question's words; the dense leg reads its meaning. When
    the model was trained on the question's language (`reads_question`), the dense leg counts as much as
    the word legs that found something, together: twice a word leg's weight when both did, as much as the
    lexical leg alone when the question names no taxonomy term (as on SciFact). An English model's vector
    of a question in another language counts as one leg. A question not in English weighs its lexical
    leg less (LEG_WEIGHTS_OTHER_LANGUAGE), and its taxonomy leg more when no dictionary glosses its
    language (`glossed`; language_weights). Measured: docs/benchmarks.md#fused-by-scores."""
    other = language_weights(lang, glossed)
    weights = {leg: other.get(leg, 1.0) for leg in scored}
    if "dense" in weights and reads_question:
        words = sum(1 for leg, found in scored.items() if leg in WORD_LEGS and found)
        weights["dense"] *= max(1, words)
    if "tags" in weights:
        weights["tags"] = TAGS_LEG_SHARE * weights.get("dense", 1.0)
    return weights


WORD_LEGS = ("lexical", "taxonomy")  # the legs that read the question's words


# The taxonomy leg's sums of tag weights are scaled from 0, so that a practice carrying half the weight of
# the question's terms gets half; the dense and lexical legs are scaled from their lowest candidate.
SCORE_FLOORS = {"taxonomy": 0.0}


def english_words(index: Index, understood: dict[str, list[str]]) -> list[str]:
    """The English label and synonyms of every taxonomy term a question mentions, as words: the taxonomy
    as a small dictionary that lets a question in any language search English text by words too."""
    phrases = [
        p
        for vocab, terms in understood.items()
        for t in terms
        for p in index.taxonomy.term(vocab, t).phrases("en")
    ]
    return pipelines.content_words(" ; ".join(phrases), "en") if phrases else []


# The dictionaries a question's language is glossed with, in order. Written Norwegian (Bokmål) grew out of
# written Danish and shares most of its words: each reads its own dictionary, then the other's (Norwegian's
# is FreeDict's English-Norwegian one, turned round; both are small). Swedish, further apart, reads only its
# own (adding it to the other two lowered all three: docs/benchmarks.md#dictionaries). No FreeDict
# dictionary exists for Estonian or Latvian; Estonian reads the project's own glossary
# (build/dictionaries.OWN_GLOSSARIES).
DICTIONARIES_OF = {"nb": ("nb", "da"), "da": ("da", "nb")}
# a record or a detector may say "no" (Norwegian, its written standard not named): glossed as Bokmål
_GLOSSED_AS = {"no": "nb"}
GLOSS_PER_WORD = (
    4  # translations of one word of the question from one dictionary, the dictionary's first
)


def glossable(index: Index, lang: str) -> bool:
    """Whether a dictionary of the build glosses questions in `lang` (its own, or the one it reads beside
    it: DICTIONARIES_OF); English needs none."""
    held = index.manifest.dictionaries if index.has_glossary else None
    lang = _GLOSSED_AS.get(lang, lang)
    return lang == "en" or (
        isinstance(held, dict) and any(d in held for d in DICTIONARIES_OF.get(lang, (lang,)))
    )


def glossed(
    index: Index, words: Sequence[str], lang: str, names: frozenset[str] = frozenset()
) -> list[str]:
    """English translations of a question's words from the build's bilingual dictionaries (a word found as it
    is, else by its base form, else by its stem, else as the dictionary's language spells it, else by the
    parts of a compound), in the question's order,
    each dictionary of the language in turn: a question in another language gloss-translated word by word,
    for the lexical leg and a second look of the dense leg (docs/benchmarks.md#dictionaries). A word of
    `names` (names_in) is a name: found whole ("Polsce" by its base form, Poland), never by its parts
    ("Virumaa" is no "land")."""
    out: list[str] = []
    lang = _GLOSSED_AS.get(lang, lang)
    for dictionary in DICTIONARIES_OF.get(lang, (lang,)):
        keys = {}
        for word in words:
            whole, parts = _gloss_keys(word, dictionary, lang)
            keys[word] = (whole, () if word in names else parts)
        splits = {word: ((), ()) if word in names else _splits(word, dictionary) for word in words}
        asked = [k for whole, parts in keys.values() for k in (*whole, *parts)]
        asked += [k for heads, firsts in splits.values() for k in (*heads, *firsts)]
        found = index.glossary(dictionary, list(dict.fromkeys(asked)))
        for word, (whole, parts) in keys.items():
            english = next((found[k] for k in whole if found.get(k)), ())
            if not english:  # a compound no dictionary lists: "kyläkoulu" as village and school
                english = tuple(e for p in parts for e in found.get(p, ())[:GLOSS_PER_PART])
            if not english:
                english = _compound_gloss(found, *splits[word])
            out += english[:GLOSS_PER_WORD]
    return list(dict.fromkeys(out))


GLOSS_PER_PART = 2  # translations of each part of a compound the dictionary does not list whole

# Languages that write every noun with a capital letter, so that a capital does not mark a name.
CAPITALISED_NOUNS = frozenset({"de"})
_WORDS = re.compile(r"[^\W\d_]+")


def names_in(text: str, lang: str) -> frozenset[str]:
    """The words of a text (lowercased) written with a capital letter after its first word: names in the
    languages that capitalise only names and a sentence's first word ("Ida-Virumaa after oil shale":
    virumaa); none in German (CAPITALISED_NOUNS). A sentence's first word after the text's first is taken
    for a name too, and is then glossed only whole."""
    if lang in CAPITALISED_NOUNS:
        return frozenset()
    return frozenset(w.lower() for w in _WORDS.findall(text)[1:] if w[0].isupper())


def _gloss_keys(word: str, dictionary: str, lang: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The glossary keys of a word in the order they are tried (as written, its base forms where the language
    has an analyser, its stem, then its spellings in the dictionary's language when the word is in another,
    `lang`) and those of its parts (text/lemmas.py)."""
    found = lemmas.forms(word, dictionary)
    whole = (word, *found.lemmas, "~" + stem(word, dictionary))
    return (*whole, *respelled(word, lang, dictionary)), found.parts


_VOWEL = "[aeiouyæøå]"
# How a Norwegian (Bokmål) word is spelt in Danish and back, where the two differ by rule rather than by
# word: Bokmål's spelling reforms turned Danish b, d, g after a vowel into p, t, k (gade: gate, bog: bok,
# købe: kjøpe), æ into e (grænse: grense, læse: lese), ej into ei (vej: vei), øj into øy (høj: høy), and
# doubled a final consonant (tak: takk). Each rule gives a spelling to look up in the other's dictionary.
_TO_DANISH: tuple[tuple[str, str], ...] = (
    (rf"(?<={_VOWEL})p(?={_VOWEL}|$)", "b"),
    (rf"(?<={_VOWEL})t(?={_VOWEL}|$)", "d"),
    (rf"(?<={_VOWEL})k(?={_VOWEL}|$)", "g"),
    (r"e(?!$)", "æ"),
    (r"ei", "ej"),
    (r"ei", "e"),  # stein: sten
    (r"øy", "øj"),
    (r"øy", "ø"),  # øy: ø (island)
    (r"(?<=[sgk])j", ""),  # kjøkken: køkken, gjøre: gøre
    (r"([kptmns])\1$", r"\1"),
    (r"ll$", "ld"),  # full: fuld
)
_TO_NORWEGIAN: tuple[tuple[str, str], ...] = (
    (rf"(?<={_VOWEL})b(?={_VOWEL}|$)", "p"),
    (rf"(?<={_VOWEL})d(?={_VOWEL}|$)", "t"),
    (rf"(?<={_VOWEL})g(?={_VOWEL}|$)", "k"),
    (r"æ", "e"),
    (r"ej", "ei"),
    (r"øj", "øy"),
    (r"ld$", "ll"),
)
SPELLINGS = {
    ("nb", "da"): _TO_DANISH,
    ("da", "nb"): _TO_NORWEGIAN,
}


@lru_cache(maxsize=100_000)
def respelled(word: str, lang: str, dictionary: str) -> tuple[str, ...]:
    """A word of `lang` as the language of `dictionary` may spell it: each rule of SPELLINGS applied at each
    place it fits, one at a time, then all of them at once ("kjøpe": "kjøbe", "køpe", "købe"); nothing for
    languages without rules. Only spellings the dictionary lists give anything."""
    rules = SPELLINGS.get((lang, dictionary), ())
    out: list[str] = []
    whole = word
    for pattern, replacement in rules:
        for found in re.finditer(pattern, word):
            out.append(word[: found.start()] + found.expand(replacement) + word[found.end() :])
        whole = re.sub(pattern, replacement, whole)
    out.append(whole)
    return tuple(spelling for spelling in dict.fromkeys(out) if spelling != word)


def _splits(word: str, lang: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Where a compound word of a language without an analyser of its parts (Swedish, Danish, Norwegian,
    German) may be split: the keys of its possible heads, longest first, each as written and by its stem,
    and of its possible first parts, longest first, also without a linking s or e ("arbeits|markt"). Both
    parts have at least tagging.COMPOUND_PART letters; other words have none."""
    if (
        lang not in tagging.COMPOUNDING
        or lemmas.source(lang) == "voikko"  # Voikko's own parts, measured better than letter splits
        or len(word) < 2 * tagging.COMPOUND_PART
        or not word.isalpha()
    ):
        return (), ()
    cuts = range(tagging.COMPOUND_PART, len(word) - tagging.COMPOUND_PART + 1)
    heads = tuple(k for i in cuts for k in (word[i:], "~" + stem(word[i:], lang)))
    firsts = [word[:i] for i in reversed(cuts)]
    linked = [f[:-1] for f in firsts if f[-1] in "se" and len(f) > tagging.COMPOUND_PART]
    return heads, (*firsts, *linked)


def _compound_gloss(
    found: Mapping[str, tuple[str, ...]], heads: Sequence[str], firsts: Sequence[str]
) -> tuple[str, ...]:
    """A compound glossed by its longest head the dictionary lists ("grende|skole": school) and, when the rest
    is listed too, by that first ("dorf|schule": village, school); nothing without a head."""
    head = next((found[k] for k in heads if found.get(k)), ())
    if not head:
        return ()
    first = next((found[k] for k in firsts if found.get(k)), ())
    return (*first[:GLOSS_PER_PART], *head[:GLOSS_PER_PART])


GLOSS_VECTOR_WEIGHT = 0.5  # the glossed question's share of the dense leg's question vector


def question_vector(
    index: Index, text: str, gloss: Sequence[str] = (), lang: str = "en"
) -> np.ndarray:
    """The dense leg's vector of a question written in `lang` (question_vectors)."""
    return question_vectors(index, text, gloss, lang)[1]


def question_vectors(
    index: Index, text: str, gloss: Sequence[str] = (), lang: str = "en"
) -> tuple[np.ndarray, np.ndarray]:
    """The vector of the question as written, and the dense leg's vector of it: with dictionary words,
    moved towards their vector (with_gloss), then moved by its language's offset (toward_english). Each is
    encoded alone (a row per run, see onnx_encoder.OnnxEmbedder.BATCH), questions first (see
    query.admission)."""
    if not gloss:
        written = index.admission.encode([text], kind="query")[0]
        return written, toward_english(index, written, lang)
    written, english = index.admission.encode([text, " ".join(gloss)], kind="query")
    return written, with_gloss(index, written, english, lang)


def with_gloss(index: Index, written: np.ndarray, english: np.ndarray, lang: str) -> np.ndarray:
    """The dense leg's vector of a question from its own vector and its dictionary words' (`english`): moved
    towards the latter by GLOSS_VECTOR_WEIGHT (the multilingual model places an English gloss nearer the
    English practices than the question itself), then by its language's offset (toward_english)."""
    vector = written + GLOSS_VECTOR_WEIGHT * english
    return toward_english(index, vector / np.linalg.norm(vector), lang)


def toward_english(index: Index, vector: np.ndarray, lang: str) -> np.ndarray:
    """A question vector of text in `lang`, moved by what the build measured of where the encoder puts
    questions (build/offsets.py), as a unit vector: first by PF_LANGUAGE_MAP (0.5) times its language's
    linear map towards English (made a unit vector again), then plus PF_LANGUAGE_OFFSET (0.25) times the language's
    offset, so that it leans less towards what the language's shift points at and more towards its
    topic (English, and languages without an offset, stay); less PF_QUESTION_CENTRING (0.5 for
    multilingual-e5-small) times the direction all questions share, so that the practices nearest that
    common part stop coming up whatever is asked. Measured (both question sets, ten languages, Tatoeba):
    docs/benchmarks.md#language-offsets."""
    found = index.directions
    if found is None:
        return vector
    mapping = index.language_maps.get(lang)
    if mapping is not None and index.ranking.language_map:
        v = np.asarray(vector, dtype=np.float64)
        v = v + index.ranking.language_map * mapping.mapped(v)
        vector = np.asarray(v / np.linalg.norm(v), dtype=np.float32)
    offset = index.language_offsets.get(lang)
    share = index.ranking.language_offset if offset is not None else 0.0
    centring = index.ranking.question_centring if found.common is not None else 0.0
    if not share and not centring:
        return vector
    moved = np.asarray(vector, dtype=np.float64)
    if found.common is not None:
        moved = moved - centring * found.common
    if offset is not None:
        moved = moved + share * offset
    return np.asarray(moved / np.linalg.norm(moved), dtype=np.float32)


FEEDBACK_PRACTICES = 3
FEEDBACK_WORDS = (
    24  # each extra word is another OR term for FTS5: unbounded, the lexical leg took 9 ms
)


def feedback_words(index: Index, top: Sequence[str]) -> list[str]:
    """English words for the lexical leg of a question in another language: those of the titles and summaries
    of the English practices among its first results (pseudo-relevance feedback across languages).

    Its own words rarely occur in English text, so the first fused ranking (led by the multilingual dense
    leg and the taxonomy) lends it the words of what it found; on the translated domain questions this
    lifted the mean of the nine languages by about 0.014 nDCG@10 (docs/benchmarks.md#what-each-part-brings). English questions
    are left alone.
    """
    cards = index.cards(list(top))
    english = [c for rid in top if (c := cards.get(rid)) is not None and c.language == "en"]
    words = dict.fromkeys(word for card in english for word in card.heading_words)
    return list(words)[:FEEDBACK_WORDS]


# A question not in English also moves its dense leg: the leg is searched again from the question's
# vector plus this share of the first fused practice's whole-record vector (docs/benchmarks.md#the-dense-leg-fed-back).
VECTOR_FEEDBACK_PRACTICES = 1
VECTOR_FEEDBACK_WEIGHT = 0.3


def feedback_vector(index: Index, qvec: np.ndarray, top: Sequence[str]) -> np.ndarray | None:
    """The question's vector moved towards the whole-record vectors of the practices `top` (pseudo-relevance
    feedback for the dense leg), as a unit vector; None when none of them has a vector.

    The first fused practices were found by the legs that read the question's own words and terms as
    well; their vectors are the corpus's way of saying what the question asks, where the multilingual
    encoder places a question in Latvian or Estonian further from it than the same question in English.
    The mean of their vectors, made a unit vector, is added at VECTOR_FEEDBACK_WEIGHT."""
    found = []
    for rid in top:
        try:
            found.append(record_vector(index, "practice", rid))
        except NotFoundError:
            continue
    if not found:
        return None
    mean = np.mean(found, axis=0, dtype=np.float64)
    moved = np.asarray(qvec, dtype=np.float64) + VECTOR_FEEDBACK_WEIGHT * mean / np.linalg.norm(
        mean
    )
    return np.asarray(moved / np.linalg.norm(moved), dtype=np.float32)


@dataclass(frozen=True)
class LexicalTerms:
    """What the lexical leg searches: words in any column, and stems in the stems column."""

    words: tuple[str, ...]
    stems: tuple[str, ...]

    @classmethod
    def of(
        cls,
        words: Sequence[str],
        lang: str = "en",
        english: Sequence[str] = (),
        also: Sequence[str] = (),
    ) -> LexicalTerms:
        """The terms of a question's `words` in `lang` (stemmed in it and in the other languages it may be
        written in, `also`) and of English words (`english`)."""
        words = searchable(words)
        stems = [stem(w, code) for code in dict.fromkeys([lang, *also]) for w in words]
        own = cls(tuple(dict.fromkeys(words)), tuple(dict.fromkeys(searchable(stems))))
        return own.with_english(english)

    def with_english(self, english: Sequence[str]) -> LexicalTerms:
        """These terms and the English words `english`, with their English stems."""
        added = searchable(english)
        stems = searchable([stem(w, "en") for w in added])
        return LexicalTerms(
            tuple(dict.fromkeys([*self.words, *added])),
            tuple(dict.fromkeys([*self.stems, *stems])),
        )

    def without(self, other: LexicalTerms) -> LexicalTerms:
        """These terms less those of `other`."""
        words, stems = set(other.words), set(other.stems)
        return LexicalTerms(
            tuple(w for w in self.words if w not in words),
            tuple(s for s in self.stems if s not in stems),
        )

    def query(self) -> str:
        """The FTS5 query: any of the terms."""
        if not self.stems:
            return fts_query(self.words)
        if not self.words:
            return f"stems : ({fts_query(self.stems)})"
        return fts_query(self.words, self.stems)

    def phrases(self) -> list[str]:
        """The phrases of `query`, each a query of its own, in its order."""
        return fts_phrases(self.words, self.stems)

    def __bool__(self) -> bool:
        return bool(self.words or self.stems)


def bm25_ranked(
    index: Index, terms: LexicalTerms, depth: int, where: str, params: list[Any]
) -> Scored:
    """The `depth` practices with the highest BM25 for any of `terms`, best first, with that score, among
    those that pass the filter `where` (a practice's BM25 does not depend on the filter)."""
    if not terms:
        return []
    allowed = practice_rowids(index.db, where, params)
    ranked = index.phrase_scores.ranked(terms.phrases(), depth, allowed)
    id_of = index.practice_id_of_rowid
    return [(id_of[rowid], score) for rowid, score in ranked]


def bm25_extended(
    index: Index,
    ranked: Scored,
    terms: LexicalTerms,
    english: Sequence[str],
    depth: int,
    where: str,
    params: list[Any],
) -> Scored:
    """What bm25_ranked gives for `terms` with the English words `english` added, from `ranked` (what it
    gave for `terms`).

    FTS5's BM25 is a sum over the query's terms, each scored on its own, so only the new terms are
    searched and their scores added to those found before. When either ranking was cut at `depth` (more
    practices matched than it holds), a practice's other part may be missing: the whole query runs."""
    more = terms.with_english(english)
    new = more.without(terms)
    if not new:
        return ranked
    added = bm25_ranked(index, new, depth, where, params)
    if len(ranked) >= depth or len(added) >= depth:
        return bm25_ranked(index, more, depth, where, params)
    scores = dict(ranked)
    for rid, score in added:
        scores[rid] = scores.get(rid, 0.0) + score
    return sorted(scores.items(), key=lambda kv: -kv[1])[:depth]


# How much a practice's tag counts when the query mentions the term: by vocabulary, and less when the
# tag was only found in the practice's text rather than declared by its authors.
TAG_WEIGHTS = {
    "challenges": 1.0,
    "assets": 0.7,
    "themes": 0.4,
    "target_groups": 0.4,
    "participation": 0.3,
}
TEXT_TAG_FACTOR = 0.5


def centrality(
    pairs: Sequence[tuple[str, str]], mentions: Mapping[tuple[str, str], int]
) -> list[float]:
    """How central each term is to the question: its mentions over those of the most mentioned term (1 when
    the question's mentions are unknown). A term the question keeps coming back to is its subject; one
    named once in a long question among others it returns to is a passing word, and weighs less."""
    most = max((mentions.get(pair, 1) for pair in pairs), default=1)
    return [mentions.get(pair, 1) / most for pair in pairs]


def taxonomy_leg(
    index: Index,
    understood: dict[str, list[str]],
    where: str,
    params: list[Any],
    depth: int,
    tiebreak: Sequence[str] = (),
    mentions: Mapping[tuple[str, str], int] | None = None,
) -> Scored:
    """Practices ranked by the weight of the query's taxonomy terms they carry, each weighed by its
    centrality in the question (`mentions`: how often the question mentions each (vocabulary, term)),
    with that weight; ties: by the dense order."""
    pairs = list(
        dict.fromkeys((vocab, term) for vocab, terms in understood.items() for term in terms)
    )
    if not pairs:
        return []
    central = dict(zip(pairs, centrality(pairs, mentions or {}), strict=True))
    allowed = allowed_practices(index, where, params)
    scores: dict[str, float] = {}
    for vocab, term in pairs:
        weight = TAG_WEIGHTS.get(vocab, 0.0) * central[(vocab, term)]
        for rid, declared in index.practice_tags.get((vocab, term), ()):
            if allowed is None or rid in allowed:
                scores[rid] = scores.get(rid, 0.0) + weight * (1.0 if declared else TEXT_TAG_FACTOR)
    order = fusion.ranks(tiebreak)
    # the same weights in another order: still a tie
    scores = {rid: round(score, 9) for rid, score in scores.items()}
    ranked = sorted(scores, key=lambda rid: (-scores[rid], order.get(rid, len(order) + 1), rid))
    return [(rid, scores[rid]) for rid in ranked[:depth]]


def allowed_practices(index: Index, where: str, params: list[Any]) -> set[str] | None:
    """The ids of the practices a filter (filters.practice_filter_sql) lets through; None when unfiltered."""
    if not where:
        return None
    return {
        row[0] for row in index.db.execute(f"select p.id from practices p where {where}", params)
    }


def tags_leg(
    index: Index, written: np.ndarray, lang: str, depth: int, where: str, params: list[Any]
) -> Scored:
    """Practices ranked by the cosine of the question's vector as written (question_vectors) with that of
    their declared tags written out in the question's language (build/tag_texts.py): one language on
    both sides, where the multilingual encoder compares best. Empty when the build wrote none in `lang`
    (English, and the languages the taxonomy does not label in)."""
    view = index.tag_views.get(lang)
    if view is None:
        return []
    ids, matrix = view
    scores = matrix @ np.asarray(written, dtype=np.float32)
    allowed = allowed_practices(index, where, params)
    out: Scored = []
    for i in np.argsort(-scores, kind="stable"):
        if allowed is None or ids[i] in allowed:
            out.append((ids[i], float(scores[i])))
            if len(out) == depth:
                break
    return out
