"""pipeline.student: the exits' temperatures, fitted on validation clips and folded into the classifiers."""

import numpy as np
import pytest

from export.layout import Layout
from helpers import small, tone_batch
from models import students
from pipeline import calibrate, config, corpus, distill, student, targets
from pipeline.corpus import Split


@pytest.mark.slow
def test_temperatures_are_folded_into_the_classifiers():
    x, y, _ = tone_batch(24)
    m = small("quicknet", exits=2)
    distill.train_heads(m, x, y, epochs=40, batch_size=8, verbose=0)  # overconfident on its own clips
    before = m.predict(x, verbose=0)
    temps = student.calibrate_exits(m, Split(x, y, tuple(map(str, range(len(y))))))
    after = m.predict(x, verbose=0)
    assert len(temps) == 2
    for k, t in enumerate(temps, 1):
        assert t == pytest.approx(calibrate.fit_temperature(before[f"exit{k}_probs"], y), rel=1e-3)
        z = np.log(before[f"exit{k}_probs"]) / t
        want = np.exp(z - z.max(1, keepdims=True))
        np.testing.assert_allclose(after[f"exit{k}_probs"], want / want.sum(1, keepdims=True), atol=1e-4)
        nll = [float(np.mean(-np.log(p[f"exit{k}_probs"][np.arange(len(y)), y] + 1e-12))) for p in (before, after)]
        assert nll[1] <= nll[0] + 1e-6  # on the clips it was fitted on, the calibrated exit is no worse
    np.testing.assert_allclose(after["exit2_embedding"], before["exit2_embedding"])  # the embedding is untouched


@pytest.mark.slow
def test_twin_init_starts_the_binary_student_from_the_trained_twin(task_dir, stand_in_teacher, tmp_path):
    flags = [
        "--data",
        task_dir,
        "--teacher",
        stand_in_teacher,
        "--clip-seconds",
        "0.5",
        "--epochs",
        "0",
        "--head-epochs",
        "0",
        "--fine-tune-epochs",
        "0",
        "--width",
        "8",
        "--depth",
        "1",
        "--out",
        str(tmp_path),
        "--quiet",
    ]
    cfg, layout = config.from_argv(flags + ["--twin-init"]), Layout(tmp_path)
    c, goal = targets.teacher_targets(corpus.load_corpus(cfg.data), cfg, layout)
    started = student.train_student(c, goal, cfg, layout)  # trains the twin first (no epochs: its own init)
    twin = student.train_student(c, goal, cfg, layout, float_twin=True)  # the checkpoint the start came from
    assert students.is_binary(started.model) and not students.is_binary(twin.model)
    for a, b in zip(started.model.get_weights(), twin.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    plain = student.train_student(c, goal, config.from_argv(flags), layout)  # without: its own weights
    assert plain.key != started.key and twin.key == student.training_key(c, goal, config.from_argv(flags), True)
    assert any(not np.array_equal(a, b) for a, b in zip(plain.model.get_weights(), twin.model.get_weights()))


def test_classifiers_are_scored_and_exported_on_the_int8_grid_unless_asked_not_to(task_dir, stand_in_teacher, tmp_path):
    from models import int8

    flags = ["--data", task_dir, "--teacher", stand_in_teacher, "--clip-seconds", "0.5", "--epochs", "0"]
    flags += ["--head-epochs", "1", "--fine-tune-epochs", "0", "--width", "8", "--depth", "1"]
    flags += ["--out", str(tmp_path), "--quiet"]
    cfg, layout = config.from_argv(flags), Layout(tmp_path)
    c, goal = targets.teacher_targets(corpus.load_corpus(cfg.data), cfg, layout)
    rounded = student.train_student(c, goal, cfg, layout)
    kept = student.train_student(c, goal, config.from_argv(flags + ["--no-int8-weights"]), layout)
    assert kept.key == rounded.key and not kept.epoch_seconds  # the same training, reused: only the rounding differs
    assert (rounded.classifier_weights, kept.classifier_weights) == ("int8", "float32")
    assert rounded.section()["classifier_weights"] == "int8"
    for name in students.exit_names(rounded.model):
        a, b = rounded.model.get_layer(name).kernel.numpy(), kept.model.get_layer(name).kernel.numpy()
        np.testing.assert_array_equal(a, int8.on_grid(b, axis=1))
        assert not np.array_equal(a, b)
    for name in students.exit_names(rounded.model, students.EMBEDDING):  # the embedding heads as trained
        kernels = [m.model.get_layer(name).kernel.numpy() for m in (rounded, kept)]
        np.testing.assert_array_equal(*kernels)
