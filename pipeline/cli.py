"""The command line: one command, `brillsson`, with a subcommand per job.

    brillsson run [flags]                      # the pipeline (same as `python pipeline/run.py [flags]`)
    brillsson evaluate OUT --tasks DIR [--tasks DIR …] [--teacher HANDLE] [--results DIR]
    brillsson train-teacher --data DIR [--data DIR …] --out TEACHER_DIR [--steps 1500]
    brillsson benchmark OUT [--runs 50] [--lce-benchmark PATH [--ssh USER@HOST]] [--parse FILE] [--device-name NAME]
    brillsson classify OUT CLIP.wav [--threshold 0.3] [--portable]
    brillsson listen OUT [--wav CLIP.wav] [--every-ms 500] [--seconds 30]   # live, one decision per hop
    brillsson vectors OUT.json                 # shared early-exit test vectors for other runtimes
    brillsson extract [run flags]              # decode into shards and embed them (--data-format shards)
    brillsson workers --local N --out DIR -- [run flags]   # multi-worker training on this host
    brillsson scale-benchmark --data DIR --work DIR --out FIGURES.json
    brillsson pareto OUT_A OUT_B … --out pareto.png   # choose a default: runs over their seeds
    brillsson frontend-benchmark [--windows 25,16]     # every front end side by side
    brillsson transfer OUT_A OUT_B … --out transfer.png  # held-out probes of several runs, judged
    brillsson speech-embedding-teacher OUT_DIR         # a real keyword-oriented teacher (Google's speech_embedding)
    brillsson ge2e-teacher OUT_DIR                     # a real speaker encoder (Resemblyzer's GE2E)
    brillsson speech-corpus OUT [--scale 1] [--seed 0] [--tasks keywords,…] [--jobs N]   # a synthetic espeak-ng corpus

`python -m pipeline …` is the same command. Library code raises typed errors
(`pipeline.errors`); only this module turns them into one line on stderr and an exit code:
`error: <what and where>`, status 1 (argparse's own usage errors: status 2).

```python
from pipeline import cli
report = cli.call(["run", "--epochs", "2", "--out", "/tmp/out"])   # the subcommand's result
status = cli.main(["classify", "artifacts/demo", "clip.wav"])      # 0: what the console command exits with
```
"""

import argparse
import logging
import os
import sys

from models.errors import BrillssonError
from pipeline.errors import as_command

log = logging.getLogger("pipeline.cli")  # not __name__: run as a script this module is __main__


def _evaluate(a):
    from pipeline import evaluate

    return evaluate.evaluate(
        a.out, a.tasks, teacher=a.teacher, teacher_output=a.teacher_output, out_dir=a.results, seed=a.seed
    )


def _train_teacher(a):
    from pipeline.tools import train_teacher

    return train_teacher.train(
        a.data,
        a.out,
        steps=a.steps,
        batch_size=a.batch_size,
        crop_seconds=a.crop_seconds,
        lr=a.lr,
        embedding_dim=a.embedding_dim,
        seed=a.seed,
        log_every=a.log_every,
        widths=tuple(int(w) for w in a.widths.split(",")),
        hidden=a.hidden,
    )


def _benchmark(a):
    import numpy as np

    from export import benchmark, manifest
    from export.interpreter import LceModel
    from export.layout import Layout
    from pipeline import report

    layout = Layout(a.out)
    manifest.verify(layout, needed=[Layout.EXITS, Layout.STAGES])
    if a.parse or a.lce_benchmark:
        if a.parse:
            try:
                with open(a.parse) as f:
                    text = f.read()
            except OSError as e:
                raise BrillssonError(f"{a.parse}: cannot read ({e.strerror or e})") from None
        else:
            text = benchmark.run_lce_benchmark(layout, a.lce_benchmark, a.ssh)
        figs = benchmark.parse_script_output(text)
        device = a.device_name or (a.ssh.split("@")[-1] if a.ssh else os.uname().nodename)
        for f, v in figs.items():
            print(f"{device}: {f}: " + (f"{v['latency_ms']:.3f} ms" if "latency_ms" in v else v["error"]))
    else:
        with open(layout.exit_files()[0], "rb") as f:
            n = LceModel(f.read()).input_length
        x = np.random.default_rng(0).uniform(-0.3, 0.3, (1, n)).astype(np.float32)
        figs = benchmark.measure(layout, x, runs=a.runs)
        device = a.device_name or "lce_interpreter_here"
    r = benchmark.merge_device_figures(report.read(layout), device, figs)
    report.write(layout, r)
    return figs


