"""The ONNX query path gives the same vectors as sentence-transformers (float) or nearly (int8, the default)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from practice_finder.build import onnx_encoder
from practice_finder.build.onnx_encoder import OnnxEmbedder
from practice_finder.config import Settings
from practice_finder.errors import IndexMismatchError
from practice_finder.evaluation.relevance import load_domain
from practice_finder.query.handle import open_index

from .conftest import ROOT, script


def test_the_service_encodes_queries_with_int8_onnx_by_default(minilm_index) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(minilm_index.embedder, OnnxEmbedder) and minilm_index.embedder.quantized
    info = minilm_index.manifest.query_encoder
    assert info["format"] == "onnx" and info["pooling"] == "mean" and len(info["sha256"]) == 64
    assert info["int8"]["file"] != info["file"] and len(info["int8"]["sha256"]) == 64
    assert (minilm_index.path / info["int8"]["file"]).stat().st_size < (
        minilm_index.path / info["file"]
    ).stat().st_size * 0.8
    assert info["graph"] == onnx_encoder.GRAPH
    # the service's session sleeps between questions instead of spinning on the cores requests need
    options = minilm_index.embedder.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    # every layer fused
    assert info["fused"]["Attention"] == 6 and info["fused"]["SkipLayerNormalization"] == 12
    # the passages went through the float graph
    assert minilm_index.manifest.model.passages_with == f"onnx {info['sha256'][:16]}"


def test_the_passage_encoders_script_finds_the_export_as_the_model(
    minilm_settings: Settings,
) -> None:
    """scripts/bench_passage_encoders.py over the MiniLM build: both encoders timed, the same vectors."""
    module = script("bench_passage_encoders")
    result = module.compare(minilm_settings.index_dir, 12, 1)
    assert result["model"] == "all-MiniLM-L6-v2" and result["texts"] == 12
    assert all(len(speeds) == 1 and speeds[0] > 0 for speeds in result["texts_per_s"].values())
    assert result["cosine_min"] >= 0.9999, result


def test_an_unchanged_export_is_linked_from_the_previous_build(
    minilm_index, minilm_embedder, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    info = onnx_encoder.export(
        minilm_embedder.export_source(), tmp_path, reuse_from=minilm_index.path
    )
    old = minilm_index.manifest.query_encoder
    assert info["reused_from"] == minilm_index.path.name
    assert {k: v for k, v in info.items() if k != "reused_from"} == {
        k: v for k, v in old.items() if k != "reused_from"
    }
    for name in (old["file"], old["int8"]["file"], old["tokenizer"]):
        assert (tmp_path / name).stat().st_ino == (minilm_index.path / name).stat().st_ino


def _texts(index) -> list[str]:  # type: ignore[no-untyped-def]
    queries, _ = load_domain(ROOT / "eval" / "domain")
    passages = [r[0] for r in index.db.execute("select text from passages order by id limit 250")]
    texts = [
        *queries.values(),
        *passages,
        "",
        "x",
        "Ein Satz auf Deutsch über Einsamkeit.",
        "a " * 400,
    ]
    assert len(texts) >= 300
    return texts


@pytest.fixture(scope="module")
def float_encoder(minilm_index) -> OnnxEmbedder:  # type: ignore[no-untyped-def]
    """The float export of the build's query encoder (the service uses the int8 one)."""
    return OnnxEmbedder(
        minilm_index.embedder.name,
        minilm_index.embedder.dimension,
        minilm_index.path,
        minilm_index.manifest.query_encoder,
        quantized=False,
    )


def test_a_batch_gives_each_text_the_vector_it_gets_alone(
    minilm_index, float_encoder: OnnxEmbedder
) -> None:  # type: ignore[no-untyped-def]
    """Batches are sorted by length and padded per batch: order and padding must not change a float vector."""
    texts = [
        "a " * 300,
        "x",
        "",
        *_texts(minilm_index)[:70],
        "Ein Satz auf Deutsch über Einsamkeit.",
    ]
    together = float_encoder.encode(texts)
    alone = np.vstack([float_encoder.encode([t]) for t in texts])
    assert together.shape == (len(texts), minilm_index.embedder.dimension)
    assert _cosines(together, alone).min() >= 0.9999


