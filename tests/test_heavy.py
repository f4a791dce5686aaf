"""Heavy requests (a town described in free text) beside searches: the text embedded is bounded, questions
are encoded first, heavy work has a few slots and a bounded queue, and a large body costs more of the
rate limit."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from litestar.testing import TestClient

from practice_finder.build.ingest import ingest
from practice_finder.config import Settings
from practice_finder.errors import BusyError
from practice_finder.query import admission
from practice_finder.query.admission import Admission, HeavyLimits
from practice_finder.web.app import create_app
from practice_finder.web.ratelimit import request_cost

from .conftest import CORPUS
from .fakes import HashingEmbedder, service_settings, write_tiny_corpus

LONG_TEXT = " ".join(
    ["Young people leave our small town and the older residents feel lonely in winter."] * 60
)


class RecordingEmbedder(HashingEmbedder):
    """The hashing embedder, keeping every text it was asked to encode."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def encode(
        self, texts: Sequence[str], *, kind: str = "passage", progress: bool = False
    ) -> np.ndarray:
        self.texts += list(texts)
        return super().encode(texts, kind=kind, progress=progress)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, RecordingEmbedder]:
    root = tmp_path_factory.mktemp("heavy")
    write_tiny_corpus(root / "corpus", CORPUS / "taxonomy.yaml")
    embedder = RecordingEmbedder()
    settings = service_settings(root, auto_reindex=False)
    ingest(settings, lambda: embedder)
    return settings, embedder


def _client(built: tuple[Settings, RecordingEmbedder], **changes: Any) -> TestClient:
    settings, embedder = built
    return TestClient(create_app(settings.with_(**changes), lambda: embedder, watch=False))


def _profile(text: str = LONG_TEXT) -> dict[str, Any]:
    return {"profile": {"text": text, "population": 4000}, "k": 2}


def test_only_the_start_of_a_long_text_is_embedded_and_the_answer_says_so(
    built: tuple[Settings, RecordingEmbedder],
) -> None:
    _, embedder = built
    with _client(built, profile_embed_chars=500) as client:
        embedder.texts.clear()
        answer = client.post("/v1/recommendations", json=_profile())
        assert answer.status_code == 200, answer.text
        cut = answer.json()["profile"]["text_cut"]
        assert 250 < cut["embedded_chars"] <= 500
        assert "PF_PROFILE_EMBED_CHARS" in cut["reason"] and str(len(LONG_TEXT)) in cut["reason"]
        passages = [t for t in embedder.texts if not t.startswith("A town facing")]
        assert passages and sum(len(t) for t in passages) <= 500
        assert answer.json()["profile"]["text_chars"] == len(LONG_TEXT)  # all of it was read
        short = client.post("/v1/peers", json=_profile("Young people leave our town."))
        assert short.status_code == 200 and short.json()["profile"]["text_cut"] is None


def test_the_form_says_when_only_the_start_of_the_text_was_used(
    built: tuple[Settings, RecordingEmbedder],
) -> None:
    with _client(built, profile_embed_chars=500) as client:
        page = client.post("/recommend", data={"text": LONG_TEXT}).text
        assert "Your text is long: its first" in page
        latvian = client.post("/recommend?lang=lv", data={"text": LONG_TEXT}).text
        assert "Jūsu teksts ir garš" in latvian
        short = client.post("/recommend", data={"text": "Young people leave our town."}).text
        assert "Your text is long" not in short


class Blocking:
    """An inner encoder whose question encodes wait for `release`; notes heavy texts run beside one."""

    name, dimension = "fake", 4

    def __init__(self) -> None:
        self.question_started = threading.Event()
        self.release = threading.Event()
        self.in_question = False
        self.beside: list[str] = []

    def encode(
        self, texts: Sequence[str], *, kind: str = "passage", progress: bool = False
    ) -> np.ndarray:
        if texts == ["question"]:
            self.in_question = True
            self.question_started.set()
            self.release.wait(30)
            self.in_question = False
        elif self.in_question:
            self.beside += list(texts)
        return np.ones((len(texts), self.dimension), dtype=np.float32)


def test_heavy_texts_wait_for_the_question_being_encoded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admission, "YIELD_SECONDS", 60.0)
    inner = Blocking()
    gate = Admission(inner)
    question = threading.Thread(target=gate.encode, args=(["question"],), kwargs={"kind": "query"})
    question.start()
    assert inner.question_started.wait(30)
    heavy = threading.Thread(target=gate.encode_behind, args=(["one", "two", "three"],))
    heavy.start()
    heavy.join(1.0)  # the chance to run beside the question, which a heavy text must not take
    inner.release.set()
    question.join(30)
    heavy.join(30)
    assert inner.beside == [] and not heavy.is_alive()


