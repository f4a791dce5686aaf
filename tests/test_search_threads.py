"""A search reads its question's words on another thread while its own thread encodes the question
(query.search.read_while_encoding): the result must be what reading and encoding one after the other
gives, errors must reach the caller, and a single text's tokens must hold on to the GIL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from practice_finder.build.e5_weights import encodings
from practice_finder.build.ingest import ingest
from practice_finder.config import Settings
from practice_finder.errors import InvalidQueryError
from practice_finder.query import legs, matching, search
from practice_finder.query.handle import Index, open_index
from practice_finder.query.search import SearchQuery, retrieve

from .fakes import HashingEmbedder
from .test_dictionaries import WIKDICT, _with_dictionaries

POLISH = "samotność seniorów na wsi"
ENGLISH = "lonely older people in the villages"


@pytest.fixture
def index(tiny: Settings, fake_embedder: HashingEmbedder, tmp_path: Path) -> Iterator[Index]:
    """The tiny corpus built with a Polish dictionary, so that a Polish question has dictionary words."""
    settings = _with_dictionaries(tiny, tmp_path, freedict_pol_eng={"samotność": WIKDICT})
    ingest(settings, lambda: fake_embedder)
    opened = open_index(settings, lambda: fake_embedder)
    yield opened
    opened.close()


def _threads_of_question_words(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads `question_words` runs on from now on."""
    names: list[str] = []
    inner = search.question_words

    def recorded(*args: Any, **kwargs: Any) -> search.QuestionWords:
        names.append(threading.current_thread().name)
        return inner(*args, **kwargs)

    monkeypatch.setattr(search, "question_words", recorded)
    return names


@pytest.mark.parametrize(("text", "lang"), [(POLISH, "pl"), (ENGLISH, "en")])
def test_the_vectors_are_those_of_reading_then_encoding(index: Index, text: str, lang: str) -> None:
    query = SearchQuery(text, language_prior=lang)
    found = retrieve(index, query)
    assert found.main == lang
    assert bool(found.gloss) == (lang == "pl")
    written, qvec = legs.question_vectors(index, text, found.gloss, lang)
    assert found.qvec is not None
    np.testing.assert_allclose(found.qvec, qvec, atol=1e-6)
    # the tags leg reads the question's vector as written
    assert not np.allclose(written, qvec) or not found.gloss
    assert {"reading", "lexical", "encode", "dense"} <= set(found.timings)


def test_the_words_are_read_on_another_thread_only_when_the_question_is_encoded(
    index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = _threads_of_question_words(monkeypatch)
    here = threading.current_thread().name
    retrieve(index, SearchQuery(POLISH, mode="hybrid"))
    retrieve(index, SearchQuery(POLISH, mode="dense"))
    assert len(names) == 2 and all(n != here and n.startswith("pf-words") for n in names)
    retrieve(index, SearchQuery(POLISH, mode="lexical"))
    assert names[2:] == [here]
    # while another question of the process is being encoded, the cores are taken: one step at a time
    monkeypatch.setattr(index.admission, "_questions", 1)
    assert not index.admission.idle
    busy = retrieve(index, SearchQuery(POLISH))
    assert names[3:] == [here]
    monkeypatch.setattr(index.admission, "_questions", 0)
    assert busy.fused == retrieve(index, SearchQuery(POLISH)).fused


def test_modes_give_what_they_gave_one_step_after_the_other(index: Index) -> None:
    """The lexical leg read alongside the encoder is the lexical mode's own, and the dense leg that of the
    dense mode (before the feedback of a question not in English moves either)."""
    hybrid = retrieve(index, SearchQuery(POLISH), feedback=False)
    lexical = retrieve(index, SearchQuery(POLISH, mode="lexical"))
    dense = retrieve(index, SearchQuery(POLISH, mode="dense"))
    assert hybrid.scored["lexical"] == lexical.scored["lexical"]
    assert hybrid.scored["dense"] == dense.scored["dense"]


@pytest.mark.parametrize("text", [POLISH, ENGLISH])
def test_the_words_matched_alongside_are_those_the_match_set_finds(index: Index, text: str) -> None:
    found = retrieve(index, SearchQuery(text), match_words=True)
    assert found.matched_words is not None
    question = replace(found.question(), matched_words=None)
    assert found.matched_words == matching.lexical_matches(index, question)
    assert matching.match(index, found.question()) == matching.match(index, question)
    assert retrieve(index, SearchQuery(text)).matched_words is None


def test_an_error_while_reading_the_words_reaches_the_caller(
    index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> search.QuestionWords:
        raise InvalidQueryError("unreadable", "write it again")

    monkeypatch.setattr(search, "question_words", broken)
    with pytest.raises(InvalidQueryError, match="unreadable"):
        retrieve(index, SearchQuery(POLISH))


def test_searches_from_many_threads_at_once_agree_with_one_at_a_time(index: Index) -> None:
    texts = [POLISH, ENGLISH, "biblioteka", "choir for lonely men"] * 5
    alone = {t: retrieve(index, SearchQuery(t)).fused for t in set(texts)}
    got: dict[int, list[tuple[str, float]]] = {}

    def run(i: int, text: str) -> None:
        got[i] = retrieve(index, SearchQuery(text)).fused

    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(texts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(got[i] == alone[t] for i, t in enumerate(texts))


def test_one_text_is_tokenized_as_in_a_batch() -> None:
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from tokenizers.processors import TemplateProcessing

    vocab = {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "lonely": 3, "men": 4, "sing": 5}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)]
    )
    texts = ["lonely men sing", "men who sing"]
    for special in (True, False):
        batch = [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=special)]
        assert [e.ids for e in encodings(tokenizer, texts, special)] == batch
        assert [e.ids for e in encodings(tokenizer, texts[:1], special)] == batch[:1]
    assert encodings(tokenizer, texts[:1])[0].ids == [1, 3, 4, 5, 2]