def test_sessions_side_by_side_give_the_vectors_of_one(minilm_index) -> None:  # type: ignore[no-untyped-def]
    """A build encodes with a session of one thread a core, side by side (onnx_encoder.parallel_workers):
    each text gets the vector one session gives it, in its place."""
    texts = ["x", *_texts(minilm_index)[:40], "Ein Satz auf Deutsch über Einsamkeit."]
    args = (
        minilm_index.embedder.name,
        minilm_index.embedder.dimension,
        minilm_index.path,
        minilm_index.manifest.query_encoder,
    )
    for quantized in (False, True):
        one = OnnxEmbedder(*args, threads=1, quantized=quantized)
        two = OnnxEmbedder(*args, threads=1, quantized=quantized, workers=2)
        assert len(two._sessions) == 2
        np.testing.assert_allclose(two.encode(texts), one.encode(texts), atol=1e-5)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1))


@pytest.fixture(scope="module")
def reference(minilm_index, minilm_embedder) -> tuple[list[str], np.ndarray]:  # type: ignore[no-untyped-def]
    """The texts and their sentence-transformers vectors (encoded once for both comparisons)."""
    texts = _texts(minilm_index)
    return texts, minilm_embedder.encode(texts)


def test_float_onnx_matches_sentence_transformers(float_encoder: OnnxEmbedder, reference) -> None:  # type: ignore[no-untyped-def]
    texts, expected = reference
    cosines = _cosines(float_encoder.encode(texts), expected)
    assert cosines.min() >= 0.999, (float(cosines.min()), texts[int(np.argmin(cosines))][:80])


def test_int8_onnx_stays_close_to_sentence_transformers(minilm_index, reference) -> None:  # type: ignore[no-untyped-def]
    """Quantisation moves vectors a little (lowest cosine measured 0.968 on "x", median 0.992); what it does to nDCG is in test_eval."""
    texts, expected = reference
    cosines = _cosines(minilm_index.embedder.encode(texts), expected)
    assert cosines.min() >= 0.95 and float(np.median(cosines)) >= 0.99, (
        float(cosines.min()),
        float(np.median(cosines)),
    )


def test_torch_can_be_chosen(minilm_settings: Settings, minilm_embedder) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    index = open_index(replace(minilm_settings, query_encoder="torch"), lambda: minilm_embedder)
    assert index.embedder is minilm_embedder
    index.close()


def test_a_damaged_onnx_file_is_refused(minilm_settings: Settings, tmp_path: Path) -> None:
    from practice_finder.build import versions

    copy = tmp_path / "indexes"
    shutil.copytree(minilm_settings.index_dir, copy)
    build = versions.current_build(copy)
    assert build is not None
    # the default
    onnx = (
        build / json.loads((build / "manifest.json").read_text())["query_encoder"]["int8"]["file"]
    )
    onnx.unlink()  # it may be a hard link shared with another build: never write through it
    onnx.write_bytes(b"not a model")
    with pytest.raises(
        IndexMismatchError, match="query-encoder-int8.onnx has 11 bytes"
    ):  # the manifest's checksums
        open_index(Settings(index_dir=copy, model=minilm_settings.model), lambda: None)  # type: ignore[arg-type,return-value]


