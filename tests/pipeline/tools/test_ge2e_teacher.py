"""The GE2E teacher tool, on a small LSTM encoder saved by the test in the legacy torch format."""

import collections
import io
import os
import pickle
import sys
import types

import numpy as np
import pytest
import tensorflow as tf

from pipeline.tools import ge2e_teacher as tool
from pipeline.tools.wheel import TeacherBuildError


def _state(rng, hidden=8, layers=2):
    state = collections.OrderedDict()
    for i in range(layers):
        state[f"lstm.weight_ih_l{i}"] = rng.normal(0, 0.3, (4 * hidden, tool.BANDS if i == 0 else hidden))
        state[f"lstm.weight_hh_l{i}"] = rng.normal(0, 0.3, (4 * hidden, hidden))
        state[f"lstm.bias_ih_l{i}"] = rng.normal(0, 0.1, 4 * hidden)
        state[f"lstm.bias_hh_l{i}"] = rng.normal(0, 0.1, 4 * hidden)
    state["linear.weight"] = rng.normal(0, 0.3, (hidden, hidden))
    state["linear.bias"] = rng.normal(0, 0.1, hidden)
    return collections.OrderedDict((k, v.astype(np.float32)) for k, v in state.items())


def _legacy_torch_file(obj):
    """What `torch.save(obj, f, _use_new_zipfile_serialization=False)` writes, without torch: stand-in
    `torch` modules exist only while the pickler names their globals. Tensors share one storage per
    tensor except the LSTM weights, which are views of one flat buffer as cuDNN leaves them."""

    class FloatStorage:
        pass

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")
    FloatStorage.__module__, _rebuild_tensor_v2.__module__ = "torch", "torch._utils"
    FloatStorage.__qualname__, _rebuild_tensor_v2.__qualname__ = "FloatStorage", "_rebuild_tensor_v2"
    torch.FloatStorage, utils._rebuild_tensor_v2 = FloatStorage, _rebuild_tensor_v2
    flat = [v for k, v in obj["model_state"].items() if k.startswith("lstm.weight")]
    buffer = np.concatenate([v.ravel() for v in flat])
    storages = collections.OrderedDict([("flat", buffer)])

    class Storage:
        def __init__(self, key):
            self.key = key

    class Tensor:
        def __init__(self, key, offset, shape):
            self.key, self.offset, self.shape = key, offset, shape

        def __reduce__(self):
            stride = tuple(int(np.prod(self.shape[i + 1 :])) for i in range(len(self.shape)))
            return _rebuild_tensor_v2, (Storage(self.key), self.offset, self.shape, stride, False, {})

    state, offset = collections.OrderedDict(), 0
    for k, v in obj["model_state"].items():
        if k.startswith("lstm.weight"):
            state[k] = Tensor("flat", offset, v.shape)
            offset += v.size
        else:
            storages[k] = v.ravel()
            state[k] = Tensor(k, 0, v.shape)

    class Pickler(pickle.Pickler):
        def persistent_id(self, o):
            if isinstance(o, Storage):
                return ("storage", FloatStorage, o.key, "cpu", storages[o.key].size, None)
            return None

    saved = {m: sys.modules.get(m) for m in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        f = io.BytesIO()
        for head in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}):
            pickle.dump(head, f, protocol=2)
        Pickler(f, protocol=2).dump({**obj, "model_state": state})
    finally:
        for m, mod in saved.items():
            if mod is None:
                sys.modules.pop(m, None)
            else:
                sys.modules[m] = mod
    pickle.dump(list(storages), f, protocol=2)
    for data in storages.values():
        f.write(np.int64(data.size).tobytes() + np.asarray(data, "<f4").tobytes())
    return f.getvalue()


