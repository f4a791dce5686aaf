"""Plain-text renderings of results for the terminal (the CLI prints these; the core returns data)."""

from __future__ import annotations

import re
import textwrap
from typing import Any

from practice_finder.build import versions
from practice_finder.build.ingest import IngestReport
from practice_finder.build.manifest import FileDigest, Manifest
from practice_finder.config import Settings
from practice_finder.query.search import Hit, SearchResult


def ingest_summary(report: IngestReport, settings: Settings) -> str:
    c, ch = report.counts, report.changes
    lines = [
        f"Corpus {settings.corpus_dir}/: {c['practices']} practices, {c['cities']} cities, {c['plans']} plans, "
        f"{c['countries']} countries, {c['terms']} taxonomy terms (all valid)",
        f"Changes since the current build: {ch['added']} added, {ch['changed']} changed, "
        f"{ch['removed']} removed, {ch['unchanged']} unchanged",
    ]
    if report.up_to_date:
        lines.append(
            f"Index is up to date: build {report.current_build} stays current; nothing was re-embedded (use --force to rebuild)"
        )
    else:
        lines.append(
            f"Embedded {report.embedded} new texts, reused {report.reused} stored embeddings ({c.get('passages', 0)} passages in all)"
        )
        lines.append(
            f"Build {report.current_build} ({report.reason}) is now current in {settings.index_dir}/"
            + (f"; pruned {len(report.pruned)} old build(s)" if report.pruned else "")
        )
    if report.stale_removed:
        lines.append(
            f"Removed {report.stale_removed} unfinished build(s) left by an interrupted ingest"
        )
    lines.append("Timings: " + ", ".join(f"{k} {v:.2f}s" for k, v in report.timings.items()))
    return "\n".join(lines)


def index_info(settings: Settings) -> dict[str, Any]:
    """The current build's manifest plus the list of builds kept."""
    current = versions.require_current(settings.index_dir)
    return {
        "index_dir": str(settings.index_dir),
        "current": current.name,
        "builds": [p.name for p in versions.list_builds(settings.index_dir)],
        "manifest": versions.read_manifest(current),
    }


def info_text(data: dict[str, Any]) -> str:
    m: Manifest = data["manifest"]
    c = m.counts
    vectors = ", ".join(f"{k} {v.size} ({v.type})" for k, v in m.vectors.items())
    kept = "\n".join(f"  {'*' if b == data['current'] else ' '} {b}" for b in data["builds"])
    return "\n".join(
        [
            f"Current build: {data['current']} (built {m.built_at}, schema v{m.schema_version})",
            f"Model:         {m.model.name} ({m.model.dimension} dimensions, {m.model.similarity})",
            f"Encoders:      {_encoders(m)}",
            f"Records:       {c['practices']} practices, {c['cities']} cities, {c['plans']} plans, {c.get('passages', 0)} passages",
            f"Countries:     {', '.join(m.countries)}",
            f"Languages:     {_offsets(m)}",
            f"Tag texts:     {_tag_texts(m)}",
            f"Vectors:       {vectors}",
            f"Corpus hash:   {m.corpus.hash[:16]}... from {m.corpus.path}",
            f"Builds kept in {data['index_dir']}/builds (* = current):",
            kept,
        ]
    )


def _offsets(m: Manifest) -> str:
    """Which languages' questions the build moves towards English, and over how many taxonomy terms each
    offset was measured (build/offsets.py)."""
    made = m.language_offsets
    if not isinstance(made, dict):
        return "no language offsets (a build without an ONNX export, or an older build)"
    by_terms: dict[int, list[str]] = {}
    for lang, terms in made.get("languages", {}).items():
        by_terms.setdefault(int(terms), []).append(lang)
    parts = [
        f"{' '.join(sorted(langs))} ({n} terms)"
        for n, langs in sorted(by_terms.items(), reverse=True)
    ]
    if not parts:
        return "no language offsets"
    maps = made.get("maps") or []
    return (
        "offsets for "
        + "; ".join(parts)
        + (f"; maps towards English for {len(maps)}" if maps else "")
    )


def _tag_texts(m: Manifest) -> str:
    """How many practice tag texts the build wrote out in the region's languages (build/tag_texts.py), and
    what encoded them."""
    made = m.tag_texts
    if not isinstance(made, dict):
        return "none (an older build)"
    return (
        f"{made.get('texts', 0)} ({made.get('phrases_per_tag')} phrases a tag), "
        f"encoded by {made.get('encoder')}"
    )


def _encoders(m: Manifest) -> str:
    """What encoded the passages and what the export offers for questions, with its disk cost."""
    passages = m.model.passages_with or "not recorded (an older build)"
    export = m.query_encoder
    if not export:
        return f"passages {passages}; no ONNX export"
    source = (export.get("source") or {}).get("package", "")
    size = sum((m.files or {}).get(name, _NO_FILE).bytes for name in _export_files(export))
    made = f" from {source}" if source else ""
    return f"passages {passages}; ONNX export{made} (float and int8, {size / 1e6:.0f} MB)"


_NO_FILE = FileDigest(bytes=0, sha256="")


def _export_files(export: dict[str, Any]) -> list[str]:
    names = [export.get("file"), (export.get("int8") or {}).get("file")]
    names += [(export.get("shared_weights") or {}).get("file"), export.get("tokenizer")]
    names.append(export.get("normalization"))
    return [n for n in names if n]