def _toy_encoder(path: Path) -> np.ndarray:
    """A one-MatMul "encoder" whose token vectors have one channel far above the others at token 0,
    as multilingual-e5-small's have at <s>; returns its weight matrix."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    table = rng.normal(size=(50, 64)).astype(np.float32)
    table[0, 5] = 300.0
    weight = rng.normal(size=(64, 32)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "input_ids"], ["x"], name="embed"),
            helper.make_node("MatMul", ["x", "weight"], ["last_hidden_state"], name="dense"),
        ],
        "toy",
        [
            helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "tokens"])
            for name in ("input_ids", "attention_mask", "token_type_ids")
        ],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(table, "table"), numpy_helper.from_array(weight, "weight")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what ONNX Runtime reads, whatever onnx writes by default
    onnx.save_model(model, str(path))
    return weight


def test_outlier_channels_are_multiplied_apart_in_float(tmp_path: Path) -> None:
    """The rewrite is exact in float, and int8 of the rewritten graph loses far less than int8 of
    the plain one when one channel runs 300 times above the others."""
    import onnx

    source = tmp_path / "toy.onnx"
    _toy_encoder(source)
    rows = [[0, *range(1 + i, 12 + i)] for i in range(4)]
    model = onnx.load(str(source))
    peaks = onnx_encoder._input_peaks(model, rows)
    assert int(np.argmax(peaks["x"])) == 5
    kept_float = onnx_encoder._split_outlier_channels(model, peaks)
    assert kept_float == ["dense_outliers"]
    onnx.save_model(model, str(tmp_path / "split.onnx"))

    def run(name: str) -> np.ndarray:
        session = onnx_encoder._session(tmp_path / name, 1)
        feed = onnx_encoder._feed(*onnx_encoder._padded([[0, 3, 9, 17, 33, 41]]))
        return np.asarray(session.run(None, feed)[0])

    exact = run("toy.onnx")
    np.testing.assert_allclose(run("split.onnx"), exact, rtol=1e-5, atol=1e-3)
    onnx_encoder._quantize(source, tmp_path / "plain-int8.onnx")
    onnx_encoder._quantize(source, tmp_path / "outliers-int8.onnx", rows)
    # the tokens after the first, which the outlier's scale starves in the plain graph
    plain = np.abs(run("plain-int8.onnx") - exact)[0, 1:].mean()
    apart = np.abs(run("outliers-int8.onnx") - exact)[0, 1:].mean()
    assert apart * 10 < plain, (apart, plain)


def _toy_attention(path: Path) -> None:
    """A one-layer "encoder": a token table whose channel 5 runs far above the others, then ONNX
    Runtime's fused attention (4 heads) over it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(11)
    table = rng.normal(size=(50, 64)).astype(np.float32)
    table[:, 5] *= 40.0
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "input_ids"], ["x"], name="embed"),
            helper.make_node(
                "Attention",
                ["x", "qkv", "bias"],
                ["last_hidden_state"],
                name="attention",
                domain="com.microsoft",
                num_heads=4,
            ),
        ],
        "toy",
        [
            helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "tokens"])
            for name in ("input_ids", "attention_mask", "token_type_ids")
        ],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, None)],
        [
            numpy_helper.from_array(table, "table"),
            numpy_helper.from_array(rng.normal(size=(64, 192)).astype(np.float32) / 8, "qkv"),
            numpy_helper.from_array(np.zeros(192, dtype=np.float32), "bias"),
        ],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    model.ir_version = 8
    onnx.save_model(model, str(path))


def test_attention_inputs_are_smoothed_exactly_and_lose_less_in_int8(tmp_path: Path) -> None:
    """Dividing the attention's input channels and multiplying the weights' rows back gives the same
    output in float; in int8, the smoothed graph is closer to float than plain int8 attention."""
    import onnx

    source = tmp_path / "toy.onnx"
    _toy_attention(source)
    rows = [[0, *range(1 + i, 12 + i)] for i in range(4)]
    model = onnx.load(str(source))
    onnx_encoder._smooth_attention_inputs(model, onnx_encoder._input_peaks(model, rows))
    assert [n.op_type for n in model.graph.node] == ["Gather", "Mul", "Attention"]
    onnx.save_model(model, str(tmp_path / "smoothed.onnx"))

    def run(name: str) -> np.ndarray:
        session = onnx_encoder._session(tmp_path / name, 1)
        feed = onnx_encoder._feed(*onnx_encoder._padded([[0, 3, 9, 17, 33, 41, 2]]))
        return np.asarray(session.run(None, feed)[0])

    exact = run("toy.onnx")
    np.testing.assert_allclose(run("smoothed.onnx"), exact, rtol=1e-4, atol=1e-4)
    onnx_encoder._quantize(source, tmp_path / "plain-int8.onnx")
    onnx_encoder._quantize(source, tmp_path / "smoothed-int8.onnx", rows, smooth_attention=True)
    plain = np.abs(run("plain-int8.onnx") - exact).mean()
    smoothed = np.abs(run("smoothed-int8.onnx") - exact).mean()
    assert smoothed * 2 < plain, (smoothed, plain)


