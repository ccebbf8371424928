"""pipeline.config: one run configuration from flags and a --config file, validated before
anything is written."""

import os

import pytest

from pipeline import config, run


def test_config_file_sets_flags(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("epochs: 7\nclip-seconds: 0.5\n")
    args = config.from_argv(["--config", str(cfg), "--exits", "4"])
    assert (args.train.epochs, args.data.clip_seconds, args.student.exits) == (7, 0.5, 4)
    assert config.from_argv(["--config", str(cfg), "--epochs", "9"]).train.epochs == 9


def test_run_py_takes_eval_tasks(tmp_path):
    assert config.from_argv(["--eval-tasks", "a", "b"]).eval.tasks == ["a", "b"]
    assert config.from_argv([]).eval.tasks is None
    cfg = tmp_path / "c.yaml"
    cfg.write_text("eval-tasks: [x, y]\n")
    assert config.from_argv(["--config", str(cfg)]).eval.tasks == ["x", "y"]


def test_bad_flags_are_clear_errors(capsys, tmp_path):
    for argv, msg in (
        (["--student", "resnet"], "unknown student family 'resnet'"),
        (["--exits", "0"], "must be >= 1"),
        (["--exit-weights", "1,a"], "numbers separated by commas"),
        (["--optimizer", "sgd"], "invalid choice: 'sgd'"),
        (["--strategy", "tpu"], "invalid choice: 'tpu'"),
        (["--val-fraction", "1.5"], "must be in [0, 1)"),
    ):
        with pytest.raises(SystemExit) as e:
            run.call(argv + ["--out", str(tmp_path / "never")])
        assert msg in str(e.value.code), argv
    assert not (tmp_path / "never").exists()  # refused before anything was written
    args = config.build({"exit_weights": "0.5,1", "exits": 2, "spec_augment": False, "optimizer": "bop"})
    assert args.train.exit_weights == [0.5, 1.0] and args.student.spec_augment is False
    assert args.train.optimizer == "bop"
    with pytest.raises(SystemExit, match="2 exit weights given for 3 exits"):
        run.call(["--exit-weights", "0.5,1", "--exits", "3", "--out", str(tmp_path / "never")])


def test_removed_settings_are_refused_naming_the_setting_and_why(tmp_path):
    """A config file or flag of an earlier version that names a removed setting (or a removed value of a
    kept one) fails with that setting's name and the reason, never silently or as merely "unknown"."""
    cases = {
        "flat.yaml": ("self-distill: 0.5\n", "--self-distill was removed", "no gain beyond noise"),
        "section.yaml": ("student: {head_bands: 4}\n", "--head-bands was removed", "cost exit 1"),
        "value.json": ('{"train": {"loss": "whitened"}}', "--loss whitened was removed", "lost 9-36 points"),
    }
    for name, (text, removed, why) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(config.ConfigError) as e:
            config.from_argv(["--config", str(path)])
        assert removed in str(e.value) and why in str(e.value) and str(path) in str(e.value), str(e.value)
        assert "CHANGELOG.md" in str(e.value)
    for argv, removed in (
        (["--self-distill", "0.5"], "--self-distill was removed"),
        (["--head-bands", "4"], "--head-bands was removed"),
        (["--loss", "whitened"], "--loss whitened was removed"),
        (["--stochastic-depth", "0.2"], "--stochastic-depth was removed"),
    ):
        with pytest.raises(SystemExit) as e:
            run.call(argv + ["--out", str(tmp_path / "never")])
        assert removed in str(e.value.code), argv
    assert not (tmp_path / "never").exists()
    assert config.from_argv(["--loss", "cosine"]).train.loss == "cosine"  # the kept values still work
    assert "--self-distill" not in config.parser().format_help()  # and the removed ones are not offered


def test_every_preset_in_configs_loads_and_sets_what_it_says():
    import yaml

    root = os.path.join(os.path.dirname(__file__), "..", "..", "configs")
    presets = sorted(f for f in os.listdir(root) if f.endswith((".yaml", ".yml")))
    assert {"demo.yaml", "distillation-study.yaml", "keywords-real-teacher.yaml"} <= set(presets)
    for name in presets:
        path = os.path.join(root, name)
        cfg = config.from_argv(["--config", path])  # an unknown or removed key raises
        with open(path) as f:
            data = yaml.safe_load(f)
        for key, value in data.items():
            for k, v in value.items() if isinstance(value, dict) else [(key, value)]:
                got = getattr(getattr(cfg, key) if isinstance(value, dict) else cfg, k)
                assert got == v or str(got).endswith(str(v)), (name, key, k, got, v)


def test_frontend_filters_reach_the_front_end_and_the_training_key():
    from pipeline import student

    default, int8 = config.from_argv([]), config.from_argv(["--frontend-filters", "int8"])
    assert student.frontend(default.student)["filters"] == "float16"
    assert student.frontend(int8.student) == {**student.frontend(default.student), "filters": "int8"}
    # other filters, other weights: a rerun never reuses the checkpoints of the other bank
    assert config.key(default.student) != config.key(int8.student)
