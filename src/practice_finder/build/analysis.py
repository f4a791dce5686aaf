"""Turning one record into what the store holds: a table row, passages to embed, and tags."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from practice_finder import languages
from practice_finder.models import City, Plan, Practice, Record, Taxonomy, record_data, record_type
from practice_finder.text import pipelines, tagging
from practice_finder.text.stemming import WORD, stem

if TYPE_CHECKING:
    from spacy.tokens import Doc

ANALYSIS_VERSION = 4  # bump when passages, tagging or embedded texts change meaning (2: stems, language detection; 3: the whole-record text cut at RECORD_WORDS; 4: English labels matched as written in other languages, short stems no compound parts)


@dataclass
class Passage:
    """A unit of retrieval: the whole record (seq 0) or a few sentences of one section."""

    section: str
    text: str  # what is shown as a snippet
    embed_text: str  # what is embedded (the text with its record's title for context)

    @property
    def text_hash(self) -> str:
        return sha256(self.embed_text)


@dataclass
class Analysis:
    kind: str
    id: str
    row: dict[str, Any]
    passages: list[Passage]
    tags: list[dict[str, Any]] = field(default_factory=list)
    cache_key: str = (
        ""  # record, taxonomy and city names hashed: the key under which a later build may reuse it
    )


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_hash(record: Record) -> str:
    """Hash of everything in a record but where its file lies."""
    return sha256(
        json.dumps(
            {"v": ANALYSIS_VERSION, "r": record_data(record)}, sort_keys=True, ensure_ascii=False
        )
    )


def taxonomy_hash(taxonomy: Taxonomy) -> str:
    return sha256(json.dumps(msgspec.to_builtins(taxonomy), sort_keys=True, ensure_ascii=False))


def record_language(record: Record) -> str:
    if isinstance(record, City):
        return "en"
    return record.language


def headline(record: Record) -> str:
    """The name a person sees first: a practice's or plan's title, a city's name."""
    return record.name if isinstance(record, City) else record.title


RECORD_WORDS = 200  # the whole-record text is cut here (see record_text)


def record_text(record: Record) -> str:
    """The text embedded for the record as a whole: its opening, at most RECORD_WORDS words.

    The passages carry the rest. all-MiniLM-L6-v2 reads 256 tokens (about 200 English words) anyway;
    multilingual-e5-small would read a long text whole, window by window, which made the demo corpus's
    302 whole-record texts about a third of its embedding time (docs/benchmarks.md#ingestion-speed).
    """
    if isinstance(record, Practice):
        text = f"{record.title}. {record.summary} {record.what_happened}"
    elif isinstance(record, City):
        text = f"{record.name}, {record.region}. {record.description}"
    else:
        text = f"{record.title}. {record.body['local_context']} {record.body['challenges']} {record.body['goals']}"
    return " ".join(text.split()[:RECORD_WORDS])


def _section_docs(record: Record) -> list[tuple[str, list[Doc]]]:
    """Each text section of the record, processed by spaCy once (for passages and for tags)."""
    lang = record_language(record)
    return [(section, pipelines.docs(text, lang)) for section, text in record.sections()]


def passages(record: Record, section_docs: list[tuple[str, list[Doc]]]) -> list[Passage]:
    title = headline(record)
    out = [Passage("record", title, record_text(record))]
    for section, docs in section_docs:
        sents = [s for doc in docs for s in pipelines.doc_sentences(doc)]
        out.extend(
            Passage(section, chunk, f"{title}: {chunk}")
            for chunk in pipelines.group_sentences(sents)
        )
    return out


def tag_rows(
    record: Record, tagger: tagging.Tagger, section_docs: list[tuple[str, list[Doc]]]
) -> list[dict[str, Any]]:
    """Declared tags, plus the terms the record's text mentions (source 'text')."""
    kind = record_type(record)
    rows: list[dict[str, Any]] = [
        {
            "record_type": kind,
            "record_id": record.id,
            "vocabulary": v,
            "term": t,
            "source": "declared",
            "phrase": None,
            "count": None,
        }
        for v, t in record.tags.items()
    ]
    lang = record_language(record)
    all_docs = [
        *pipelines.docs(headline(record), lang),
        *(d for _, docs in section_docs for d in docs),
    ]
    for hit in tagger.tag_docs(all_docs, lang):
        rows.append(
            {
                "record_type": kind,
                "record_id": record.id,
                "vocabulary": hit.vocabulary,
                "term": hit.term,
                "source": "text",
                "phrase": hit.phrase,
                "count": hit.count,
            }
        )
    return rows


def tag_labels(record: Record, taxonomy: Taxonomy) -> str:
    """Labels of the declared tags in English and in every language of the region, indexed for full-text search.

    A query in any language then finds a practice tagged with what it asks about, whatever the
    practice's own language. (Russian and Ukrainian labels only tag questions and plans.)
    """
    labels: list[str] = []
    for vocab, term_id in record.tags.items():
        term = taxonomy.vocabularies[vocab][term_id]
        labels.append(term.label)
        labels.extend(
            names[0]
            for lang, names in term.labels.items()
            if names and lang in languages.LABEL_LANGUAGES
        )
    return "; ".join(dict.fromkeys(labels))


def stems_text(record: Record, lang: str) -> str:
    """Every word of the record's title and text as its stem in the record's language (the lexical leg's
    per-language column: a Polish query, stemmed as Polish, meets the Polish forms of the text)."""
    text = " ".join(
        [headline(record), getattr(record, "summary", ""), *(t for _, t in record.sections())]
    )
    return " ".join(stem(w, lang) for w in WORD.findall(text) if len(w) > 1)


def row(record: Record, taxonomy: Taxonomy, city_names: dict[str, str]) -> dict[str, Any]:
    """The record's row in its table."""
    # the contact fields stay in the row, as every field does (a re-seed rebuilds records from rows); no
    # column of the search reads them, and the pages show them only with consent (reads.public_contact)
    data = msgspec.to_builtins(record)
    tags = data.pop("tags")
    data.update(
        {
            k: json.dumps(tags.get(k, []))
            for k in ("challenges", "assets", "themes", "target_groups", "participation")
        }
    )
    if isinstance(record, (Practice, Plan)):
        first, last = (min(record.years), max(record.years)) if record.years else (None, None)
        data.update(years=json.dumps(record.years), year_start=first, year_end=last)
    if isinstance(record, Practice):
        data["partners"] = json.dumps(record.partners)
    if isinstance(record, City):
        data["languages"] = json.dumps(record.languages)
    if isinstance(record, Plan):
        data["body"] = json.dumps(record.body, ensure_ascii=False)
        data["text"] = "\n\n".join(t for _, t in record.sections())
        data["city_name"] = city_names.get(record.city, record.city)
    data["tag_labels"] = tag_labels(record, taxonomy)
    detected = languages.detect(record_text(record))
    data.update(detected_language=detected.language, language_confidence=detected.confidence)
    if isinstance(record, Practice):
        data["stems"] = stems_text(record, record.language)
    data["content_hash"] = content_hash(record)
    return data


def analyse(
    record: Record, taxonomy: Taxonomy, tagger: tagging.Tagger, city_names: dict[str, str]
) -> Analysis:
    """Everything the store needs about one record, except the embeddings."""
    section_docs = _section_docs(record)
    return Analysis(
        record_type(record),
        record.id,
        row(record, taxonomy, city_names),
        passages(record, section_docs),
        tag_rows(record, tagger, section_docs),
    )