def _classify(a):
    from export.runtime import EarlyExitRuntime
    from pipeline import audio as audio_io
    from models.frontend import SAMPLE_RATE

    rt = EarlyExitRuntime(a.out, a.threshold, portable=a.portable)
    x = audio_io.load(a.clip)
    decisions = rt.classify_long(x)
    for start, r in decisions:
        at = f"{start / SAMPLE_RATE:7.2f} s  " if len(decisions) > 1 else ""
        print(
            f"{at}label: {r['label']}  probability: {r['probability']:.3f}  exit: {r['exit']}/{len(rt.stages)}  "
            f"latency: {r['latency_ms']:.2f} ms  threshold: {r['threshold']:.3f}  "
            f"entropies: {', '.join(f'{h:.3f}' for h in r['entropies'])}"
        )
    if len(decisions) > 1:
        print(
            f"{len(decisions)} windows of {rt.clip_samples / SAMPLE_RATE:g} s, "
            f"{rt.clip_samples / 2 / SAMPLE_RATE:g} s apart, cover the {len(x) / SAMPLE_RATE:.2f} s clip"
        )
    return decisions[0][1] if len(decisions) == 1 else [r for _, r in decisions]


def _listen(a):
    from export.listen import file_chunks, listen, microphone_chunks
    from export.runtime import StreamingRuntime
    from models.frontend import SAMPLE_RATE
    from pipeline import audio as audio_io

    hop = int(round(a.every_ms * SAMPLE_RATE / 1000)) if a.every_ms else None
    rt = StreamingRuntime(a.out, a.threshold, hop_samples=hop)
    if a.wav:
        source, where = file_chunks(audio_io.load(a.wav), rt.hop_samples), a.wav
    else:
        device = int(a.input_device) if a.input_device and a.input_device.isdigit() else a.input_device
        source, where = microphone_chunks(rt.hop_samples, device=device, seconds=a.seconds), "the microphone"
    print(
        f"listening to {where}: a decision every {rt.hop_samples / SAMPLE_RATE:g} s on the last "
        f"{rt.clip_samples / SAMPLE_RATE:g} s, threshold {rt.threshold:.3f} (Ctrl-C stops)",
        flush=True,
    )
    decisions = []
    try:
        for start, r in listen(rt, source):
            decisions.append(r)
            print(
                f"{start / SAMPLE_RATE:7.2f} s  label: {r['label']}  probability: {r['probability']:.3f}  "
                f"exit: {r['exit']}/{len(rt.stages)}  latency: {r['latency_ms']:.2f} ms (+ front end "
                f"{r['frontend_ms']:.2f} ms)",
                flush=True,
            )
    except KeyboardInterrupt:
        pass
    return decisions


def _vectors(a):
    from export import vectors

    print(vectors.write(a.path))
    return a.path


