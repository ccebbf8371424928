"""Live early exit: audio from a microphone (or a file, as if it were one) through the streaming
runtime, one decision per hop.

    brillsson listen OUT                      # microphone (needs: pip install -e ".[listen]")
    brillsson listen OUT --wav CLIP.wav       # the same path, fed from a file in hops

```python
from export.listen import listen, microphone_chunks, file_chunks
from export.runtime import StreamingRuntime
rt = StreamingRuntime("OUT", hop_samples=8000)
for start, r in listen(rt, microphone_chunks(rt.hop_samples, seconds=10)):
    print(start, r["label"], r["exit"], r["latency_ms"])
```
The microphone goes through `sounddevice` (PortAudio), an optional extra: the rest of the
toolkit never needs it.
"""

import queue

import numpy as np

from models.errors import BrillssonError
from models.frontend import SAMPLE_RATE


class NoMicrophone(BrillssonError):
    """sounddevice (PortAudio) is missing, or no input device could be opened."""


def file_chunks(audio, hop):
    """A clip as a live source would deliver it: `hop` samples at a time.

    Args:
        audio: the clip's samples (flattened, cast to float32).
        hop: samples per chunk.

    Returns:
        An iterator of float32 arrays of `hop` samples (the last may be shorter).
    """
    audio = np.asarray(audio, np.float32).ravel()
    for i in range(0, len(audio), int(hop)):
        yield audio[i : i + int(hop)]


def microphone_chunks(hop, device=None, seconds=None):
    """Mono float32 blocks of `hop` samples at 16 kHz from an input device, until `seconds` have been
    read (None: until interrupted).

    Args:
        hop: samples per block.
        device: a sounddevice input device (index or name); None: the default.
        seconds: how long to listen; None: until interrupted.

    Returns:
        An iterator of float32 arrays [hop].

    Raises:
        NoMicrophone: when sounddevice or PortAudio is missing, or the device cannot be opened.
    """
    try:
        import sounddevice as sd
    except (ImportError, OSError) as e:  # OSError: the package is there, the PortAudio library is not
        raise NoMicrophone(
            f"listening needs sounddevice and PortAudio ({e}); install them with "
            'pip install -e ".[listen]" (and apt-get install libportaudio2), '
            "or pass --wav FILE"
        ) from None
    blocks = queue.Queue()
    try:
        stream = sd.InputStream(
            samplerate=SAMPLE_RATE,
            channels=1,
            dtype="float32",
            blocksize=int(hop),
            device=device,
            callback=lambda data, frames, t, status: blocks.put(data[:, 0].copy()),
        )
    except Exception as e:  # sounddevice.PortAudioError and ValueError for a bad device
        raise NoMicrophone(
            f"cannot open the input device {device if device is not None else '(default)'}: {e}"
        ) from None
    read = 0
    with stream:
        while seconds is None or read < seconds * SAMPLE_RATE:
            block = blocks.get()
            read += len(block)
            yield block


def listen(runtime, chunks):
    """Every decision of `runtime` (a `StreamingRuntime`) on the audio `chunks`: (start sample, result).

    Args:
        runtime: a `StreamingRuntime`.
        chunks: an iterable of audio arrays (`file_chunks`, `microphone_chunks`).

    Returns:
        An iterator of (window start sample, decision), as `StreamingRuntime.push` gives them.
    """
    for chunk in chunks:
        yield from runtime.push(chunk)
