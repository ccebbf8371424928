"""pipeline.views: teacher views (augmented copies the teacher embeds itself): seeded recipes,
the audio they make, cache keys, and the real stand-in teacher embedding them once."""

import numpy as np
import pytest

from export.layout import Layout
from helpers import tone_clip
from pipeline import config, corpus, targets, views
from pipeline import teacher as teacher_lib
from pipeline.errors import ConfigError


def test_plan_is_seeded_and_never_pairs_a_clip_with_itself():
    a = views.plan(10, 3, ("speed", "mix"), seed=0)
    assert a == views.plan(10, 3, ("speed", "mix"), seed=0)
    assert a != views.plan(10, 3, ("speed", "mix"), seed=1)
    assert [r["clip"] for r in a] == [i for i in range(10) for _ in range(3)]
    assert all(r["partner"] != r["clip"] for r in a)
    lo, hi = views.SPEED_RANGE
    assert all(lo <= r["speed"]["speed"] <= hi for r in a)
    assert len({r["speed"]["speed"] for r in a}) > 20  # drawn, not one value
    assert all("mix" not in r for r in views.plan(4, 2, ("speed",)))


def test_unknown_view_kind_is_a_clear_error():
    with pytest.raises(ConfigError, match="view kind"):
        views.plan(3, 1, ("reverse",))
    with pytest.raises(ConfigError, match="--view-kinds: .*reverse"):
        config.from_argv(["--view-kinds", "speed,reverse"])
    assert config.from_argv(["--view-kinds", "mix"]).train.view_kinds == ("mix",)


def test_render_speeds_up_and_mixes_at_the_drawn_level():
    x = np.stack([tone_clip(300.0, seconds=0.5, seed=0), tone_clip(2000.0, seconds=0.5, seed=1)])
    fast = views.render(x, [{"clip": 0, "partner": 1, "speed": {"speed": 1.25}}])[0]
    n = x.shape[1]
    assert np.all(fast[int(n / 1.25) + 1 :] == 0) and np.any(fast[: int(n / 1.25)] != 0)
    # the resampled tone is 1.25x higher: its spectrum peaks at 375 Hz, not 300
    peak = np.argmax(np.abs(np.fft.rfft(fast[: int(n / 1.25)]))) * 16000 / int(n / 1.25)
    assert abs(peak - 375) < 10, peak
    mixed = views.render(x, [{"clip": 0, "partner": 1, "mix": {"sir_db": 6.0}}])[0]
    added = mixed - x[0]
    sir = 10 * np.log10(np.mean(x[0] ** 2) / np.mean(added**2))
    assert sir == pytest.approx(6.0, abs=0.1)


def test_view_key_follows_recipe_and_partner_not_indices():
    r = {"clip": 0, "partner": 1, "speed": {"speed": 1.1}}
    k = views.view_key("a", "b", r)
    assert k == views.view_key("a", "b", {**r, "clip": 5, "partner": 7})
    assert k != views.view_key("a", "c", r)
    assert k != views.view_key("a", "b", {**r, "speed": {"speed": 1.2}})


def test_teacher_embeds_each_view_itself_once(task_dir, stand_in_teacher, tmp_path):
    cfg = config.from_argv(
        [
            "--data",
            task_dir,
            "--teacher",
            stand_in_teacher,
            "--clip-seconds",
            "0.25",
            "--teacher-views",
            "2",
            "--teacher-cache",
            str(tmp_path / "cache"),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    layout = Layout(cfg.out_dir)
    c, goal = targets.teacher_targets(corpus.load_corpus(cfg.data, seed=0), cfg, layout)
    v = views.teacher_views(c, goal, cfg, layout)
    n = len(c.distillation())
    assert v.audio.shape == (2 * n, cfg.data.clip_samples) and v.embeddings.shape == (2 * n, 64)
    assert v.info["embedded"] == 2 * n and v.info["cache_hits"] == 0
    # the targets are the teacher's embeddings of the views, not of the clean clips
    direct = teacher_lib.Teacher(stand_in_teacher)(v.audio)
    np.testing.assert_allclose(v.embeddings, direct, rtol=1e-4, atol=1e-5)
    clean = np.repeat(goal.distillation(), 2, axis=0)
    assert np.mean(np.abs(v.embeddings - clean)) > 1e-3
    again = views.teacher_views(c, goal, cfg, layout)
    assert (again.info["embedded"], again.info["cache_hits"]) == (0, 2 * n)
    np.testing.assert_array_equal(again.embeddings, v.embeddings)
    other = views.teacher_views(
        c,
        goal,
        config.from_argv(
            [
                "--data",
                task_dir,
                "--teacher",
                stand_in_teacher,
                "--clip-seconds",
                "0.25",
                "--teacher-views",
                "2",
                "--teacher-cache",
                str(tmp_path / "cache"),
                "--seed",
                "1",
            ]
        ),
        layout,
    )
    assert other.info["embedded"] == 2 * n  # another seed: other views, none reused


def test_distillation_set_adds_views_or_offers_them_as_versions():
    from pipeline import student

    n, k, s, d = 4, 2, 8, 3
    clips = corpus.Split(
        np.arange(n * s, dtype=np.float32).reshape(n, s), np.zeros(n, np.int64), tuple(f"c{i}" for i in range(n))
    )
    c = corpus.Corpus(root="r", labels=("a",), train=clips, test=clips)
    y = np.arange(n * d, dtype=np.float32).reshape(n, d)
    goal = targets.Targets({"train": y, "test": y}, d, "h", False, {}, None)
    v = views.Views(
        -np.arange(n * k * s, dtype=np.float32).reshape(n * k, s),
        -np.arange(n * k * d, dtype=np.float32).reshape(n * k, d),
        {},
        k,
    )
    x_add, y_add = student.distillation_set(c, goal, v, "add")
    assert x_add.shape == (n + n * k, s) and y_add.shape == (n + n * k, d)
    x_s, y_s = student.distillation_set(c, goal, v, "sample")
    assert x_s.shape == (n, 1 + k, s) and y_s.shape == (n, 1 + k, d)
    np.testing.assert_array_equal(x_s[:, 0], clips.audio)  # the clean clip first
    np.testing.assert_array_equal(x_s[2, 1:], v.audio[2 * k : 3 * k])  # then that clip's own views
    np.testing.assert_array_equal(y_s[2, 1:], v.embeddings[2 * k : 3 * k])
    assert student.distillation_set(c, goal, None)[0].shape == (n, s)


def test_each_epoch_draws_one_version_per_clip_and_validation_sees_the_first():
    import tensorflow as tf
    from pipeline import distill

    n, versions = 6, 3
    x = np.repeat(np.arange(versions, dtype=np.float32)[None, :, None], n, axis=0) * np.ones(
        (n, versions, 4), np.float32
    )
    y = {"e": x[..., :2].copy()}
    train = list(distill._dataset(x, y, batch_size=n, seed=0))
    drawn = train[0][0].numpy()[:, 0]
    assert set(drawn) <= {0.0, 1.0, 2.0} and len(set(drawn)) > 1
    np.testing.assert_array_equal(train[0][1]["e"].numpy()[:, 0], drawn)  # audio and target of one version
    ds = distill._dataset(x, y, batch_size=n, seed=0)
    epochs = {tuple(b[0].numpy()[:, 0]) for _ in range(4) for b in ds}
    assert len(epochs) > 1  # drawn afresh every epoch
    val = next(iter(distill._dataset(x, y, batch_size=n)))
    assert np.all(val[0].numpy() == 0.0) and val[0].shape == (n, 4) and isinstance(val[1]["e"], tf.Tensor)