def _number(text):
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def parser():
    p = argparse.ArgumentParser(
        prog="brillsson",
        description="Distil a speech-embedding teacher into a binary early-exit student and export it with LCE.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__import__('pipeline').__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    # `run` is parsed by pipeline.run.call (its flags are the settings of pipeline.config): listed here for help
    sub.add_parser(
        "run",
        add_help=False,
        help="the pipeline: audio → teacher → student → LCE files → report (brillsson run --help lists its flags)",
    )

    sub.add_parser(
        "extract",
        add_help=False,
        help="decode a task into shards and embed it with the teacher (the run's flags; brillsson extract --help)",
    )
    sub.add_parser(
        "workers",
        add_help=False,
        help="train on N local workers (MultiWorkerMirroredStrategy) and "
        "check their weights agree (brillsson workers --help)",
    )
    sub.add_parser(
        "scale-benchmark",
        add_help=False,
        help="peak memory and throughput at 1x and Nx the data (brillsson scale-benchmark --help)",
    )

    sub.add_parser(
        "pareto",
        add_help=False,
        help="accuracy vs latency of several runs over their seeds, on a "
        "Raspberry Pi 4 estimate and as measured (brillsson pareto --help)",
    )

    sub.add_parser(
        "frontend-benchmark",
        add_help=False,
        help="every front end side by side: MACs, latency here (LCE, stock TFLite), Pi 4 estimate",
    )

    sub.add_parser(
        "transfer",
        add_help=False,
        help="several runs' linear probes (eval.json) side by side, judged against the teacher and log-mel "
        "statistics (brillsson transfer --help)",
    )

    sub.add_parser(
        "speech-embedding-teacher",
        add_help=False,
        help="a real pretrained keyword-oriented teacher with TRILLsson's interface: Google's "
        "speech_embedding from the openwakeword wheel (pip install -e '.[tools]')",
    )
    sub.add_parser(
        "ge2e-teacher",
        add_help=False,
        help="a real pretrained speaker encoder with TRILLsson's interface: Resemblyzer's GE2E from the "
        "resemblyzer wheel (no PyTorch needed)",
    )
    sub.add_parser(
        "speech-corpus",
        add_help=False,
        help="synthesise a multi-task speech corpus with espeak-ng: keywords, language, speaker, unlabelled pool",
    )

    s = sub.add_parser("evaluate", help="linear probes of the teacher, every exit and a log-mel baseline")
    s.add_argument("out", help="a run's output folder (embedding.tflite, report.json)")
    s.add_argument(
        "--tasks",
        required=True,
        action="append",
        metavar="DIR",
        help="task folder (DIR/<label>/… or DIR/train|test/<label>/…); repeat for more tasks",
    )
    s.add_argument("--teacher", help="teacher handle (default: teacher.handle of MODEL/report.json)")
    s.add_argument("--teacher-output", help="teacher output key (default: the run's, else 'embedding')")
    s.add_argument("--results", metavar="DIR", help="folder for eval.json, eval.md, eval.png (default: OUT)")
    s.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the probe's cross-validation folds, and of the split by speaker of a task that lists "
        "no test split (default 0)",
    )
    s.add_argument("--quiet", action="store_true", help="no progress lines")
    s.set_defaults(func=_evaluate)

    s = sub.add_parser("train-teacher", help="train a stand-in teacher with TRILLsson's interface")
    s.add_argument(
        "--data", action="append", required=True, help="labelled task folder (repeat for several tasks, one head each)"
    )
    s.add_argument("--out", required=True, help="folder for the SavedModel and teacher.json")
    s.add_argument("--steps", type=int, default=1500, help="training steps, one batch of one task each (default 1500)")
    s.add_argument("--batch-size", type=int, default=64)
    s.add_argument(
        "--crop-seconds", type=float, default=1.5, help="random training crops of longer clips (default 1.5)"
    )
    s.add_argument("--lr", type=float, default=1e-3)
    s.add_argument("--embedding-dim", type=int, default=1024)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument(
        "--widths", default="32,64,128,256,512", help="channels of the conv stages (default 32,64,128,256,512)"
    )
    s.add_argument("--hidden", type=int, default=2048, help="units of the hidden dense layer (default 2048)")
    s.add_argument("--log-every", type=int, default=50, help="progress line every N steps (default 50)")
    s.add_argument("--quiet", action="store_true", help="no progress lines")
    s.set_defaults(func=_train_teacher)

    s = sub.add_parser("benchmark", help="time every exit and stage here, or parse lce_benchmark_model's output")
    s.add_argument("out", help="a run's output folder")
    s.add_argument("--runs", type=int, default=50)
    s.add_argument("--lce-benchmark", metavar="PATH", help="lce_benchmark_model binary (here, or on --ssh host)")
    s.add_argument("--ssh", metavar="USER@HOST", help="copy the files to this host and benchmark there")
    s.add_argument("--parse", metavar="FILE", help="read the saved output of OUT/pi/run_benchmark.sh")
    s.add_argument("--device-name", metavar="NAME", help="device name for the figures (default: the host name)")
    s.add_argument("--quiet", action="store_true", help="no progress lines")
    s.set_defaults(func=_benchmark)

    s = sub.add_parser("classify", help="the early-exit runtime on one audio file")
    s.add_argument("out", help="a run's output folder (stages/, labels.txt, thresholds.json)")
    s.add_argument("clip", help="audio file (any format the pipeline reads)")
    s.add_argument("--threshold", type=_number, help="entropy threshold in [0, 1] (default: thresholds.json)")
    s.add_argument("--portable", action="store_true", help="run stages_portable/ (stock TFLite ops)")
    s.add_argument("--quiet", action="store_true", help="no progress lines")
    s.set_defaults(func=_classify)

    s = sub.add_parser("listen", help="live early exit: microphone (or --wav FILE) through the streaming runtime")
    s.add_argument("out", help="a run's output folder (stream/, stages/, labels.txt, thresholds.json)")
    s.add_argument("--wav", metavar="FILE", help="feed this file in hops instead of the microphone")
    s.add_argument("--every-ms", type=_number, help="a decision every this many ms (default: half the window)")
    s.add_argument("--threshold", type=_number, help="entropy threshold in [0, 1] (default: thresholds.json)")
    s.add_argument("--seconds", type=_number, help="stop after this many seconds of microphone audio")
    s.add_argument(
        "--input-device", metavar="DEVICE", help="sounddevice input device (name or index; default: the system's)"
    )
    s.add_argument("--quiet", action="store_true", help="no progress lines")
    s.set_defaults(func=_listen)

    s = sub.add_parser("vectors", help="write the shared early-exit test vectors other runtimes check against")
    s.add_argument("path", help="output .json file")
    s.add_argument("--quiet", action="store_true", help="no progress lines")
    s.set_defaults(func=_vectors)
    return p


