"""What moving a question by its language's offset does on text unrelated to the corpus: Tatoeba top-1.

    .venv/bin/python scripts/eval_offsets.py --index indexes --tatoeba ../shared/eval/tatoeba [--share 0.25 ...]

For each language of the region, 1,000 Tatoeba sentences are encoded as questions with the build's
question graph and moved by `share` times their language's offset (as measured by the build,
build/offsets.py); their English translations are encoded as passages with the build's passage graph, as
the service encodes practices. Prints the share of sentences whose nearest English sentence is their
own translation, for each `share` (0: the question as the model encodes it). The offsets were measured on
the taxonomy's labels only, so these sentences are text they have never seen. `--centring 0.5` takes that
share of the build's common question direction off every sentence too, as the service does with
multilingual-e5-small's questions.

With `--vocabulary challenges --vocabulary target_groups` the offsets are measured again from those
vocabularies' terms alone (the ones labelled in Russian and Ukrainian too) and used instead, and each
one's cosine to the build's is printed: how much an offset depends on which terms it is measured on.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from practice_finder.build import offsets as language_offsets
from practice_finder.build import onnx_encoder, store, versions
from practice_finder.evaluation.relevance import TATOEBA_CODES, load_tatoeba
from practice_finder.models import Taxonomy
from practice_finder.query.handle import load_taxonomy

BATCH = 32  # rows per run: the figures compare shares, so the batch's int8 scales do not matter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, default=Path("indexes"))
    parser.add_argument("--tatoeba", type=Path, required=True, help="e.g. ../shared/eval/tatoeba")
    parser.add_argument("--share", type=float, action="append")
    parser.add_argument("--vocabulary", action="append", help="measure the offsets on these only")
    parser.add_argument(
        "--centring",
        type=float,
        default=0.0,
        help="share of the build's common question direction taken off every sentence as well",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    shares = args.share or [0.0, 0.25, 0.5, 1.0]
    build = versions.require_current(args.index)
    manifest = versions.read_manifest(build)
    info = manifest.query_encoder
    if info is None:
        raise SystemExit(
            "the build has no ONNX export: run `practice-finder ingest` with a shipped model"
        )
    name, dimension = manifest.model.name, manifest.model.dimension
    questions = onnx_encoder.OnnxEmbedder(name, dimension, build, info, 0, True, batch=BATCH)
    passages = onnx_encoder.OnnxEmbedder(name, dimension, build, info, 0, False, batch=BATCH)
    measured = store.directions(build / "store.db")
    if measured is None:
        raise SystemExit("the build has no language offsets: run `practice-finder ingest` again")
    offsets = {o.language: o.vector for o in measured.offsets}
    if args.vocabulary:
        built = offsets
        taxonomy = _only(_taxonomy(build), args.vocabulary)
        encode = language_offsets.encoder_of(questions.encode)
        offsets = {
            o.language: o.vector
            for o in language_offsets.language_offsets(encode, taxonomy).offsets
        }
        for lang, vector in offsets.items():
            cosine = float(
                vector @ built[lang] / np.linalg.norm(vector) / np.linalg.norm(built[lang])
            )
            print(f"{lang}: cosine to the build's offset {cosine:.3f}")
    out: dict[str, dict[str, float]] = {}
    print(f"{name}, build {build.name}\nlanguage " + "".join(f"{s:>9}" for s in shares))
    for lang in TATOEBA_CODES:
        if lang not in offsets:
            continue
        sentences, english = load_tatoeba(args.tatoeba, lang)
        asked = questions.encode(sentences, kind="query")
        targets = passages.encode(english, kind="passage")
        row = {}
        for share in shares:
            moved = asked + share * offsets[lang]
            if args.centring and measured.common is not None:
                moved = moved - args.centring * measured.common
            moved /= np.linalg.norm(moved, axis=1, keepdims=True)
            best = np.argmax(moved @ targets.T, axis=1)
            row[str(share)] = round(float(np.mean(best == np.arange(len(sentences)))), 3)
        out[lang] = row
        print(f"{lang:8} " + "".join(f"{v:9.3f}" for v in row.values()), flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1), encoding="utf-8")


def _taxonomy(build: Path) -> Taxonomy:
    db = store.connect(build / "store.db")
    try:
        return load_taxonomy(db)
    finally:
        db.close()


def _only(taxonomy: Taxonomy, vocabularies: list[str]) -> Taxonomy:
    return Taxonomy(
        vocabularies={v: t for v, t in taxonomy.vocabularies.items() if v in vocabularies}
    )


if __name__ == "__main__":
    main()
