"""Reading a retrieval benchmark in BEIR layout and turning its documents into corpus records.

    <dataset>/corpus.jsonl     {"_id", "title", "text"}
    <dataset>/queries.jsonl    {"_id", "text"}
    <dataset>/qrels/<split>.tsv  query-id, corpus-id, score (with a header line)

Documents become practices with only a title and a text, so they go through the same analysis,
embedding, store, FAISS and search code as the product's corpus.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path

from practice_finder.errors import PracticeFinderError
from practice_finder.models import Corpus, Practice, Tags, Taxonomy

# BEIR's datasets are English, questions and documents alike: the documents are stored as English and the
# questions are searched as a page in English would send them (a claim such as "TMEM27 is a marker for beta
# cells" is mostly gene names, which the language detector alone may read as Swedish).
LANGUAGE = "en"


@dataclass
class Dataset:
    name: str
    docs: dict[str, tuple[str, str]]  # id -> (title, text)
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load(path: Path, split: str = "test") -> Dataset:
    """Read a BEIR dataset; only queries that have judgments in `split` are kept."""
    files = {
        "corpus": path / "corpus.jsonl",
        "queries": path / "queries.jsonl",
        "qrels": path / "qrels" / f"{split}.tsv",
    }
    missing = [str(f) for f in files.values() if not f.exists()]
    if missing:
        raise PracticeFinderError(
            f"not a BEIR dataset: missing {', '.join(missing)}",
            "give the folder holding corpus.jsonl, queries.jsonl and qrels/",
        )
    qrels: dict[str, dict[str, int]] = {}
    with files["qrels"].open(encoding="utf-8") as fh:
        reader = csv.reader(fh, delimiter="\t")
        for row in reader:
            if len(row) < 3 or not row[2].strip().lstrip("-").isdigit():
                continue  # the header line, or a blank one
            qrels.setdefault(row[0].strip(), {})[row[1].strip()] = int(row[2])
    docs = {}
    for line in files["corpus"].open(encoding="utf-8"):
        if line.strip():
            doc = json.loads(line)
            docs[str(doc["_id"])] = (doc.get("title") or "", doc.get("text") or "")
    queries = {}
    for line in files["queries"].open(encoding="utf-8"):
        if line.strip():
            q = json.loads(line)
            if str(q["_id"]) in qrels:
                queries[str(q["_id"])] = q["text"]
    return Dataset(path.name, docs, queries, {q: r for q, r in qrels.items() if q in queries})


def sample(data: Dataset, docs: int, seed: int = 13) -> Dataset:
    """A smaller dataset for quick checks: every judged document plus random others, up to `docs`."""
    judged = {d for rel in data.qrels.values() for d in rel if d in data.docs}
    others = sorted(set(data.docs) - judged)
    random.Random(seed).shuffle(others)
    keep = judged | set(others[: max(0, docs - len(judged))])
    return Dataset(
        data.name + f"-{len(keep)}",
        {d: data.docs[d] for d in sorted(keep)},
        data.queries,
        data.qrels,
    )


def as_corpus(data: Dataset) -> Corpus:
    """Each document as a practice with a title and a text; the benchmark has no taxonomy, so none is used."""
    practices = tuple(
        Practice(
            id=doc_id,
            title=title or text[:80],
            municipality="",
            country="",
            population=0,
            years=(),
            tags=Tags(),
            summary="",
            what_happened=text,
            outcomes="",
            success_factors="",
            budget_band="unknown",
            resources="",
            language=LANGUAGE,
            source=f"beir:{data.name}",
        )
        for doc_id, (title, text) in data.docs.items()
    )
    return Corpus(Taxonomy({}), practices, (), ())