def _plain(snippet: str) -> str:
    """A marked-up snippet for the terminal: <mark>word</mark> becomes [word]."""
    import html

    return html.unescape(re.sub(r"<mark>(.*?)</mark>", r"[\1]", snippet))


def search_text(result: SearchResult) -> str:
    if result.closest:
        lines = [f"No practice matches {result.query!r}; the closest ideas, which do not match it:"]
        return "\n".join(lines + _hit_lines(result.closest, 1))
    if not result.hits:
        return f"No practices found for {result.query!r}."
    lines = [
        f"{result.total} practices match {result.query!r} ({result.mode}); showing {len(result.hits)}:"
    ]
    if result.understood:
        lines.append(
            "Understood: " + "; ".join(f"{v}: {', '.join(t)}" for v, t in result.understood.items())
        )
    if result.constraints:
        lines.append(
            "Constraints: "
            + "; ".join(f"{c.kind}: {', '.join(c.values)}" for c in result.constraints)
        )
    return "\n".join(lines + _hit_lines(result.hits, result.offset + 1))


def _hit_lines(hits: list[Hit], start: int) -> list[str]:
    lines: list[str] = []
    for i, hit in enumerate(hits, start=start):
        ranks = ", ".join(f"{leg} #{r}" if r else f"{leg} -" for leg, r in hit.why["ranks"].items())
        years = "-".join(str(y) for y in sorted({hit.years[0], hit.years[-1]}))
        lines.append(f"\n{i:>2}. {hit.title}")
        lines.append(
            f"    {hit.municipality}, {hit.country} ({hit.population:,} inh.), {years} | score {hit.score:.4f} | {ranks}"
        )
        lines.extend(
            textwrap.wrap(
                _plain(hit.snippet), width=96, initial_indent="    ", subsequent_indent="    "
            )
        )
    return lines


def eval_text(result: dict[str, Any]) -> str:
    """A table of the metrics per mode, with published reference numbers when there are some."""
    from practice_finder.evaluation.relevance import LABELS

    head = f"{result['dataset']}: {result['queries']} queries"
    if result.get("language", "en") != "en":
        head += f" in {result['language']}"
    if "documents" in result:
        head += f", {result['documents']} documents (ingested in {result['ingest']['seconds']} s)"
    lines = [
        head + f", model {result['model']}",
        "",
        f"{'mode':<10}" + "".join(f"{LABELS[m]:>12}" for m in LABELS) + f"{'median ms':>12}",
    ]
    for mode, m in result["modes"].items():
        lines.append(
            f"{mode:<10}" + "".join(f"{m[k]:>12.4f}" for k in LABELS) + f"{m['median_ms']:>12.1f}"
        )
    if result.get("recommendations"):
        r = result["recommendations"]
        lines += [
            "",
            f"recommendations ({r['profiles']} profiles with known best practices): "
            f"nDCG@10 {r['nDCG@10']:.4f}, Recall@10 {r['R@10']:.4f}, MRR@10 {r['RR@10']:.4f}",
        ]
    if result.get("reference_ndcg@10"):
        lines += ["", "published nDCG@10 on this dataset:"]
        lines += [f"  {name:<38}{value:.4f}" for name, value in result["reference_ndcg@10"].items()]
    if "explain" in result:
        lines += ["", explain_text(result["explain"])]
    return "\n".join(lines)


def import_text(report: Any) -> str:
    """What an import did, kind by kind."""
    lines = [
        f"{report.file}: checked; nothing written (dry run)"
        if report.dry_run
        else f"{report.file}: imported"
    ]
    for what in ("added", "changed", "unchanged"):
        counts: dict[str, int] = getattr(report, what)
        if counts:
            parts = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
            lines.append(f"  {what if what != 'unchanged' else 'left unchanged'}: {parts}")
    if not any((report.added, report.changed, report.unchanged)):
        lines.append("  no records in the file")
    if report.last_seq is not None:
        lines.append(
            f"  write log entries {report.first_seq}..{report.last_seq}; a running service re-indexes them"
        )
    elif not report.dry_run:
        lines.append("  nothing changed, nothing logged")
    return "\n".join(lines)


def explain_text(questions: list[dict[str, Any]]) -> str:
    """Each question's nDCG@10, the terms understood and the relevant practices missed, with the rank
    every leg gave them ("-": the leg did not return it)."""
    from practice_finder.evaluation.relevance import EXPLAINED_LEGS

    lines = [
        "What the hybrid ranking missed (relevant practices outside its first 10), weakest first:"
    ]
    for q in questions:
        terms = "; ".join(f"{v}: {', '.join(t)}" for v, t in q["understood"].items()) or "none"
        lines += [
            "",
            f"{q['id']}  nDCG@10 {q['nDCG@10']:.4f}  [{q['language']}]  {_short(q['text'])}",
            f"    understood: {terms}",
            f"    missed {len(q['missed'])} of {q['relevant']} relevant:",
        ]
        for m in q["missed"]:
            ranks = "  ".join(f"{leg} {_rank(m[leg])}" for leg in ("hybrid", *EXPLAINED_LEGS))
            lines.append(f"      grade {m['grade']}  {m['id']:<48} {ranks}")
    return "\n".join(lines)


def _rank(rank: int | None) -> str:
    return "-" if rank is None else f"#{rank}"


def _short(text: str, width: int = 90) -> str:
    return textwrap.shorten(text, width=width, placeholder="...")
