"""Similarity by topic across languages: language means taken out of the vectors (query/topics.py), peers'
plan similarity made comparable across languages, and the measure of similar practices sharing a challenge."""

from __future__ import annotations

import numpy as np
import pytest

from practice_finder.evaluation.similarity import practice_figures, topic_agreement
from practice_finder.query import topics
from practice_finder.query.handle import Index


def unit(rows: list[list[float]]) -> np.ndarray:
    matrix = np.array(rows, dtype=np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


# Two topics (first two axes) written in two languages, each language adding its own offset (last axes),
# larger than the difference between the topics: raw cosine pairs texts by language.
TOPIC = {"a": [1.0, 0.0], "b": [0.0, 1.0]}
OFFSET = {"en": [2.0, 0.0], "lv": [0.0, 2.0]}
ROWS = [("en", "a"), ("en", "b"), ("lv", "a"), ("lv", "b")]
VECTORS = unit([TOPIC[t] + OFFSET[lang] for lang, t in ROWS])
LANGUAGES = np.array([lang for lang, _ in ROWS])
OWNER = np.arange(len(ROWS))


def test_raw_vectors_pair_by_language_and_centred_ones_by_topic() -> None:
    latvian_a = 2

    def nearest_other(space: np.ndarray) -> int:
        similarity = space @ space[latvian_a]
        similarity[latvian_a] = -np.inf
        return int(np.argmax(similarity))

    assert nearest_other(VECTORS.copy()) == 3  # the other Latvian text, on the other topic
    means = topics.language_means(VECTORS, LANGUAGES, OWNER)
    space = topics.centred(VECTORS, LANGUAGES, means)
    assert np.allclose(np.linalg.norm(space, axis=1), 1.0)
    assert nearest_other(space) == 0  # the English text on the same topic


def test_a_language_of_one_record_is_centred_on_the_mean_of_all() -> None:
    languages = np.array(["en", "en", "lv", "lv"])
    owner = np.array([0, 1, 2, 2])  # the two Latvian rows are passages of one record
    means = topics.language_means(VECTORS, languages, owner)
    assert np.allclose(means["lv"], VECTORS.mean(axis=0))
    assert np.allclose(means["en"], VECTORS[:2].mean(axis=0))


def test_a_row_equal_to_its_language_mean_becomes_zero_not_nan() -> None:
    vectors = unit([[1.0, 0.0], [0.0, 1.0]])
    space = topics.centred(
        vectors, np.array(["en", "lv"]), {"en": vectors[0], "lv": np.zeros(2, np.float32)}
    )
    assert np.array_equal(space[0], [0.0, 0.0]) and np.allclose(space[1], [0.0, 1.0])


def test_best_per_owner_keeps_each_owners_best_row_best_first() -> None:
    owners, best = topics.best_per_owner(
        np.array([0, 1, 0, 2, 1]), np.array([0.1, 0.5, 0.9, 0.3, 0.2])
    )
    assert owners.tolist() == [0, 1, 2] and best.tolist() == [0.9, 0.5, 0.3]


def test_topic_space_finds_the_same_topic_in_another_language_and_never_itself() -> None:
    whole = np.ones(len(ROWS), dtype=bool)
    space = topics.TopicSpace.of(VECTORS, OWNER, LANGUAGES, whole)
    owners, similarity = space.nearest(2)
    assert 2 not in owners.tolist() and owners[0] == 0
    assert np.all(np.diff(similarity) <= 0)


def test_relative_to_language_gives_each_language_the_overall_median() -> None:
    similarity = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    language = np.array(["en", "en", "en", "lv", "lv", "lv"])
    moved = topics.relative_to_language(similarity, language)
    overall = float(np.median(similarity))
    assert np.isclose(np.median(moved[:3]), overall) and np.isclose(np.median(moved[3:]), overall)
    assert np.allclose(moved[:3] - moved[:3].mean(), similarity[:3] - similarity[:3].mean())


def test_relative_to_language_leaves_one_language_as_it_is() -> None:
    similarity = np.array([0.9, 0.8, 0.7, 0.2])
    assert np.allclose(topics.relative_to_language(similarity, np.array(["en"] * 4)), similarity)


def test_a_language_with_too_few_candidates_keeps_its_values() -> None:
    similarity = np.array([0.9, 0.8, 0.7, 0.2])
    moved = topics.relative_to_language(similarity, np.array(["en", "en", "en", "lv"]))
    assert moved[3] == pytest.approx(0.2)
    assert moved[:3] == pytest.approx(similarity[:3] + np.median(similarity) - 0.8)


def test_practice_figures_count_shared_challenges_and_language() -> None:
    challenges = {"x": frozenset({"loneliness"}), "y": frozenset({"flood"}), "z": frozenset()}
    language = {"x": "lv", "y": "en", "z": "lv"}
    figures = practice_figures(
        ["x", "y", "z"], frozenset({"loneliness", "ageing"}), challenges, language, "lv", k=4
    )
    assert (
        figures["on_topic"] == 0.25
    )  # one of four places (a missing suggestion counts as off topic)
    assert figures["same_language"] == 0.5
    assert figures["on_topic_mean_over_k"] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)


def test_similar_practices_not_in_english_follow_the_topic_nearly_as_the_english_ones(
    real_index: Index,
) -> None:
    """Before the language means were taken out, a practice not in English got mostly practices in its own
    language (0.39 of them on a shared challenge, against 0.68 for the English ones; 0.29 at random)."""
    groups = topic_agreement(real_index, k=5)
    other, english = groups["other"], groups["en"]
    assert other["practices"] == 34
    assert other["on_topic"] >= 0.5 and other["on_topic"] >= 0.7 * english["on_topic"], groups
    assert other["same_language"] < 0.2, groups