def test_heavy_work_beyond_the_slots_and_the_queue_is_refused_at_once() -> None:
    gate = Admission(HashingEmbedder(), HeavyLimits(slots=1, queue=0))
    with gate.heavy():
        with pytest.raises(BusyError) as refused, gate.heavy():
            pass
        assert refused.value.retry_after > 0
    with gate.heavy():  # the slot is free again
        assert gate.admitted == 1


def test_a_busy_service_answers_503_with_retry_after_and_searches_still_run(
    built: tuple[Settings, RecordingEmbedder],
) -> None:
    with _client(built, heavy_requests=1, heavy_queue=0) as client:
        index = client.app.state["service"].require()
        with index.admission.heavy():  # another request holds the only slot
            busy = client.post("/v1/recommendations", json=_profile())
            search = client.get("/v1/search", params={"q": "loneliness"})
            city = client.post("/v1/recommendations", json={"city": "testby", "k": 2})
        assert (
            busy.status_code == 503 and busy.headers["content-type"] == "application/problem+json"
        )
        assert busy.json()["type"] == "/problems/busy" and int(busy.headers["retry-after"]) > 0
        assert search.status_code == 200 and city.status_code == 200  # no free text: not heavy
        assert client.post("/v1/recommendations", json=_profile()).status_code == 200


def test_a_question_asked_again_is_not_encoded_again() -> None:
    inner, fresh = RecordingEmbedder(), HashingEmbedder()
    gate = Admission(inner, kept=2)
    first = gate.encode(["choir", "library"], kind="query")
    np.testing.assert_array_equal(first, fresh.encode(["choir", "library"], kind="query"))
    again = gate.encode(["library", "choir", "flood"], kind="query")
    assert inner.texts == ["choir", "library", "flood"]  # only the new one encoded
    np.testing.assert_array_equal(again[:2], first[::-1])
    np.testing.assert_array_equal(again[2], fresh.encode(["flood"], kind="query")[0])
    gate.encode(["library"], kind="query")  # room for two: "library", least recently used, went
    gate.encode(["flood", "flood"], kind="query")
    assert inner.texts == ["choir", "library", "flood", "library"]
    gate.encode(["choir"], kind="passage")  # passages and heavy work are never kept
    gate.encode_behind(["choir"])
    assert inner.texts[-2:] == ["choir", "choir"]
    assert gate.encode([], kind="query").shape == (0, inner.dimension)
    plain = RecordingEmbedder()
    Admission(plain).encode(["choir"], kind="query")  # keeps none unless told
    Admission(plain).encode(["choir"], kind="query")
    assert plain.texts == ["choir", "choir"]


def test_the_next_page_of_a_question_does_not_encode_it_again(
    built: tuple[Settings, RecordingEmbedder],
) -> None:
    settings, embedder = built
    question = "winter evenings against loneliness in a small town"
    with _client(built) as client:
        first = client.get("/v1/search", params={"q": question, "k": 1})
        encoded = embedder.texts.count(question)
        second = client.get("/v1/search", params={"q": question, "k": 1, "offset": 1})
        assert first.status_code == second.status_code == 200
        assert encoded >= 1 and embedder.texts.count(question) == encoded
        assert second.json()["offset"] == 1
    assert settings.question_vectors_kept > 0
    with _client(built, question_vectors_kept=0) as client:
        client.get("/v1/search", params={"q": question, "k": 1, "offset": 1})
    assert embedder.texts.count(question) == encoded + 1


def test_a_large_body_counts_as_several_requests(built: tuple[Settings, RecordingEmbedder]) -> None:
    body = _profile(LONG_TEXT[:4500])
    with _client(built, rate_limit=10, rate_limit_body_bytes=1000) as client:
        assert client.post("/v1/recommendations", json=body).status_code == 200  # 1 + 5 counted
        second = client.post("/v1/recommendations", json=body)  # 6 more would pass 10
        assert second.status_code == 429 and int(second.headers["retry-after"]) > 0
        assert client.get("/v1/search", params={"q": "loneliness"}).status_code == 200


def test_request_cost() -> None:
    assert request_cost([], 1000, 10_000) == 1
    assert request_cost([(b"content-length", b"1000")], 1000, 10_000) == 2
    assert request_cost([(b"content-length", b"1001")], 1000, 10_000) == 3
    assert request_cost([(b"transfer-encoding", b"chunked")], 1000, 10_000) == 11
    assert request_cost([(b"content-length", b"5000")], 0, 10_000) == 1