def test_reads_a_legacy_torch_checkpoint_without_torch_and_runs_no_other_global():
    state = _state(np.random.default_rng(0))
    got = tool.read_checkpoint(_legacy_torch_file({"step": 7, "model_state": state}))
    assert got["step"] == 7 and list(got["model_state"]) == list(state)
    for k, v in state.items():
        np.testing.assert_array_equal(got["model_state"][k], v)
    assert tool.check_state(got["model_state"]).keys() == state.keys()
    # a pickle that would call os.system is refused before anything runs
    evil = io.BytesIO()
    for head in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
        pickle.dump(head, evil, protocol=2)
    evil.write(b"cos\nsystem\n(S'echo pwned'\ntR.")
    with pytest.raises(TeacherBuildError, match="os.system"):
        tool.read_checkpoint(evil.getvalue())
    with pytest.raises(TeacherBuildError, match="os.system"):  # in the first pickle too
        tool.read_checkpoint(b"cos\nsystem\n(S'echo pwned'\ntR.")
    with pytest.raises(TeacherBuildError, match="not a legacy torch.save"):
        tool.read_checkpoint(b"PK\x03\x04 a zip-format checkpoint")
    truncated = _legacy_torch_file({"model_state": state})[:-100]
    with pytest.raises(TeacherBuildError, match="missing or not its size"):
        tool.read_checkpoint(truncated)
    with pytest.raises(TeacherBuildError, match="lstm.weight_hh_l1"):
        tool.check_state({**state, "lstm.weight_hh_l1": np.zeros((3, 3), np.float32)})


def test_partial_utterances_follow_resemblyzer():
    assert tool.partial_starts(8000) == [0]  # shorter than one partial: one, zero-padded
    assert tool.partial_starts(25600) == [0]  # 1.6 s
    assert tool.partial_starts(31519) == [0]  # the second would be under 75 % audio
    assert tool.partial_starts(31520) == [0, 77]
    assert tool.partial_starts(48000) == [0, 77, 154]


@pytest.mark.slow
def test_module_matches_the_numpy_reference_and_saves_as_a_teacher(tmp_path):
    state = tool.check_state(_state(np.random.default_rng(1)))
    module = tool.build_module(state)
    rng = np.random.default_rng(2)
    for n in (6000, 31520):  # one partial; two
        t = np.arange(n) / 16000
        x = np.stack([0.05 * np.sin(2 * np.pi * 300 * t) + 0.01 * rng.standard_normal(n), np.zeros(n)])
        x[1, : n // 3] = 0.2 * rng.standard_normal(n // 3)  # a row that is mostly padding
        got = module(tf.constant(x.astype(np.float32)))["embedding"].numpy()
        assert got.shape == (2, 8)
        for row in range(2):
            np.testing.assert_allclose(got[row], tool.reference(state, x[row].astype(np.float32)), atol=1e-4)
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    out = tool.save(module, str(tmp_path / "teacher"))
    loaded = tf.saved_model.load(out)
    x = rng.uniform(-0.3, 0.3, (1, 20000)).astype(np.float32)
    want = module(tf.constant(x))["embedding"].numpy()
    np.testing.assert_allclose(loaded(tf.constant(x))["embedding"].numpy(), want, atol=1e-6)
    np.testing.assert_allclose(
        loaded.signatures["serving_default"](audio_samples=tf.constant(x))["embedding"].numpy(), want, atol=1e-6
    )
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".teacher-")]  # no temporary folder left


def test_a_wheel_without_the_published_file_is_refused(tmp_path):
    import zipfile

    wheel = tmp_path / "Resemblyzer-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(tool.MEMBER, b"not the weights")
        zf.writestr(tool.RECORD, f"{tool.MEMBER},sha256=AAAA,15\n")
    with pytest.raises(TeacherBuildError, match="RECORD"):
        tool.read_state(str(wheel))
    assert tool.find_wheel(str(wheel), str(tmp_path / "cache")) == str(wheel)
    with pytest.raises(TeacherBuildError, match="no such file"):
        tool.find_wheel(str(tmp_path / "missing.whl"), str(tmp_path))
