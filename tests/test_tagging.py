"""Tagging free text with taxonomy terms, and the language helpers behind it."""

from __future__ import annotations

import pytest

from practice_finder.corpus.folder import load_taxonomy
from practice_finder.languages import LABEL_LANGUAGES
from practice_finder.models import Taxonomy, Term
from practice_finder.text import lemmas, pipelines, tagging
from practice_finder.text.reading import read_text
from practice_finder.text.snippets import mark

from .conftest import CORPUS


@pytest.fixture(scope="module")
def tagger() -> tagging.Tagger:
    return tagging.Tagger(load_taxonomy(CORPUS / "taxonomy.yaml"))


def _terms(tagger: tagging.Tagger, text: str, lang: str = "en", **options: bool) -> set[str]:
    return {hit.term for hit in tagger.tag_texts([text], lang, **options)}


def test_described_loneliness_is_tagged(tagger: tagging.Tagger) -> None:
    assert "loneliness" in _terms(
        tagger, "Many pensioners in the villages feel lonely since the shop closed."
    )


def test_inflected_english_matches_by_lemma(tagger: tagging.Tagger) -> None:
    assert "youth-out-migration" in _terms(
        tagger, "Young people leaving for university rarely come back."
    )
    assert "library" in _terms(tagger, "Both libraries opened on Sundays.")


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("pl", "Samotność seniorów na wsi"),
        ("fi", "Yksinäisyys on kasvanut"),
        ("de", "Einsamkeit im Alter"),
        ("sv", "Ensamhet bland äldre"),
    ],
)
def test_region_languages_tag_loneliness(tagger: tagging.Tagger, lang: str, text: str) -> None:
    assert "loneliness" in _terms(tagger, text, lang)


def test_an_english_label_in_another_language_matches_only_as_written(
    tagger: tagging.Tagger,
) -> None:
    # "River" by the Swedish stemmer would be "riv", the stem of "riva" (to demolish)
    assert "river" not in _terms(tagger, "Kommunen vill riva den gamla fabriken.", "sv")
    assert "older-people" in _terms(tagger, "Aktiviteter för Older People i byn.", "sv")


@pytest.mark.parametrize(
    ("lang", "text", "term"),
    [
        ("de", "Die Bürger der Stadt treffen sich im Rathaus.", "manor-castle"),
        ("da", "Borgerne mødes på biblioteket.", "manor-castle"),
        ("de", "Wir gestalten die Haushalte neu.", "older-people"),
    ],
)
def test_a_label_whose_stem_is_a_common_word_is_not_listed(
    tagger: tagging.Tagger, lang: str, text: str, term: str
) -> None:
    # "Burg" and "borg" share their stems with "Bürger" and "borgere"; "Ältere" stems to "alt"
    assert term not in _terms(tagger, text, lang, compounds=True, apart=True)


def test_a_stem_shorter_than_a_compound_part_is_not_matched_inside_words(
    tagger: tagging.Tagger,
) -> None:
    # "Eltern" stems to "elt", which ended "entwickelte" and "handelten"
    text = "Die Gemeinde entwickelte ein Konzept, und alle handelten schnell."
    assert "families" not in _terms(tagger, text, "de", compounds=True)
    assert "families" in _terms(tagger, "Ein Abend für Eltern.", "de")


def test_a_stem_that_is_a_stop_word_does_not_match_the_stop_word(tagger: tagging.Tagger) -> None:
    # "menighet" (congregation) stems to "men", which is also the word for "but"
    text = "Vi har et bibliotek, men ingen møteplass for de unge."
    assert "church-heritage" not in _terms(tagger, text, "nb", compounds=True, apart=True)
    assert "church-heritage" in _terms(tagger, "Menigheten eier kirken.", "nb")


def test_a_stop_word_is_matched_only_as_written(tagger: tagging.Tagger) -> None:
    # Finnish "kyllä" (yes) stems as "kylät" (villages) does
    assert "rural-residents" not in _terms(tagger, "Kyllä, me voimme tehdä sen.", "fi")
    assert "rural-residents" in _terms(tagger, "Kylät tyhjenevät.", "fi")


@pytest.mark.parametrize(
    ("lang", "text", "term", "label"),
    [
        # Lithuanian "negalia" (disability) stemmed as "negali" (cannot) does
        (
            "lt",
            "Jie negali rasti savanorių.",
            "people-with-disabilities",
            "Renginiai žmonėms su negalia.",
        ),
        # Danish "samer" (the Sami) stemmed as "samme" (same) and "sammen" (together) do
        (
            "da",
            "Vi mødes på samme tid, sammen med naboerne.",
            "minorities",
            "Et projekt med det samiske folk.",
        ),
    ],
)
def test_a_common_word_is_not_read_as_a_label_that_stems_alike(
    tagger: tagging.Tagger, lang: str, text: str, term: str, label: str
) -> None:
    assert term not in _terms(tagger, text, lang, compounds=True, apart=True)
    assert term in _terms(tagger, label, lang, compounds=True, apart=True)


def test_unrelated_text_gets_no_challenge(tagger: tagging.Tagger) -> None:
    hits = tagger.tag("The invoice was paid on Tuesday.", "en")
    assert not [h for h in hits if h.vocabulary == "challenges"]


def test_hits_count_mentions_and_keep_a_phrase(tagger: tagging.Tagger) -> None:
    hit = next(
        h
        for h in tagger.tag("The choir sang. Later a second choir joined.", "en")
        if h.term == "choir"
    )
    assert hit.count == 2 and hit.phrase == "choir"


