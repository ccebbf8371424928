"""The streaming front end: log-mel frames computed once per hop, as a live runtime needs them.

```python
from export.stream import FrameFrontEnd, read_settings
settings = read_settings(Layout("OUT"))           # stream/stream.json: frame_length, frame_step, frames, ...
fe = FrameFrontEnd(open("OUT/stream/frontend.tflite", "rb").read(), settings["frame_length"], settings["frame_step"])
frames = fe.frames(block)                         # [frames, bins, 1]: every whole frame of the block
fe.block_samples(49)                              # the samples that make 49 frames
```
The clip model (`stages/stage_1.tflite`) computes all of a window's frames again for every
window; a live runtime that decides every hop would recompute the frames the windows share.
`stream/frontend.tflite` turns a block of audio of any length into its log-mel frames with the
model's own `LogMel` settings (stock TFLite ops; the input is resized to the block), and
`stream/stage_1.tflite` is stage 1 from those frames: the same numbers, each frame computed once.
"""

import json

import numpy as np
import tensorflow as tf

from export.files import atomic_write
from export.layout import IncompleteExport

SETTINGS = "stream.json"


def write_settings(layout, frontend_params, frames, clip_samples, kind=None):
    """stream/stream.json: what a live runtime needs to frame audio as the model did (and, for people,
    which front end `kind` frontend.tflite computes).

    Args:
        layout: the run's output folder (`Layout`).
        frontend_params: the `LogMel` layer's `params` (sample_rate, frame_length, frame_step, num_mel_bins).
        frames: the frames of one clip (stage 1's input length in frames).
        clip_samples: the samples of one clip.
        kind: the front end's kind, recorded for people; None when unknown.

    Returns:
        The path of stream/stream.json.
    """
    data = {
        "sample_rate": frontend_params["sample_rate"],
        "frame_length": frontend_params["frame_length"],
        "frame_step": frontend_params["frame_step"],
        "frames": int(frames),
        "clip_samples": int(clip_samples),
        "num_mel_bins": frontend_params["num_mel_bins"],
        "kind": kind,
    }
    return atomic_write(layout.path(layout.STREAM, SETTINGS), json.dumps(data, indent=2).encode())


def read_settings(layout):
    """The settings of stream/stream.json that a runtime uses.

    Args:
        layout: the run's output folder (`Layout`).

    Returns:
        {"sample_rate", "frame_length", "frame_step", "frames", "clip_samples"}, each an int.

    Raises:
        IncompleteExport: when the file is missing, not JSON or lacks a setting.
    """
    path = layout.require(layout.path(layout.STREAM, SETTINGS))
    try:
        with open(path) as f:
            data = json.load(f)
        return {k: int(data[k]) for k in ("sample_rate", "frame_length", "frame_step", "frames", "clip_samples")}
    except (ValueError, KeyError, TypeError) as e:
        raise IncompleteExport(f"{path}: not a stream settings file ({e})") from None


class FrameFrontEnd:
    """stream/frontend.tflite: a block of audio [samples] → its log-mel frames [frames, bins, 1]."""

    def __init__(self, fb, frame_length, frame_step, num_threads=1):
        # the stock interpreter: its input can be resized to each block length (LCE's cannot)
        self.interpreter = tf.lite.Interpreter(model_content=bytes(fb), num_threads=num_threads)
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]
        self.frame_length, self.frame_step = int(frame_length), int(frame_step)
        self.length = None

    def block_samples(self, frames):
        """The samples that hold `frames` whole frames.

        Args:
            frames: the number of frames.

        Returns:
            (frames - 1) × frame_step + frame_length.
        """
        return (int(frames) - 1) * self.frame_step + self.frame_length

    def frames(self, block):
        """Every whole frame of `block` (frames start `frame_step` apart): [frames, bins, 1].

        Args:
            block: audio samples (flattened, cast to float32).

        Returns:
            The log-mel frames, a numpy array [frames, bins, 1].

        Raises:
            ValueError: when the block is shorter than one frame.
        """
        block = np.ascontiguousarray(np.asarray(block, np.float32).ravel()[None, :])
        if block.shape[1] < self.frame_length:
            raise ValueError(f"a block of {block.shape[1]} samples holds no {self.frame_length}-sample frame")
        if block.shape[1] != self.length:
            self.interpreter.resize_tensor_input(self.input, block.shape)
            self.interpreter.allocate_tensors()
            self.length = block.shape[1]
        self.interpreter.set_tensor(self.input, block)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output)[0]
