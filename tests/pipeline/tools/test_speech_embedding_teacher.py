"""The ONNX-to-TensorFlow teacher tool, on small ONNX graphs the test writes, against onnxruntime."""

import os
import zipfile

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="pip install -e '.[tools]'")
ort = pytest.importorskip("onnxruntime", reason="pip install -e '.[tools]'")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import tensorflow as tf  # noqa: E402

from pipeline.tools import speech_embedding_teacher as tool  # noqa: E402


def _model(nodes, inputs, output, initializers, constants=()):
    graph = helper.make_graph(
        [
            helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(v), name))
            for name, v in constants
        ]
        + nodes,
        "g",
        inputs,
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in initializers.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def _run_onnx(data, feed):
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feed)[0]


def _every_op_graph(rng):
    """[batch, 12, 8, 1] (NHWC, as the embedding file takes it) through every op the two openWakeWord files use."""
    f = np.float32
    init = {
        "pads": np.array([0, 0, 1, 0, 0, 0, 1, 0], np.int64),
        "shape": np.array([-1, 1, 12, 10], np.int64),
        "w1": rng.normal(size=(4, 1, 3, 3)).astype(f),
        "scale": rng.uniform(0.5, 2, 4).astype(f),
        "bias": rng.normal(size=4).astype(f),
        "mean": rng.normal(size=4).astype(f),
        "var": rng.uniform(0.5, 2, 4).astype(f),
        "floor": np.full((1, 1, 1, 1), -0.4, f),
        "w2": rng.normal(size=(4, 4, 1, 3)).astype(f),
        "b2": rng.normal(size=4).astype(f),
        "mat": rng.normal(size=(4, 3)).astype(f),
        "lo": np.array(1e-3, f),
        "hi": np.array(np.inf, f),
        "two": np.array(2.0, f),
        "ten": np.array(10.0, f),
        "eighty": np.array(80.0, f),
        "axes": np.array([1], np.int64),
    }
    nodes = [
        helper.make_node("Pad", ["x", "pads"], ["p"]),
        helper.make_node("Reshape", ["p", "shape"], ["r"]),
        helper.make_node("Conv", ["r", "w1"], ["c1"], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c1"], ["a1"]),
        helper.make_node("BatchNormalization", ["a1", "scale", "bias", "mean", "var"], ["bn"]),
        helper.make_node("LeakyRelu", ["bn"], ["l1"], alpha=0.2),
        helper.make_node("Max", ["l1", "floor"], ["m1"]),
        helper.make_node("Conv", ["m1", "w2", "b2"], ["c2"], kernel_shape=[1, 3], pads=[0, 1, 0, 1]),
        helper.make_node("MaxPool", ["c2"], ["mp"], kernel_shape=[2, 2], strides=[2, 2]),  # [b, 4, 5, 4]
        helper.make_node("Transpose", ["mp"], ["t"], perm=[0, 2, 3, 1]),  # [b, 5, 4, 4]
        helper.make_node("MatMul", ["t", "mat"], ["mm"]),  # [b, 5, 4, 3]
        helper.make_node("Pow", ["mm", "two"], ["sq"]),
        helper.make_node("Add", ["sq", "lo"], ["s1"]),
        helper.make_node("Clip", ["s1", "lo", "hi"], ["cl"]),
        helper.make_node("Log", ["cl"], ["lg"]),
        helper.make_node("Mul", ["lg", "ten"], ["db"]),
        helper.make_node("Div", ["db", "two"], ["half"]),
        helper.make_node("ReduceMax", ["half"], ["top"], keepdims=0),
        helper.make_node("Sub", ["top", "eighty"], ["fl"]),
        helper.make_node("Cast", ["fl"], ["flf"], to=TensorProto.FLOAT),
        helper.make_node("Clip", ["half", "flf"], ["floored"]),
        helper.make_node("Unsqueeze", ["floored", "axes"], ["y"]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 12, 8, 1])
    return _model(nodes, [x], "y", init)


def test_every_translated_op_matches_onnxruntime_row_by_row():
    rng = np.random.default_rng(0)
    data = _every_op_graph(rng)
    graph = tool.OnnxGraph(data, "every_op.onnx")
    fn = tf.function(graph, input_signature=[tf.TensorSpec([None, 12, 8, 1], tf.float32)])
    x = rng.normal(size=(3, 12, 8, 1)).astype(np.float32)
    got = fn(tf.constant(x)).numpy()
    # ReduceMax without axes spans the batch in ONNX; the tool takes it per row: compare one row at a time.
    want = np.concatenate([_run_onnx(data, {"x": x[i : i + 1]}) for i in range(len(x))])
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_an_op_it_does_not_know_is_refused_by_name():
    nodes = [helper.make_node("Softmax", ["x"], ["y"])]
    data = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])], "y", {})
    with pytest.raises(tool.TeacherBuildError, match="Softmax"):
        tool.OnnxGraph(data, "odd.onnx")