def test_passages_group_sentences_within_limit() -> None:
    text = " ".join(f"Sentence number {i} has a few words in it." for i in range(30))
    chunks = pipelines.passages(text, "en", max_words=40)
    assert len(chunks) > 3
    assert all(len(c.split()) <= 40 for c in chunks)
    assert " ".join(chunks) == text


def test_markdown_lists_split_into_sentences() -> None:
    assert pipelines.sentences("Intro line.\n\n- first item\n- second item", "en") == [
        "Intro line.",
        "first item",
        "second item",
    ]


def test_content_words_drop_stop_words() -> None:
    assert pipelines.content_words("How can we keep the young people in our town?", "en") == [
        "young",
        "people",
        "town",
    ]


def test_mark_matches_stems_and_escapes() -> None:
    assert (
        mark("Leaving <b>towns</b>", ["leave", "town"])
        == "<mark>Leaving</mark> &lt;b&gt;<mark>towns</mark>&lt;/b&gt;"
    )


def test_lemma_tables_where_spacy_has_them_and_base_forms_elsewhere() -> None:
    assert pipelines.has_lemmas("en") and pipelines.has_lemmas("de")
    assert "pf_base_forms" not in pipelines.pipeline("de").pipe_names  # spaCy's own table
    for lang in ("fi", "et", "lv", "pl"):
        assert pipelines.has_lemmas(lang) == lemmas.analysed(lang)


def test_content_words_keep_numbers_and_mixed_tokens() -> None:
    assert pipelines.content_words("p53 levels in type 1 diabetes since 2018", "en") == [
        "p53",
        "levels",
        "type",
        "1",
        "diabetes",
        "2018",
    ]


def test_tagging_from_many_threads_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service tags queries in worker threads; the first requests may all arrive before spaCy is loaded."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(pipelines, "_PIPELINES", {})
    fresh = tagging.Tagger(load_taxonomy(CORPUS / "taxonomy.yaml"))
    texts = [
        "lonely pensioners in the villages",
        "young people leave",
        "storm surge",
        "empty shops and a library",
    ] * 8

    def tag(text: str) -> set[str]:
        return {h.term for h in fresh.tag(text, "en")} | set(pipelines.content_words(text, "en"))

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(tag, texts))
    assert all("loneliness" in r for r in results[::4])
    assert all("youth-out-migration" in r for r in results[1::4])


def _lonely_taxonomy() -> Taxonomy:
    term = Term(
        id="loneliness",
        vocabulary="challenges",
        label="Loneliness",
        synonyms=("lonely",),
        everyday=("nobody to talk to",),
        labels={"de": ("Einsamkeit",)},
        everyday_labels={"de": ("niemanden zum Reden",)},
    )
    return Taxonomy({"challenges": {"loneliness": term}})


def test_everyday_wordings_are_read_in_questions_but_tag_no_record_or_plan() -> None:
    tagger = tagging.Tagger(_lonely_taxonomy())
    text = "Since the shop closed, many pensioners have nobody to talk to."
    # a record (a practice's text) is tagged with the label and synonyms only, and so is a plan
    assert _terms(tagger, text) == set()
    assert _terms(tagger, "A lonely winter.") == {"loneliness"}
    assert read_text(tagger, text).understood == {}
    # a question is read with the everyday wordings too, also when it is in another language
    assert _terms(tagger, text, everyday=True) == {"loneliness"}
    assert read_text(tagger, text, question=True).understood == {"challenges": ["loneliness"]}
    mixed = "Viele Rentner im Dorf haben nobody to talk to, sagt die Gemeinde."
    assert "loneliness" in read_text(tagger, mixed, question=True).understood.get("challenges", [])
    # each language reads its own: the English wordings are not German ones
    assert tagging.Tagger(_lonely_taxonomy()).tag_texts([text], "de", everyday=True) == []
    german = "Seit der Laden zu ist, haben viele Rentner niemanden zum Reden."
    assert _terms(tagger, german, lang="de") == set()
    assert _terms(tagger, german, lang="de", everyday=True) == {"loneliness"}
    assert read_text(tagger, german).understood == {}
    assert read_text(tagger, german, question=True).understood == {"challenges": ["loneliness"]}


def test_each_everyday_wording_names_one_term_in_its_language() -> None:
    """An everyday wording is new to its language's lists and belongs to one term only: a phrase that
    is also another term's label or wording would make a question read both."""
    taxonomy = load_taxonomy(CORPUS / "taxonomy.yaml")
    languages = {lang for term in taxonomy.terms() for lang in term.everyday_labels}
    assert languages == set(LABEL_LANGUAGES)
    for lang in languages:
        owners: dict[str, set[tuple[str, str]]] = {}
        for term in taxonomy.terms():
            for phrase in {*term.phrases(lang), *term.everyday_phrases(lang)}:
                owners.setdefault(phrase.lower(), set()).add((term.vocabulary, term.id))
        for term in taxonomy.terms():
            for phrase in term.everyday_phrases(lang):
                assert owners[phrase.lower()] == {(term.vocabulary, term.id)}, (lang, phrase)
                assert phrase.lower() not in {p.lower() for p in term.phrases(lang)}


def test_an_everyday_wording_ending_in_a_compounds_head_is_read(tagger: tagging.Tagger) -> None:
    """ "Pikkukylät tyhjenevät" (small villages empty) holds the everyday wording "kylät tyhjenevät"
    through the head of its compound, as a label would be."""
    text = "Pikkukylät tyhjenevät"
    assert "population-decline" not in _terms(tagger, text, "fi", compounds=True)
    assert "population-decline" in _terms(tagger, text, "fi", compounds=True, everyday=True)
