"""Reading free text in any language: a draft plan is understood in every language of the region as in
English, a short or unsure question is read in its likely languages, and a string of no language is
read as none. Only the taxonomy and spaCy's pipelines are needed (no model, no index)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from practice_finder import languages
from practice_finder.corpus.folder import load_taxonomy
from practice_finder.evaluation.relevance import without_marks
from practice_finder.text import diacritics, lemmas, tagging
from practice_finder.text.reading import pieces, read_text

from .conftest import CORPUS

PLANS = Path(__file__).parent / "data" / "plans"
MIN_SHARE = 0.8  # of the English version's challenges and assets, found in a translation


@pytest.fixture(scope="module")
def tagger() -> tagging.Tagger:
    return tagging.Tagger(load_taxonomy(CORPUS / "taxonomy.yaml"))


def _plans() -> dict[str, dict[str, str]]:
    return {path.stem: yaml.safe_load(path.read_text("utf-8")) for path in PLANS.glob("*.yaml")}


def _challenges_and_assets(tagger: tagging.Tagger, text: str) -> set[tuple[str, str]]:
    understood = read_text(tagger, text).understood
    return {(v, t) for v in ("challenges", "assets") for t in understood.get(v, [])}


def test_every_plan_is_written_in_all_ten_languages() -> None:
    plans = _plans()
    assert len(plans) >= 3
    for name, versions in plans.items():
        assert set(versions) == set(languages.REGION_LANGUAGES), name


@pytest.mark.parametrize("lang", languages.LABEL_LANGUAGES)
def test_a_plan_typed_without_its_marks_is_understood_as_the_written_one(
    tagger: tagging.Tagger, lang: str
) -> None:
    """Of the challenges and assets found in the written plans, at least MIN_SHARE are found in the same
    plans typed without their letters' marks, once the marks are restored (without them: Latvian 0.31,
    Lithuanian 0.59, Polish 0.62)."""
    wanted = found = 0
    missing: dict[str, list[str]] = {}
    for name, versions in _plans().items():
        plain = without_marks(versions[lang])
        assert plain != versions[lang], name
        written = _challenges_and_assets(tagger, versions[lang])
        typed = _challenges_and_assets(tagger, diacritics.restored(plain))
        wanted, found = wanted + len(written), found + len(written & typed)
        missing[name] = sorted(t for _, t in written - typed)
    assert found / wanted >= MIN_SHARE, (f"{found}/{wanted}", missing)


def test_an_english_plan_is_read_as_english(tagger: tagging.Tagger) -> None:
    for name, versions in _plans().items():
        reading = read_text(tagger, versions["en"])
        assert reading.language == "en" and reading.languages == ("en",), name
        assert len(_challenges_and_assets(tagger, versions["en"])) >= 3, name


@pytest.mark.parametrize("lang", languages.LABEL_LANGUAGES)
def test_a_plan_is_understood_as_its_english_version(tagger: tagging.Tagger, lang: str) -> None:
    """Of the challenges and assets found in the English plans, at least MIN_SHARE are found in the
    translations into `lang`, read without being told their language."""
    wanted = found = 0
    missing: dict[str, list[str]] = {}
    for name, versions in _plans().items():
        reading = read_text(tagger, versions[lang])
        assert reading.language == lang, (name, reading.language)
        english = _challenges_and_assets(tagger, versions["en"])
        translated = _challenges_and_assets(tagger, versions[lang])
        wanted, found = wanted + len(english), found + len(english & translated)
        missing[name] = sorted(t for _, t in english - translated)
    assert found / wanted >= MIN_SHARE, (f"{found}/{wanted}", missing)


def test_a_plan_in_two_languages_is_read_in_both(tagger: tagging.Tagger) -> None:
    """Each part of a mixed text is read in its own language: a Latvian plan quoting an English strategy."""
    plans = _plans()["ageing-town"]
    latvian, english = plans["lv"].split("\n\n")[0], plans["en"].split("\n\n")[1]
    reading = read_text(tagger, f"{latvian}\n\n{english}")
    assert set(reading.languages) == {"lv", "en"}
    understood = reading.understood
    assert "loneliness" in understood["challenges"]  # from the Latvian part: "vientulība"
    assert "wooden-architecture" in understood["assets"]  # from the English part


def test_a_long_text_is_cut_into_pieces_of_whole_paragraphs() -> None:
    text = "\n\n".join(f"Paragraph {i} " + "word " * 30 for i in range(10))
    cut = pieces(text, min_chars=300)
    assert 1 < len(cut) < 10
    assert all(len(piece) >= 300 for piece in cut[:-1])
    assert " ".join(" ".join(cut).split()) == " ".join(text.split())


def test_an_empty_text_is_read_as_nothing(tagger: tagging.Tagger) -> None:
    reading = read_text(tagger, "  \n ")
    assert reading.language == languages.UNDETERMINED and not reading.hits and reading.main == "en"


# -- short and unsure questions ---------------------------------------------------------------------


@pytest.mark.parametrize("text", ["xkcdqwf zzvvbb", "qwrtz xkcd zzvvbb", "12345", "?!"])
def test_a_string_of_no_language_is_read_as_none(tagger: tagging.Tagger, text: str) -> None:
    guess = languages.guess(text, prior="pl")
    assert guess.language == languages.UNDETERMINED and guess.candidates == ()
    assert read_text(tagger, text, prior="pl").languages == ()


def test_short_words_and_abbreviations_are_not_taken_for_noise() -> None:
    assert languages.readable("EU") and languages.readable("w SPA") and languages.readable("tulva")


def test_an_unsure_question_is_read_in_its_likely_languages(tagger: tagging.Tagger) -> None:
    """'tulva' (Finnish: flood) is Estonian or Finnish to the detector: both are read, and the Finnish
    label finds the flood."""
    guess = languages.guess("tulva")
    assert guess.language == languages.UNDETERMINED
    assert {"fi", "et"} <= set(guess.candidates) and len(
        guess.candidates
    ) <= languages.MAX_CANDIDATES
    assert "climate-shocks" in read_text(tagger, "tulva").understood["challenges"]


def test_a_latvian_word_is_not_read_as_lithuanian_only() -> None:
    """'plūdi' (Latvian: floods) looks Lithuanian to the detector: Latvian stays a candidate, and on a
    Latvian page it is read as Latvian first."""
    assert "lv" in languages.guess("plūdi").candidates
    on_a_latvian_page = languages.guess("plūdi", prior="lv")
    assert on_a_latvian_page.language == "lv" and on_a_latvian_page.candidates[0] == "lv"


def test_an_unsure_reading_is_weighed_by_the_words_each_language_knows() -> None:
    """The letter statistics read German with a Latvian town's name as Latvian; the words German knows
    turn it round. A language the shares do not cover keeps its confidence; a sure reading is not asked."""
    text = "Jugendliche in Daugavpils und Fake News"
    assert languages.guess(text).candidates[0] == "lv"
    german = languages.guess(text, known=lambda _: {"de": 0.8, "lv": 0.2, "da": 0.5, "en": 0.5})
    assert german.candidates[0] == "de"
    unknown = languages.guess(text, known=lambda _: {})
    assert unknown == languages.guess(text)
    asked: list[str] = []
    sure = languages.guess("samotni owdowiali mężczyźni", known=lambda t: asked.append(t) or {})
    assert sure.language == "pl" and asked == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Jugendliche in Daugavpils und Fake News", "de"),  # read as Latvian by its letters alone
        ("Ida-Virumaa etter oljeskiferen", "nb"),  # as Estonian
        ("Ida-Virumaa po degiųjų skalūnų eros", "lt"),  # as Finnish
    ],
)
def test_a_short_question_is_read_in_the_language_that_knows_its_words(
    tagger: tagging.Tagger, text: str, expected: str
) -> None:
    assert read_text(tagger, text).main == expected


def test_the_share_of_known_words_counts_every_word_of_two_letters_or_more() -> None:
    from practice_finder.text import lemmas

    shares = lemmas.known_shares("Jugendliche in Daugavpils und Fake News")
    assert set(shares) == set(lemmas.KNOWN)
    assert shares["de"] == max(shares.values()) and shares["lv"] < 0.5
    assert lemmas.known_shares("12 / 7") == {}


def test_the_prior_joins_the_candidates_of_an_unsure_text_only() -> None:
    assert "sv" in languages.guess("Kuldiga", prior="sv").candidates
    sure = languages.guess("samotni owdowiali mężczyźni", prior="de")
    assert sure.language == "pl" and sure.candidates == ("pl",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Как удержать молодёжь в Нарве?", "ru"),
        ("Молодёжь уезжает из маленького города", "ru"),
        ("Як утримати молодь у маленькому місті?", "uk"),
    ],
)
def test_russian_and_ukrainian_are_recognised(text: str, expected: str) -> None:
    guess = languages.guess(text)
    assert guess.language == expected and guess.candidates[0] == expected


def test_a_question_in_russian_is_read_with_russian_stop_words_and_stems(
    tagger: tagging.Tagger,
) -> None:
    from practice_finder.text import pipelines
    from practice_finder.text.stemming import stem

    assert read_text(tagger, "Как удержать молодёжь в Нарве?").main == "ru"
    assert "как" not in pipelines.content_words("Как удержать молодёжь в Нарве?", "ru")
    assert stem("молодёжи", "ru") == stem("молодёжь", "ru")


@pytest.mark.parametrize(
    ("lang", "word", "term"),
    [
        ("sv", "skolteatern", "theatre"),
        ("de", "Hafenviertel", "maritime-heritage"),
        ("et", "kalafestivali", "festival"),  # a fish festival
        ("fi", "kouluteatterimme", "theatre"),
        ("nb", "havnekvartalet", "maritime-heritage"),
    ],
)
def test_a_label_inside_a_compound_word_is_found(
    tagger: tagging.Tagger, lang: str, word: str, term: str
) -> None:
    assert term in {h.term for h in tagger.tag_texts([word], lang, compounds=True)}
    assert term not in {h.term for h in tagger.tag_texts([word], lang)}  # whole words only


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("Tegelesime sellega päriselt ja tõsiselt", "associations"),  # "-selt": no "selts", society
        ("kultuurikorralduse koordinaator", "choir"),  # "koor", choir, begins the word
    ],
)
def test_a_word_the_analyser_knows_as_one_word_is_no_compound(
    tagger: tagging.Tagger, text: str, term: str
) -> None:
    if lemmas.source("et") != "vabamorf":
        pytest.skip("Vabamorf for Estonian is not installed: pip install estnltk")
    assert term not in {h.term for h in tagger.tag_texts([text], "et", compounds=True)}


def test_a_word_that_is_a_label_is_no_compound(tagger: tagging.Tagger) -> None:
    hits = tagger.tag_texts(["teatern"], "sv", compounds=True)
    assert [(h.term, h.count) for h in hits if h.term == "theatre"] == [("theatre", 1)]


@pytest.mark.parametrize(
    ("lang", "text", "term"),
    [
        ("et", "suletud külakooli uus kasutus", "vacant-premises"),  # "suletud kool"
        ("et", "Pärast paberivabriku sulgemist", "industrial-transition"),  # "vabriku sulgemine"
        ("fi", "lakkautetun kyläkoulun uusi käyttö", "vacant-premises"),
        ("da", "ny brug af en nedlagt landsbyskole", "vacant-premises"),
        ("de", "die geschlossene Dorfschule", "vacant-premises"),
    ],
)
def test_a_label_of_several_words_ending_in_a_compounds_head_is_found(
    tagger: tagging.Tagger, lang: str, text: str, term: str
) -> None:
    # the English original ("a closed village school") names "closed school" in two words
    assert term in {h.term for h in tagger.tag_texts([text], lang, compounds=True)}
    assert term not in {h.term for h in tagger.tag_texts([text], lang)}


def test_a_compounds_head_adds_only_labels_of_several_words_not_found_already(
    tagger: tagging.Tagger,
) -> None:
    # "kooli" alone is the school's label: tag_compounds finds it, the headed text must not count it again
    hits = tagger.tag_texts(["suletud külakooli"], "et", compounds=True)
    assert [h.count for h in hits if h.term == "schools-and-teachers"] == [1]
    assert tagger.tag_phrase_heads(["suletud külakooli"], "et", hits) == []
    # a language that does not write compounds as one word is left as it is
    assert tagger.tag_phrase_heads(["slēgtās lauku skolas"], "lv", []) == []
