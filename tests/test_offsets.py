"""Language offsets: measured on the taxonomy's parallel labels at ingest, applied to questions in a language."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from practice_finder.build import offsets
from practice_finder.config import ENGLISH_MODEL, Settings
from practice_finder.errors import PracticeFinderError
from practice_finder.models import Taxonomy, Term
from practice_finder.query.handle import Index, Ranking, open_index
from practice_finder.query.legs import question_vector

DIM = 32
SHIFT = np.eye(DIM, dtype=np.float32)[0] * 0.8  # the stand-in encoder's "Latvian" direction


def _topic(text: str) -> np.ndarray:
    seed = int(hashlib.md5(text.encode()).hexdigest(), 16) % 2**32
    return np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)


def _encode(texts: list[str]) -> np.ndarray:
    """A stand-in multilingual encoder: a phrase is its term's topic, plus SHIFT when it is "Latvian"
    (written `lv:term:n`), plus a little of its own."""
    rows = []
    for text in texts:
        lang, term, n = text.split(":")
        vector = _topic(term) + 0.1 * _topic(text) + (SHIFT if lang == "lv" else 0)
        rows.append(vector / np.linalg.norm(vector))
    return np.array(rows)


def _taxonomy(terms: int, synonyms: int = 2, lv_terms: int | None = None) -> Taxonomy:
    made = {}
    for i in range(terms):
        labels = {"lv": tuple(f"lv:t{i}:{n}" for n in range(2))} if i < (lv_terms or terms) else {}
        made[f"t{i}"] = Term(
            id=f"t{i}",
            vocabulary="challenges",
            label=f"en:t{i}:0",
            synonyms=tuple(f"en:t{i}:{n}" for n in range(1, synonyms + 1)),
            labels=labels,
        )
    return Taxonomy(vocabularies={"challenges": made})


def test_the_offset_points_back_from_the_languages_shift() -> None:
    found = offsets.language_offsets(_encode, _taxonomy(40)).offsets
    assert [o.language for o in found] == ["lv"]
    (lv,) = found
    assert lv.terms == 40
    cosine = float(lv.vector @ -SHIFT / (np.linalg.norm(lv.vector) * np.linalg.norm(SHIFT)))
    assert cosine > 0.8, cosine  # unrelated directions in 32 dimensions: about 0.2 at most
    # a Latvian phrase moved by a share of its offset, as a question is, is nearer its English term
    phrase, english = _encode(["lv:t3:0"])[0], _encode(["en:t3:0"])[0]
    moved = phrase + Ranking.of(Settings()).language_offset * lv.vector
    assert float(moved @ english) / np.linalg.norm(moved) > float(phrase @ english)


def test_a_term_with_many_synonyms_counts_once() -> None:
    few = offsets.language_offsets(_encode, _taxonomy(30, synonyms=1)).offsets[0].vector
    many = offsets.language_offsets(_encode, _taxonomy(30, synonyms=12)).offsets[0].vector
    assert float(few @ many) / (np.linalg.norm(few) * np.linalg.norm(many)) > 0.98


def test_a_language_with_labels_for_few_terms_gets_no_offset() -> None:
    assert (
        offsets.language_offsets(_encode, _taxonomy(40, lv_terms=offsets.MIN_TERMS - 1)).offsets
        == []
    )
    assert (
        len(offsets.language_offsets(_encode, _taxonomy(40, lv_terms=offsets.MIN_TERMS)).offsets)
        == 1
    )


def test_the_common_direction_is_the_mean_of_the_english_terms() -> None:
    found = offsets.language_offsets(_encode, _taxonomy(30))
    assert found.terms == 30
    english = np.array(
        [_encode([f"en:t{i}:0", f"en:t{i}:1", f"en:t{i}:2"]).mean(0) for i in range(30)]
    )
    expected = (english / np.linalg.norm(english, axis=1, keepdims=True)).mean(0)
    assert np.allclose(found.common, expected, atol=1e-6)


MIXING = np.eye(DIM) + 0.6 * np.random.default_rng(5).standard_normal((DIM, DIM)) / np.sqrt(DIM)


def _encode_mixed(texts: list[str]) -> np.ndarray:
    """A stand-in encoder whose "Latvian" is a linear distortion of the topic (MIXING), not a shift."""
    rows = []
    for text in texts:
        lang, term, _ = text.split(":")
        vector = _topic(term) + 0.05 * _topic(text)
        if lang == "lv":
            vector = MIXING @ vector
        rows.append(vector / np.linalg.norm(vector))
    return np.array(rows)


def test_the_map_takes_a_term_it_never_saw_nearer_its_english_one() -> None:
    (lv,) = offsets.language_offsets(_encode_mixed, _taxonomy(60)).offsets
    assert lv.basis is not None and lv.towards is not None
    assert lv.basis.shape == lv.towards.shape == (60, DIM)
    for term in ("t500", "t501", "t502"):
        phrase, english = _encode_mixed([f"lv:{term}:0", f"en:{term}:0"])
        moved = phrase + 0.5 * lv.mapped(phrase)
        assert float(moved @ english) / np.linalg.norm(moved) > float(phrase @ english) + 0.02
    # the two factors give what the map's full form does: (X^T X + rI)^-1 X^T (Y - X)
    probe = _encode_mixed(["lv:t7:1"])[0]
    own = np.array([_encode_mixed([f"lv:t{i}:0", f"lv:t{i}:1"]).mean(0) for i in range(60)])
    own /= np.linalg.norm(own, axis=1, keepdims=True)
    eng = np.array(
        [_encode_mixed([f"en:t{i}:0", f"en:t{i}:1", f"en:t{i}:2"]).mean(0) for i in range(60)]
    )
    eng /= np.linalg.norm(eng, axis=1, keepdims=True)
    a = np.linalg.solve(own.T @ own + offsets.MAP_RIDGE * np.eye(DIM), own.T @ (eng - own))
    assert np.allclose(lv.mapped(probe), probe @ a, atol=1e-4)


def test_a_heavy_ridge_leaves_the_map_near_no_change() -> None:
    own = _encode_mixed([f"lv:t{i}:0" for i in range(30)])
    english = _encode_mixed([f"en:t{i}:0" for i in range(30)])
    _, towards = offsets.language_map(own, english, ridge=1e6)
    assert float(np.abs(towards).max()) < 1e-4


def test_the_shares_are_checked_settings() -> None:
    assert Ranking.of(Settings()).language_offset == 0.25
    # auto: the share measured for the model
    assert Ranking.of(Settings()).language_map == 0.5
    assert Ranking.of(Settings(model=ENGLISH_MODEL)).language_map == 0.0
    assert Ranking.of(Settings.from_env({"PF_LANGUAGE_MAP": "0"})).language_map == 0.0
    with pytest.raises(PracticeFinderError, match="PF_LANGUAGE_MAP='-0.5' is neither auto"):
        Ranking.of(Settings(language_map="-0.5"))
    assert Settings.from_env({"PF_LANGUAGE_OFFSET": "0"}).language_offset == 0.0
    with pytest.raises(PracticeFinderError, match="PF_LANGUAGE_OFFSET=1.5 is outside 0..1"):
        Ranking.of(Settings(language_offset=1.5))
    # auto: the share measured for the model
    assert Ranking.of(Settings()).question_centring == 0.5
    assert Ranking.of(Settings(model=ENGLISH_MODEL)).question_centring == 0.0
    assert Ranking.of(Settings.from_env({"PF_QUESTION_CENTRING": "0.2"})).question_centring == 0.2
    for wrong in ("half", "2"):
        with pytest.raises(PracticeFinderError, match="neither auto nor a share from 0 to 1"):
            Ranking.of(Settings(question_centring=wrong))


def test_the_build_measures_each_languages_offset(real_index: Index) -> None:
    made = real_index.manifest.language_offsets
    assert isinstance(made, dict) and made["encoder"].startswith("onnx-int8 ")
    region = {"da", "de", "et", "fi", "lt", "lv", "nb", "pl", "sv"}
    assert {lang for lang, n in made["languages"].items() if n == 103} == region
    assert set(real_index.language_offsets) == region | {"ru", "uk"}  # labelled for fewer terms
    assert set(real_index.language_maps) == set(made["maps"]) == region | {"ru", "uk"}
    assert real_index.language_maps["lv"].basis.shape == (103, 384)  # type: ignore[union-attr]
    assert "en" not in real_index.language_offsets
    assert made["common_terms"] == 103 and real_index.directions is not None
    # multilingual-e5-small's questions have much in common: the mean of the English terms is long
    assert float(np.linalg.norm(real_index.directions.common)) > 0.9


def _real_index_with(environ: dict[str, str], real: Settings, embedder) -> Index:  # type: ignore[no-untyped-def]
    """The real build opened again with the settings `environ` gives (the embedder shared)."""
    settings = Settings.from_env(environ, corpus_dir=real.corpus_dir, index_dir=real.index_dir)
    return open_index(settings, lambda: embedder)


def test_english_questions_lose_part_of_what_all_questions_share(
    real_index: Index,
    real_settings: Settings,
    real_embedder,  # type: ignore[no-untyped-def]
) -> None:
    plain = _real_index_with({"PF_QUESTION_CENTRING": "0"}, real_settings, real_embedder)
    assert real_index.ranking.question_centring == 0.5 and plain.ranking.question_centring == 0
    english = "young people leave for studies and do not come back"
    centred, encoded = question_vector(real_index, english), question_vector(plain, english)
    common = real_index.directions.common  # type: ignore[union-attr]
    assert float(centred @ common) < float(encoded @ common)
    assert abs(float(np.linalg.norm(centred)) - 1) < 1e-5
    plain.close()


@pytest.mark.parametrize("setting", ["PF_LANGUAGE_OFFSET", "PF_LANGUAGE_MAP"])
def test_a_latvian_question_moves_towards_english_and_an_english_one_stays(
    real_index: Index,
    real_settings: Settings,
    real_embedder,  # type: ignore[no-untyped-def]
    setting: str,
) -> None:
    """The language's offset and its map each move a Latvian question nearer its English version, and
    leave an English question as it is (the common direction is taken off both alike)."""
    still = _real_index_with({setting: "0"}, real_settings, real_embedder)
    assert getattr(still.ranking, setting.removeprefix("PF_").lower()) == 0.0
    english = "young people leave for studies and do not come back"
    latvian = "jaunieši aizbrauc studēt un neatgriežas"
    assert np.array_equal(question_vector(real_index, english), question_vector(still, english))
    moved, plain = (
        question_vector(real_index, latvian, lang="lv"),
        question_vector(still, latvian, lang="lv"),
    )
    assert abs(float(np.linalg.norm(moved)) - 1) < 1e-5
    assert 0.9 < float(moved @ plain) < 0.9999
    # towards English: nearer the English question than the Latvian one was
    target = question_vector(still, english)
    assert float(moved @ target) > float(plain @ target)
    still.close()


def test_the_store_keeps_the_maps_and_reads_a_build_without_them(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sqlite_utils

    from practice_finder.build import store

    found = offsets.language_offsets(_encode_mixed, _taxonomy(30))
    db = sqlite_utils.Database(tmp_path / "store.db")
    store.write_directions(db, found)
    db.conn.commit()
    (read,) = store.directions(tmp_path / "store.db").offsets  # type: ignore[union-attr]
    (made,) = found.offsets
    assert np.array_equal(read.vector, made.vector)
    assert np.array_equal(read.basis, made.basis) and np.array_equal(read.towards, made.towards)
    db["language_maps"].drop()
    db.conn.commit()
    (older,) = store.directions(tmp_path / "store.db").offsets  # type: ignore[union-attr]
    assert older.basis is None and older.towards is None
    assert not older.mapped(np.ones(DIM, dtype=np.float32)).any()
