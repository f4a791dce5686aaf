"""The `practice-finder` command: parse options, make one library call, print the result."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

import click
import msgspec

from practice_finder.cli.staff import staff
from practice_finder.config import Settings
from practice_finder.errors import CorpusError, PracticeFinderError


class _Group(click.Group):
    """Turns the library's errors into one line on stderr that says how to fix the problem."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CorpusError as exc:
            for problem in exc.problems:
                click.echo(f"  {problem}", err=True)
            _fail(exc)
        except PracticeFinderError as exc:
            _fail(exc)


def _fail(exc: PracticeFinderError) -> None:
    hint = f" Fix: {exc.hint}." if exc.hint else ""
    click.echo(f"Error: {exc.message}.{hint}", err=True)
    sys.exit(1)


@click.group(cls=_Group)
@click.version_option(package_name="practice-finder")
def cli() -> None:
    """Semantic search and recommendations over the good practices of the BSR Cultural Pearls programme."""


def _settings(**overrides: Any) -> Settings:
    return Settings.from_env(**overrides)


def _embedder_factory(settings: Settings) -> Callable[[], Any]:
    from practice_finder.build.encoders import load_embedder

    return partial(load_embedder, settings.model, settings.batch_size, settings.threads)


corpus_option = click.option(
    "--corpus",
    "corpus_dir",
    type=click.Path(path_type=Path),
    help="Corpus folder [default: corpus/, env PF_CORPUS_DIR].",
)
index_option = click.option(
    "--index",
    "index_dir",
    type=click.Path(path_type=Path),
    help="Index folder [default: indexes/, env PF_INDEX_DIR].",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


@cli.command()
@corpus_option
@index_option
@click.option("--force", is_flag=True, help="Build even when nothing changed.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar while embedding [default: on].",
)
@json_option
def ingest(
    corpus_dir: Path | None,
    index_dir: Path | None,
    force: bool,
    progress: bool | None,
    as_json: bool,
) -> None:
    """Validate the corpus and build a new index version if anything changed."""
    from practice_finder.build.ingest import ingest as run_ingest

    settings = _settings(corpus_dir=corpus_dir, index_dir=index_dir, progress=progress)
    report = run_ingest(settings, _embedder_factory(settings), force=force)
    if as_json:
        click.echo(json.dumps(asdict(report), indent=2))
        return
    from practice_finder.cli.report import ingest_summary

    click.echo(ingest_summary(report, settings))


@cli.command()
@index_option
@json_option
def info(index_dir: Path | None, as_json: bool) -> None:
    """Show what is built: the current build's manifest and the versions kept."""
    from practice_finder.cli.report import index_info

    data = index_info(_settings(index_dir=index_dir))
    if as_json:
        click.echo(json.dumps(msgspec.to_builtins(data), indent=2, ensure_ascii=False))
        return
    from practice_finder.cli.report import info_text

    click.echo(info_text(data))


@cli.command()
@click.argument("query")
@click.option(
    "--k", "k", type=int, default=10, show_default=True, help="Number of results (1-100)."
)
@click.option(
    "--country", multiple=True, help="Only practices from this country code (repeatable), e.g. LV."
)
@click.option(
    "--mode", type=click.Choice(["hybrid", "dense", "lexical"]), default="hybrid", show_default=True
)
@index_option
@json_option
def search(
    query: str, k: int, country: tuple[str, ...], mode: str, index_dir: Path | None, as_json: bool
) -> None:
    """Find good practices for a challenge described in your own words."""
    from practice_finder.cli.report import search_text
    from practice_finder.query.filters import Filters
    from practice_finder.query.handle import open_index
    from practice_finder.query.search import SearchQuery
    from practice_finder.query.search import search as run_search

    settings = _settings(index_dir=index_dir)
    request = SearchQuery(
        query, k=k, mode=mode, filters=Filters(country=tuple(c.upper() for c in country))
    )
    index = open_index(settings, _embedder_factory(settings))
    result = run_search(index, request)
    if as_json:
        click.echo(json.dumps(msgspec.to_builtins(result), indent=2, ensure_ascii=False))
        return
    click.echo(search_text(result))


@cli.command(name="eval")
@click.option(
    "--beir",
    "beir_path",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="A dataset in BEIR layout (corpus.jsonl, queries.jsonl, qrels/test.tsv), e.g. ../shared/eval/scifact.",
)
@click.option(
    "--domain",
    "domain_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Evaluate the current build on a domain question set [e.g. eval/domain].",
)
@click.option(
    "--mode",
    "modes",
    multiple=True,
    type=click.Choice(["hybrid", "dense", "lexical"]),
    help="Modes to run (repeatable) [default: all three].",
)
@click.option(
    "--sample-docs",
    type=int,
    default=None,
    help="BEIR only: keep the judged documents plus random others up to N.",
)
@click.option(
    "--rrf-k",
    type=int,
    default=None,
    help="Constant of reciprocal rank fusion, for searches with PF_FUSION=ranks "
    "[default: 60, env PF_RRF_K].",
)
@click.option(
    "--keep-index",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="BEIR only: build the benchmark's index here and keep it; a later run with the same data reuses it.",
)
@click.option(
    "--lang",
    default=None,
    help="Domain only: evaluate the set's translation into this language (translations/queries.<lang>.jsonl).",
)
@click.option(
    "--explain",
    is_flag=True,
    help="Domain only: for each question, the relevant practices the hybrid ranking missed and where each leg put them.",
)
@index_option
@json_option
def eval_(
    beir_path: Path | None,
    domain_dir: Path | None,
    modes: tuple[str, ...],
    sample_docs: int | None,
    rrf_k: int | None,
    keep_index: Path | None,
    lang: str | None,
    explain: bool,
    index_dir: Path | None,
    as_json: bool,
) -> None:
    """Measure nDCG@10, Recall@100 and MRR@10 per mode on a benchmark or the domain set."""
    from practice_finder.cli.report import eval_text
    from practice_finder.evaluation.relevance import beir_eval, domain_eval

    if (beir_path is None) == (domain_dir is None):
        raise click.UsageError("give exactly one of --beir PATH or --domain DIR")
    if beir_path is not None and (lang or explain):
        raise click.UsageError("--lang and --explain apply to --domain DIR only")
    settings = _settings(index_dir=index_dir, rrf_k=rrf_k, progress=False)
    chosen = modes or ("hybrid", "dense", "lexical")
    if beir_path is not None:
        result = beir_eval(
            beir_path, settings, _embedder_factory(settings), chosen, sample_docs, keep_index
        )
    else:
        assert domain_dir is not None
        result = domain_eval(
            settings, _embedder_factory(settings), domain_dir, chosen, lang, explain
        )
    click.echo(json.dumps(result, indent=2, ensure_ascii=False) if as_json else eval_text(result))


@cli.command()
@click.option(
    "--host", default=None, help="Address to listen on [default: 127.0.0.1, env PF_HOST]."
)
@click.option("--port", type=int, default=None, help="Port [default: 8000, env PF_PORT].")
@click.option(
    "--workers",
    type=int,
    default=1,
    show_default=True,
    help="Worker processes (each loads the model and index).",
)
@index_option
def serve(host: str | None, port: int | None, workers: int, index_dir: Path | None) -> None:
    """Run the web service and JSON API (docs at /schema/swagger)."""
    import os

    import uvicorn

    settings = _settings(host=host, port=port, index_dir=index_dir)
    # workers build their settings from the environment
    os.environ["PF_INDEX_DIR"] = str(settings.index_dir)
    if (
        workers > 1 and not settings.threads
    ):  # share the cores between workers instead of oversubscribing them
        os.environ["PF_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
    click.echo(
        f"Serving on http://{settings.host}:{settings.port}/ (API docs: /schema/swagger)", err=True
    )
    from practice_finder.web.logs import uvicorn_log_config
    from practice_finder.web.server import uvicorn_options

    uvicorn.run(
        "practice_finder.web.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level="info",
        access_log=False,
        log_config=uvicorn_log_config(),
        **uvicorn_options(settings),
    )


state_option = click.option(
    "--state",
    "state_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="State folder holding the write log [default: state/, env PF_STATE_DIR].",
)
kind_option = click.option(
    "--kind",
    type=click.Choice(["practices", "cities", "plans"]),
    default=None,
    help="The kind of record: a CSV or JSONL file holds one [default: practices]; "
    "for an XLSX workbook, only this sheet [default: every sheet].",
)


@cli.command(name="import")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@kind_option
@click.option("--dry-run", is_flag=True, help="Check every row and report; write nothing.")
@corpus_option
@state_option
@json_option
def import_(
    file: Path,
    kind: str | None,
    dry_run: bool,
    corpus_dir: Path | None,
    state_dir: Path | None,
    as_json: bool,
) -> None:
    """Add or replace records from a CSV, XLSX or JSONL file: all rows or none, through the write log
    (a running service re-indexes by itself)."""
    from practice_finder.corpus.catalog import KINDS, Catalog
    from practice_finder.corpus.staff_files import import_file

    settings = _settings(corpus_dir=corpus_dir, state_dir=state_dir)
    catalog = Catalog(settings.corpus_dir, settings.state_dir)
    report = import_file(catalog, file, KINDS[kind] if kind else None, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(msgspec.to_builtins(report), indent=2))
        return
    from practice_finder.cli.report import import_text

    click.echo(import_text(report))


@cli.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "xlsx", "jsonl"]),
    default="xlsx",
    show_default=True,
    help="xlsx: one sheet per kind; csv and jsonl: one kind.",
)
@kind_option
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="File to write [default: standard output; needed for xlsx].",
)
@corpus_option
@state_option
def export(
    fmt: str,
    kind: str | None,
    output: Path | None,
    corpus_dir: Path | None,
    state_dir: Path | None,
) -> None:
    """Write every record, writes not yet indexed and contacts included, as a file for staff to edit
    and import again (XLSX: one sheet per kind; CSV and JSONL: one kind)."""
    from practice_finder.corpus.catalog import KINDS, Catalog
    from practice_finder.corpus.staff_files import export_file
    from practice_finder.models import RECORD_TYPES

    if fmt == "xlsx" and output is None:
        raise click.UsageError("an xlsx workbook needs --output FILE.xlsx")
    settings = _settings(corpus_dir=corpus_dir, state_dir=state_dir)
    catalog = Catalog(settings.corpus_dir, settings.state_dir)
    kinds = [KINDS[kind]] if kind else list(RECORD_TYPES) if fmt == "xlsx" else ["practice"]
    data = export_file(catalog, fmt, kinds)
    if output is None:
        sys.stdout.buffer.write(data)
        return
    output.write_bytes(data)
    click.echo(f"Wrote {output} ({len(data):,} bytes).", err=True)


@cli.group()
def writes() -> None:
    """Look after the write log (state/writes.db)."""


@writes.command()
@corpus_option
@index_option
@json_option
def reseed(corpus_dir: Path | None, index_dir: Path | None, as_json: bool) -> None:
    """Bring a lost or older write log up to the served build (the service refuses writes until then)."""
    from practice_finder.build.reseed import reseed as run_reseed

    report = run_reseed(_settings(corpus_dir=corpus_dir, index_dir=index_dir))
    if as_json:
        click.echo(json.dumps(asdict(report), indent=2))
        return
    click.echo(
        f"Write log re-seeded from build {report.build} (writes up to {report.build_seq}): "
        f"{report.put} record(s) logged as written, {report.deleted} as deleted; "
        f"the log ended at {report.log_seq_before} and now ends at {report.log_seq}."
    )


@cli.command()
def key() -> None:
    """Make a new API key: give the key to the client, put the digest in PF_ADMIN_KEYS or PF_READ_KEYS."""
    from practice_finder.web.auth import new_key

    secret, digest = new_key()
    click.echo(f"key:    {secret}\ndigest: {digest}")


cli.add_command(staff)


def main() -> None:
    cli(prog_name="practice-finder")


if __name__ == "__main__":
    main()