def test_a_session_waits_for_work_in_a_known_way(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="spinning must be one of"):
        onnx_encoder._session(tmp_path / "missing.onnx", 1, spinning="sometimes")


def test_a_build_runs_a_session_a_core_unless_the_threads_are_set() -> None:
    import os

    assert onnx_encoder.parallel_workers(0) == max(1, os.cpu_count() or 1)
    assert onnx_encoder.parallel_workers(2) == 1  # PF_THREADS set: one session with that many


def _toy_layer_norms(path: Path, opset: int) -> None:
    """Two SkipLayerNormalization nodes in a row as the transformer optimiser writes them: the first
    with a bias and its sum used by the second as the skip, the second without beta."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    hidden = 48
    table = rng.normal(size=(50, hidden)).astype(np.float32) * 3 + 1
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "input_ids"], ["x"], name="embed"),
            helper.make_node("Gather", ["other", "input_ids"], ["y"], name="embed2"),
            helper.make_node(
                "SkipLayerNormalization",
                ["x", "y", "gamma", "beta", "bias"],
                ["first", "", "", "first_sum"],
                name="ln1",
                domain="com.microsoft",
                epsilon=1e-5,
            ),
            helper.make_node(
                "SkipLayerNormalization",
                ["first", "first_sum", "gamma"],
                ["last_hidden_state"],
                name="ln2",
                domain="com.microsoft",
                epsilon=1e-12,
            ),
        ],
        "toy",
        [
            helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "tokens"])
            for name in ("input_ids", "attention_mask", "token_type_ids")
        ],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, None)],
        [
            numpy_helper.from_array(table, "table"),
            numpy_helper.from_array(rng.normal(size=(50, hidden)).astype(np.float32), "other"),
            numpy_helper.from_array(rng.normal(size=hidden).astype(np.float32), "gamma"),
            numpy_helper.from_array(rng.normal(size=hidden).astype(np.float32), "beta"),
            numpy_helper.from_array(rng.normal(size=hidden).astype(np.float32), "bias"),
        ],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid("com.microsoft", 1)],
    )
    model.ir_version = 8
    onnx.save_model(model, str(path))


@pytest.mark.parametrize("opset", [17, 18])
def test_layer_norms_written_out_give_the_same_vectors_and_stay_plain(
    tmp_path: Path, opset: int
) -> None:
    """The plain operators compute what SkipLayerNormalization does (its kept sum included), and ONNX
    Runtime's optimiser does not fuse them back into its slower kernel when a session loads them."""
    import onnx
    import onnxruntime as ort

    source = tmp_path / "toy.onnx"
    _toy_layer_norms(source, opset)
    model = onnx.load(str(source))
    assert onnx_encoder._plain_layer_norms(model) == 2
    assert "SkipLayerNormalization" not in {n.op_type for n in model.graph.node}
    onnx.save_model(model, str(tmp_path / "plain.onnx"))

    def run(name: str) -> np.ndarray:
        session = onnx_encoder._session(tmp_path / name, 1)
        feed = onnx_encoder._feed(*onnx_encoder._padded([[0, 3, 9, 17, 33, 41, 2], [5, 6]]))
        return np.asarray(session.run(None, feed)[0])

    np.testing.assert_allclose(run("plain.onnx"), run("toy.onnx"), rtol=1e-4, atol=1e-4)
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimised.onnx")
    ort.InferenceSession(str(tmp_path / "plain.onnx"), options, providers=["CPUExecutionProvider"])
    kinds = {n.op_type for n in onnx.load(str(tmp_path / "optimised.onnx")).graph.node}
    assert not kinds & {
        "LayerNormalization",
        "SkipLayerNormalization",
        "SimplifiedLayerNormalization",
    }
