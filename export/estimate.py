"""What a device would do: a converted model's latency estimated from its ops and MAC counts, with the
rates the estimate assumes written beside it.

x86 runs LCE's portable C++ kernels only; its optimised binary kernels are 64-bit ARM. So the ratios
measured here (front end against binary sections, exit 1 against the last exit) are not a device's:
on a Raspberry Pi the binary convolutions get several times faster while the float parts do not.
This module turns what a flatbuffer computes (`export.flatbuffer.inspect`: MACs per op, elements per
op) into milliseconds on a device model, part by part, so the report can say where early exit pays
there.

```python
from export import estimate
fb = open("OUT/stages/stage_1.tflite", "rb").read()
e = estimate.estimate(fb, "rpi4")   # {"ms": ..., "parts_ms": {"binary": ..., "float": ..., ...}, "device": ...}
estimate.DEVICES["rpi4"].rates()    # the assumed rates, for the report
```
An estimate, not a measurement: `brillsson benchmark OUT --lce-benchmark …` on the device measures.
"""

import dataclasses
from typing import Dict, Union

from export import flatbuffer

GEMM_OPS = {"CONV_2D", "FULLY_CONNECTED", "BATCH_MATMUL"}
TRANSCENDENTAL_OPS = {"LOG", "EXP", "SQRT", "RSQRT", "TANH", "LOGISTIC", "POW", "COMPLEX_ABS"}
FREE_OPS = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}  # no data moves in TFLite


@dataclasses.dataclass(frozen=True)
class Device:
    """Rates of one core of a device, each an assumption stated with its reason (`notes`)."""

    name: str
    clock_hz: float
    binary_macs_per_cycle: float  # LceBconv2d, whole op (bitpacking, im2col/indirect, output transform)
    float_macs_per_cycle: float  # CONV_2D, FULLY_CONNECTED, BATCH_MATMUL (ruy / XNNPACK GEMM)
    int8_macs_per_cycle: float  # the same ops with int8 inputs
    depthwise_macs_per_cycle: float  # DEPTHWISE_CONV_2D
    fft_macs_per_cycle: float  # RFFT2D (TFLite's scalar fft2d), MACs as `flatbuffer` counts them
    elements_per_cycle: float  # elementwise, pooling, quantize ops: output elements per cycle
    transcendental_cycles: float  # LOG, EXP, SQRT, ...: cycles per element
    op_overhead_s: float  # interpreter dispatch per op
    notes: tuple = ()

    def rates(self) -> Dict[str, object]:
        """The assumed rates as a dict (report.json, report.md).

        Returns:
            {field name: value} of every field, `notes` included.
        """
        return {k: v for k, v in dataclasses.asdict(self).items()}


RASPBERRY_PI_4 = Device(
    name="Raspberry Pi 4 (Cortex-A72, 1.5 GHz, 1 thread)",
    clock_hz=1.5e9,
    binary_macs_per_cycle=42.5,
    float_macs_per_cycle=4.0,
    int8_macs_per_cycle=8.0,
    depthwise_macs_per_cycle=2.0,
    fft_macs_per_cycle=1.0,
    elements_per_cycle=1.0,
    transcendental_cycles=20.0,
    op_overhead_s=1e-6,
    notes=(
        "binary: LCE's aarch64 bgemm inner block does 2,048 binary MACs in 48 NEON instructions, about 85 per "
        "cycle on the A72's two NEON pipes; half of that is assumed over a whole LceBconv2d (bitpacking, "
        "indirect im2col, output transform, edges of small maps)",
        "float GEMM: the A72 issues two 128-bit FMAs a cycle, 8 fp32 MACs; ruy reaches about half of that on "
        "the small GEMMs here (4 MACs a cycle, 6 GMAC/s); int8 (the A72 has no dot-product instructions: "
        "16-bit multiply-accumulates, twice the fp32 lanes) twice that, for GEMMs and depthwise alike",
        "depthwise: half the GEMM rate (little reuse); RFFT2D: TFLite's fft2d kernel is scalar C (1 MAC a "
        "cycle, MACs counted as N log2 N per frame); elementwise: 1 output element a cycle per op; LOG, SQRT "
        "and the like: 20 cycles an element (scalar libm); 1 us of interpreter dispatch per op",
    ),
)
DEVICES = {"rpi4": RASPBERRY_PI_4}


def get(device: Union[str, Device]) -> Device:
    """The `Device` of a name.

    Args:
        device: a `Device` (returned as it is) or a name of `DEVICES`.

    Returns:
        The `Device`.

    Raises:
        KeyError: for an unknown name.
    """
    if isinstance(device, Device):
        return device
    if device not in DEVICES:
        raise KeyError(f"unknown device '{device}'; choose one of {sorted(DEVICES)}")
    return DEVICES[device]


def estimate(fb: bytes, device: Union[str, Device] = "rpi4") -> dict:
    """Estimated milliseconds of one invocation of flatbuffer `fb` on `device`, by part.

    Args:
        fb: a converted model (LCE or stock TFLite flatbuffer).
        device: a `Device` or a name of `DEVICES`.

    Returns:
        {"ms": total, "parts_ms": {"binary", "float" (GEMMs, float or int8), "depthwise", "fft", "elementwise",
        "transcendental", "overhead"}, "device": the device's name}.

    Raises:
        KeyError: for an unknown device name.
    """
    d = get(device)
    parts = dict.fromkeys(("binary", "float", "depthwise", "fft", "elementwise", "transcendental", "overhead"), 0.0)
    for op in flatbuffer.inspect(fb)["ops"]:
        name, macs, elements = op["op"], op["macs"], op.get("elements", 0)
        if name in FREE_OPS or (name == "DEQUANTIZE" and op.get("constant")):
            continue  # TFLite dequantizes a stored (constant) tensor once, when the interpreter is prepared
        parts["overhead"] += d.op_overhead_s
        if name in flatbuffer.BINARY_OPS:
            parts["binary"] += macs / (d.binary_macs_per_cycle * d.clock_hz)
        elif name in GEMM_OPS:
            rate = d.int8_macs_per_cycle if op.get("int8") else d.float_macs_per_cycle
            parts["float"] += macs / (rate * d.clock_hz)
        elif name == "DEPTHWISE_CONV_2D":
            rate = d.depthwise_macs_per_cycle * (
                d.int8_macs_per_cycle / d.float_macs_per_cycle if op.get("int8") else 1
            )
            parts["depthwise"] += macs / (rate * d.clock_hz)
        elif name == "RFFT2D":
            parts["fft"] += macs / (d.fft_macs_per_cycle * d.clock_hz)
        elif name in TRANSCENDENTAL_OPS:
            parts["transcendental"] += elements * d.transcendental_cycles / d.clock_hz
        else:
            parts["elementwise"] += elements / (d.elements_per_cycle * d.clock_hz)
    parts_ms = {k: v * 1e3 for k, v in parts.items()}
    return {"ms": sum(parts_ms.values()), "parts_ms": parts_ms, "device": d.name}