# subcommand → (module, function(argv, prog)) for the jobs whose flags their own module parses
PASS_THROUGH = {
    "run": ("pipeline.run", "call"),
    "extract": ("pipeline.extract", "call"),
    "workers": ("pipeline.workers", "main"),
    "scale-benchmark": ("pipeline.tools.scale_benchmark", "main"),
    "pareto": ("pipeline.tools.pareto", "main"),
    "frontend-benchmark": ("pipeline.tools.frontend_benchmark", "main"),
    "speech-embedding-teacher": ("pipeline.tools.speech_embedding_teacher", "main"),
    "ge2e-teacher": ("pipeline.tools.ge2e_teacher", "main"),
    "transfer": ("pipeline.tools.transfer", "main"),
    "speech-corpus": ("pipeline.tools.speech_corpus", "main"),
}


def call(argv=None):
    """Parse `argv` (default: sys.argv[1:]), run the subcommand and return its result (a report, a
    decision, figures); a typed error becomes `SystemExit("error: …")`, status 1."""
    from pipeline import log as log_setup

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] and argv[0] in PASS_THROUGH:  # subcommands that parse their own flags
        import importlib

        module, fn = PASS_THROUGH[argv[0]]
        return getattr(importlib.import_module(module), fn)(argv[1:], prog=f"brillsson {argv[0]}")
    a = parser().parse_args(argv)
    log_setup.configure(quiet=getattr(a, "quiet", False))
    return as_command(lambda: a.func(a))


def main(argv=None) -> int:
    """The `brillsson` console command: `call(argv)`, then exit status 0. The result is not returned:
    the console script passes it to `sys.exit`, which would print it and exit 1."""
    call(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
