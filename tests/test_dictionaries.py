"""Bilingual dictionaries into English: reading FreeDict's dictd files at ingest, glossing a question."""

from __future__ import annotations

import gzip
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from practice_finder.build import dictionaries
from practice_finder.build.dictionaries import (
    GLOSSARY,
    OWN_GLOSSARIES,
    dictd_number,
    own_glossaries,
    read_all,
    read_freedict,
    read_own_glossary,
    translations,
)
from practice_finder.build.ingest import ingest
from practice_finder.config import Settings
from practice_finder.query.handle import open_index
from practice_finder.query.legs import glossed, names_in, respelled
from practice_finder.text import lemmas
from practice_finder.text.stemming import stem

from .fakes import HashingEmbedder, glossary_index

SYSTEM_DICTIONARIES = Settings().dictionaries_dir

WIKDICT = """samotność /sãˈmɔtnɔɕʨ̑/ <n>
1. loneliness, solitude
uczucie braku bliskich osób
2. retirement, loneliness
życie w odosobnieniu, z dala od innych ludzi
"""
UNNUMBERED = """tulva /tˈulva/ <n>
flood
vallitseva tila, jossa nestepinta on kohonnut
"""
DING = """Hochwasser /hˈoːxvˌasɜ/ <neut, n, sg>
 [envir.] high water <n>, flood <n>, flood tide <n>
      "Hochwasser führen/haben"  - be swollen
"""


def test_numbered_senses_give_their_first_translations_not_the_definitions() -> None:
    assert translations(WIKDICT) == ["loneliness", "solitude", "retirement", "loneliness"]


def test_an_entry_without_numbers_gives_its_second_line() -> None:
    assert translations(UNNUMBERED) == ["flood"]


LIBRARY = """library //ˈlaɪbɹi// <n>
bibliotek 2.
collection of books
 3.
institution which holds books
"""


def test_a_first_sense_left_unnumbered_is_read() -> None:
    assert translations(LIBRARY) == ["bibliotek"]


def test_notes_in_brackets_are_dropped() -> None:
    assert translations(DING) == ["high water", "flood"]


def test_dictd_numbers_are_base_64_in_dictds_alphabet() -> None:
    assert dictd_number("A") == 0
    assert dictd_number("B") == 1
    assert dictd_number("BA") == 64
    assert dictd_number("/") == 63


