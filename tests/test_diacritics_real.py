"""The domain questions typed without their letters' marks find about what the written ones find, with the
default model (docs/benchmarks.md#questions-typed-without-diacritics)."""

from __future__ import annotations

from pathlib import Path

import pytest

from practice_finder.evaluation.relevance import (
    evaluate,
    load_domain,
    load_translations,
    without_marks,
)

DOMAIN = Path(__file__).resolve().parents[1] / "eval" / "domain"


def test_without_marks_means_what_a_keyboard_without_them_types() -> None:
    assert (
        without_marks("Mūsų młodzież, søster, Kæmpe Straße")
        == "Musu mlodziez, soster, Kaempe Strasse"
    )


@pytest.mark.parametrize("lang", ["lv", "et", "lt", "pl", "fi"])
def test_questions_typed_without_marks_rank_nearly_as_well_as_written_ones(
    real_index, lang: str
) -> None:  # type: ignore[no-untyped-def]
    _, qrels = load_domain(DOMAIN)
    written = load_translations(DOMAIN)[lang]
    plain = {qid: without_marks(text) for qid, text in written.items()}
    assert sum(plain[q] != written[q] for q in written) > len(written) // 2
    as_written = evaluate(real_index, written, qrels, ["hybrid"])["hybrid"]["nDCG@10"]
    as_typed = evaluate(real_index, plain, qrels, ["hybrid"])["hybrid"]["nDCG@10"]
    # without the restored marks, Latvian fell to 0.66 of its written figure, Estonian to 0.76
    assert as_typed >= 0.9 * as_written, (as_typed, as_written)