def _tiny_pair(rng):
    """Stand-ins with the two files' interfaces: audio -> [b, 1, frames, 32]; [n, 76, 32, 1] -> [n, 1, 1, 96]."""
    f = np.float32
    mel = _model(
        [
            helper.make_node("Unsqueeze", ["input", "one"], ["u"]),
            helper.make_node("Conv", ["u", "w"], ["c"], kernel_shape=[512], strides=[160], pads=[0, 0]),
            helper.make_node("Unsqueeze", ["c", "one"], ["u2"]),
            helper.make_node("Transpose", ["u2"], ["t"], perm=[0, 1, 3, 2]),
            helper.make_node("Mul", ["t", "k"], ["output"]),
        ],
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, None])],
        "output",
        {"w": rng.normal(0, 1e-3, (32, 1, 512)).astype(f), "k": np.array(0.01, f)},
        constants=[("one", np.array([1], np.int64))],
    )
    emb = _model(
        [
            helper.make_node("Reshape", ["input_1", "s1"], ["r"]),
            helper.make_node("Conv", ["r", "w"], ["c"], kernel_shape=[76, 32]),
            helper.make_node("Reshape", ["c", "s2"], ["out"]),
        ],
        [helper.make_tensor_value_info("input_1", TensorProto.FLOAT, [None, 76, 32, 1])],
        "out",
        {
            "s1": np.array([-1, 1, 76, 32], np.int64),
            "s2": np.array([-1, 1, 1, 96], np.int64),
            "w": rng.normal(0, 0.1, (96, 1, 76, 32)).astype(f),
        },
    )
    return {"mel": mel, "embedding": emb}


@pytest.mark.slow
def test_saved_teacher_has_trillssons_interface_and_matches_the_reference(tmp_path):
    rng = np.random.default_rng(1)
    files = _tiny_pair(rng)
    out = tool.save(tool.build_module(files), str(tmp_path / "teacher"))
    teacher = tf.saved_model.load(out)
    audio = rng.uniform(-0.5, 0.5, (2, 16000)).astype(np.float32)
    got = teacher(tf.constant(audio))["embedding"].numpy()
    assert got.shape == (2, 96)
    for row, clip in zip(got, audio):
        np.testing.assert_allclose(row, tool.reference(files, clip), rtol=1e-3, atol=1e-4)
    served = teacher.signatures["serving_default"](audio_samples=tf.constant(audio[:1, :8000]))["embedding"]
    np.testing.assert_allclose(served.numpy()[0], tool.reference(files, audio[0, :8000]), rtol=1e-3, atol=1e-4)


def test_a_wheel_whose_files_were_changed_is_refused(tmp_path):
    wheel = tmp_path / "openwakeword-0.4.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name in tool.MEMBERS.values():
            zf.writestr(name, b"not the model")
        zf.writestr(tool.RECORD, "".join(f"{n},sha256=AAAA,13\n" for n in tool.MEMBERS.values()))
    with pytest.raises(tool.TeacherBuildError, match="RECORD"):
        tool.read_members(str(wheel))
    (tmp_path / "broken.whl").write_bytes(b"no zip")
    with pytest.raises(tool.TeacherBuildError, match="broken.whl"):
        tool.read_members(str(tmp_path / "broken.whl"))
    assert tool.find_wheel(str(wheel), str(tmp_path / "cache")) == str(wheel)
    with pytest.raises(tool.TeacherBuildError, match="no such file"):
        tool.find_wheel(os.path.join(str(tmp_path), "missing.whl"), str(tmp_path))