def _dictd(text: str) -> str:
    """dictd's base-64 form of a number (for writing a small dictionary)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    n, out = int(text), ""
    while True:
        out = alphabet[n % 64] + out
        n //= 64
        if not n:
            return out


def _write_dictionary(folder: Path, name: str, articles: dict[str, str]) -> None:
    body, index = b"Edition: 2022.11.18\n", []
    for head, article in articles.items():
        data = article.encode()
        index.append(f"{head}\t{_dictd(str(len(body)))}\t{_dictd(str(len(data)))}")
        body += data
    index.append("00databaseinfo\tA\tB")
    (folder / f"{name}.dict.dz").write_bytes(gzip.compress(body))
    (folder / f"{name}.index").write_text("\n".join(index) + "\n", encoding="utf-8")


def test_a_dictionary_is_read_with_its_edition_and_single_words_only(tmp_path: Path) -> None:
    _write_dictionary(
        tmp_path,
        "freedict-pol-eng",
        {"samotność": WIKDICT, "a co więcej": "a co więcej\nmoreover\n"},
    )
    read = read_freedict(tmp_path, "pl")
    assert read is not None
    entries, edition = read
    assert edition == "freedict-pol-eng 2022.11.18"
    assert [(e.word, e.english) for e in entries] == [
        ("samotność", ("loneliness", "solitude", "retirement"))
    ]
    keys = {row.key for row in dictionaries.rows(entries)}
    assert keys == {"samotność", "~" + stem("samotność", "pl")}


def test_missing_dictionaries_are_named_and_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _write_dictionary(tmp_path, "freedict-fin-eng", {"tulva": UNNUMBERED})
    with caplog.at_level(logging.WARNING):
        entries, found = read_all(tmp_path)
    assert found == {"fi": "freedict-fin-eng 2022.11.18"}
    assert [e.word for e in entries] == ["tulva"]
    assert "dict-freedict-pol-eng" in caplog.text and "dict-freedict-fin-eng" not in caplog.text
    assert "dict-freedict-eng-nor" in caplog.text


def test_a_question_is_glossed_by_word_then_by_stem() -> None:
    index = glossary_index(
        {
            ("pl", "samotność"): ("loneliness", "solitude"),
            ("pl", "~" + stem("seniorów", "pl")): ("senior",),
        }
    )
    assert glossed(index, ["samotność", "seniorów", "xyz"], "pl") == [  # type: ignore[arg-type]
        "loneliness",
        "solitude",
        "senior",
    ]


def test_norwegian_and_danish_read_their_own_dictionary_then_each_others_and_others_get_nothing() -> (
    None
):
    index = glossary_index(
        {
            ("nb", "ensomhet"): ("loneliness",),
            ("da", "ensomhed"): ("loneliness", "solitude"),
            ("da", "bibliotek"): ("library",),
            ("nb", "bibliotek"): ("library", "collection"),
        }
    )
    words = ["ensomhet", "bibliotek", "ensomhed"]
    assert glossed(index, words, "nb") == [  # type: ignore[arg-type]
        "loneliness",
        "library",
        "collection",
        "solitude",
    ]
    assert glossed(index, ["ensomhed", "ensomhet"], "da") == [  # type: ignore[arg-type]
        "loneliness",
        "solitude",
    ]
    assert glossed(index, ["ensomhed"], "et") == []  # type: ignore[arg-type]
    assert glossed(glossary_index({}), ["ensomhed"], "da") == []  # type: ignore[arg-type]


def test_a_norwegian_word_is_looked_up_in_the_danish_dictionary_as_danish_spells_it() -> None:
    index = glossary_index(
        {
            ("da", "grænse"): ("border", "boundary"),
            ("da", "købe"): ("buy",),
            ("da", "gade"): ("street",),
            ("nb", "bok"): ("book",),
        }
    )
    assert glossed(index, ["grense", "kjøpe"], "nb") == ["border", "boundary", "buy"]  # type: ignore[arg-type]
    assert glossed(index, ["bog"], "da") == ["book"]  # type: ignore[arg-type]  # and back
    # "no" (Norwegian, its written standard not named) is glossed as Bokmål, respellings and all
    assert glossed(index, ["grense", "bok"], "no") == ["book", "border", "boundary"]  # type: ignore[arg-type]
    assert glossed(index, ["gate"], "sv") == []  # type: ignore[arg-type]  # Swedish reads only its own


def test_respellings_apply_each_rule_alone_then_all_together_and_only_between_danish_and_norwegian() -> (
    None
):
    assert respelled("kjøpe", "nb", "da") == ("kjøbe", "køpe", "købe")
    assert respelled("takk", "nb", "da") == ("tak",)
    assert respelled("grænse", "da", "nb") == ("grense",)
    assert respelled("vej", "da", "nb") == ("vei",)
    assert respelled("by", "nb", "da") == ()
    assert respelled("grense", "nb", "nb") == ()
    assert respelled("gräns", "sv", "da") == ()


def test_a_name_is_looked_up_whole_and_never_by_its_parts() -> None:
    """ "Ida-Virumaa after oil shale" (an English question read as Estonian for its place name) is not asked
    about "land" ("maa"): a word written with a capital after the first is a name, except in German."""
    assert names_in("Ida-Virumaa after oil shale", "et") == {"virumaa"}
    assert names_in("Noored Rakveres ja Tartus", "et") == {"rakveres", "tartus"}
    assert names_in("Jugendzentrum in Grünheide", "de") == frozenset()
    index = glossary_index(
        {
            ("nb", "skole"): ("school",),
            ("nb", "grend"): ("hamlet",),
            ("nb", "moss"): ("Moss",),
            ("pl", "~" + stem("polsce", "pl")): ("Poland",),
        }
    )
    assert glossed(index, ["grendeskole"], "nb") == ["hamlet", "school"]  # type: ignore[arg-type]
    names = frozenset({"grendeskole", "moss"})
    assert glossed(index, ["grendeskole", "moss"], "nb", names) == ["Moss"]  # type: ignore[arg-type]
    assert glossed(index, ["polsce"], "pl", frozenset({"polsce"})) == ["Poland"]  # type: ignore[arg-type]


def test_a_compound_no_dictionary_lists_is_glossed_by_its_longest_head_and_its_first_part() -> None:
    index = glossary_index(
        {
            ("nb", "skole"): ("school",),
            ("nb", "kole"): ("coal",),
            ("nb", "grend"): ("hamlet",),
            ("de", "zentrum"): ("centre", "center", "core"),
            ("de", "jugend"): ("youth",),
            ("de", "markt"): ("market",),
            ("de", "arbeit"): ("work",),
        }
    )
    assert glossed(index, ["grendeskole"], "nb") == ["hamlet", "school"]  # type: ignore[arg-type]
    assert glossed(index, ["jugendzentrum"], "de") == ["youth", "centre", "center"]  # type: ignore[arg-type]
    assert glossed(index, ["arbeitsmarkt"], "de") == ["work", "market"]  # type: ignore[arg-type]  # a linking s dropped
    assert glossed(index, ["dorfmarkt"], "de") == ["market"]  # type: ignore[arg-type]  # a head alone
    assert glossed(index, ["zentrumjugendlos"], "pl") == []  # type: ignore[arg-type]  # Polish is not split


def test_a_dictionary_from_english_is_turned_round(tmp_path: Path) -> None:
    _write_dictionary(
        tmp_path,
        "freedict-eng-nor",
        {
            "library": LIBRARY,
            "loneliness": "loneliness <n>\nensomhet\nbeing alone\n",
            "solitude": "solitude <n>\nensomhet, alenehet\nbeing alone\n",
            "town hall": "town hall <n>\nrådhus\nbuilding\n",
        },
    )
    read = read_freedict(tmp_path, "nb")
    assert read is not None
    entries, edition = read
    assert edition == "freedict-eng-nor 2022.11.18"
    assert {e.word: e.english for e in entries} == {
        "bibliotek": ("library",),
        "ensomhet": ("loneliness", "solitude"),
        "alenehet": ("solitude",),
    }


def _with_dictionaries(tiny: Settings, tmp_path: Path, **dictionaries: dict[str, str]) -> Settings:
    """The tiny corpus' settings with a dictionary folder of its own holding `dictionaries` (name: entries)."""
    folder = tmp_path / "dictd"
    folder.mkdir()
    for name, entries in dictionaries.items():
        _write_dictionary(folder, name.replace("_", "-"), entries)
    return replace(tiny, dictionaries_dir=folder)


def test_ingest_copies_the_dictionaries_into_the_build(
    tiny: Settings, fake_embedder: HashingEmbedder, tmp_path: Path
) -> None:
    settings = _with_dictionaries(tiny, tmp_path, freedict_pol_eng={"samotność": WIKDICT})
    ingest(settings, lambda: fake_embedder)
    index = open_index(settings, lambda: fake_embedder)
    try:
        assert index.manifest.dictionaries == {
            "pl": "freedict-pol-eng 2022.11.18",
            **own_glossaries(),
        }
        assert glossed(index, ["samotności"], "pl") == ["loneliness", "solitude", "retirement"]
        assert glossed(index, ["samotność"], "fi") == []
    finally:
        index.close()


def test_a_rebuild_links_the_glossary_while_the_dictionaries_stay_the_same(
    tiny: Settings, fake_embedder: HashingEmbedder, tmp_path: Path
) -> None:
    settings = _with_dictionaries(tiny, tmp_path, freedict_pol_eng={"samotność": WIKDICT})
    first = ingest(settings, lambda: fake_embedder)
    again = ingest(settings, lambda: fake_embedder, force=True)
    made = [settings.index_dir / "builds" / str(r.build_id) / GLOSSARY for r in (first, again)]
    linked = made[1].stat().st_ino
    assert made[0].stat().st_ino == linked
    _write_dictionary(settings.dictionaries_dir, "freedict-fin-eng", {"tulva": UNNUMBERED})
    third = ingest(settings, lambda: fake_embedder)
    newer = settings.index_dir / "builds" / str(third.build_id) / GLOSSARY
    assert newer.stat().st_ino != linked
    index = open_index(settings, lambda: fake_embedder)
    try:
        assert set(index.manifest.dictionaries) == {"pl", "fi", "et"}
        assert "flood" in glossed(index, ["tulva"], "fi")
    finally:
        index.close()


def test_installing_a_dictionary_makes_the_next_ingest_rebuild(
    tiny: Settings, fake_embedder: HashingEmbedder, tmp_path: Path
) -> None:
    settings = _with_dictionaries(tiny, tmp_path)
    folder = settings.dictionaries_dir
    ingest(settings, lambda: fake_embedder)
    assert ingest(settings, lambda: fake_embedder).up_to_date
    _write_dictionary(folder, "freedict-fin-eng", {"tulva": UNNUMBERED})
    report = ingest(settings, lambda: fake_embedder)
    assert report.reason == "the bilingual dictionaries installed differ from those in the build"
    assert ingest(settings, lambda: fake_embedder).up_to_date


def test_a_build_without_freedict_glosses_only_with_the_projects_own_glossary(
    tiny: Settings, fake_embedder: HashingEmbedder, tmp_path: Path
) -> None:
    settings = replace(tiny, dictionaries_dir=tmp_path / "none")
    ingest(settings, lambda: fake_embedder)
    index = open_index(settings, lambda: fake_embedder)
    try:
        assert index.manifest.dictionaries == own_glossaries()
        assert set(own_glossaries()) == {"et"}
        assert glossed(index, ["samotność"], "pl") == []
        assert glossed(index, ["raamatukogu", "üksildus"], "et")[:2] == ["library", "loneliness"]
    finally:
        index.close()


def test_a_build_without_any_glossary_glosses_nothing(
    tiny: Settings, fake_embedder: HashingEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dictionaries, "OWN_GLOSSARIES", tmp_path / "no-glossaries")
    settings = replace(tiny, dictionaries_dir=tmp_path / "none")
    ingest(settings, lambda: fake_embedder)
    index = open_index(settings, lambda: fake_embedder)
    try:
        assert index.manifest.dictionaries == {}
        assert glossed(index, ["raamatukogu"], "et") == []
    finally:
        index.close()


def test_a_changed_glossary_makes_the_next_ingest_rebuild_and_read_it_again(
    tiny: Settings, fake_embedder: HashingEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = tmp_path / "glossaries"
    own.mkdir()
    (own / "et.tsv").write_text("# a comment\nraamatukogu\tlibrary\n", encoding="utf-8")
    monkeypatch.setattr(dictionaries, "OWN_GLOSSARIES", own)
    settings = replace(tiny, dictionaries_dir=tmp_path / "none")
    ingest(settings, lambda: fake_embedder)
    assert ingest(settings, lambda: fake_embedder).up_to_date
    (own / "et.tsv").write_text("raamatukogu\tlibrary\nkoor\tchoir\n", encoding="utf-8")
    report = ingest(settings, lambda: fake_embedder)
    assert report.reason == "the project's own glossaries differ from those in the build"
    index = open_index(settings, lambda: fake_embedder)
    try:
        assert index.manifest.dictionaries["et"].startswith(
            "practice-finder glossary et-en, 2 words, "
        )
        assert glossed(index, ["koor"], "et") == ["choir"]
    finally:
        index.close()


def test_the_estonian_glossary_is_one_lowercase_headword_a_line_with_short_equivalents() -> None:
    path = OWN_GLOSSARIES / "et.tsv"
    entries, name = read_own_glossary(path)
    lines = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert (
        len(entries) == len(lines) > 3000
    )  # no line dropped: each has a word and a short equivalent
    words = [e.word for e in entries]
    assert len(set(words)) == len(words) and words == sorted(words)
    assert all(w == w.lower() and w.strip() and " " not in w for w in words)
    assert all(1 <= len(e.english) <= 4 for e in entries)
    assert name == f"practice-finder glossary et-en, {len(entries)} words, " + name.split()[-1]
    by_word = {e.word: e.english for e in entries}
    assert by_word["raamatukogu"][0] == "library" and by_word["üleujutus"][0] == "flood"


def test_the_default_build_glosses_with_the_installed_dictionaries(real_index) -> None:  # type: ignore[no-untyped-def]
    if not (SYSTEM_DICTIONARIES / "freedict-pol-eng.index").is_file():
        pytest.skip("Debian's dict-freedict-pol-eng is not installed (.ci/run installs it)")
    assert real_index.manifest.dictionaries["pl"].startswith("freedict-pol-eng ")
    assert "loneliness" in glossed(real_index, ["samotności"], "pl")
    assert "flood" in glossed(real_index, ["tulvat"], "fi")
    if (SYSTEM_DICTIONARIES / "freedict-eng-nor.index").is_file():
        assert "town" in glossed(real_index, ["byer"], "nb")  # by its base form, "by"
        assert "school" in glossed(real_index, ["grendeskole"], "nb")  # by its head, "skole"
        assert "boundary" in glossed(real_index, ["grense"], "nb")  # as the Danish "grænse"
    if lemmas.source("fi") == "voikko":
        assert {"village", "school"} <= set(glossed(real_index, ["kyläkoulun"], "fi"))


def test_the_estonian_glossary_covers_the_words_its_script_lists_from_the_corpus() -> None:
    """scripts/glossary_words.py without Tatoeba: the taxonomy's and the Estonian practices' words, which
    the glossary was written for, are nearly all in it (those left out are grammatical words and
    inflected forms Vabamorf reads more than one way)."""
    if lemmas.source("et") != "vabamorf":
        pytest.skip(
            "Vabamorf (the estnltk wheel) is not installed: Estonian words have no base forms"
        )
    from .conftest import script

    module = script("glossary_words")
    words = module.candidates("et", module.texts("et", None))
    held = {e.word for e in read_own_glossary(OWN_GLOSSARIES / "et.tsv")[0]}
    assert "raamatukogu" in words and "kogukond" in words
    assert len(set(words) & held) / len(words) > 0.9
