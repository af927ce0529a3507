"""A deployed ANN/SNN fusion network (HAS-8): the plan, its files, and the host runtime (numpy only).

What runs where (docs/has8.md, "Deployment"): the **chip** runs the SNN path of every fusion block,
each as its own model.net *segment* (one synaptic layer — conv or dense — of CUBA neurons; input:
the block input's 8 binary bit planes, MSB first, one plane per time step; output: the spikes of
the 8 steps). The **host** runs everything else in float64: the ANN paths (folded conv/linear +
bias, ReLU), the bit-plane encoder (min-max or [0,1] clip, rounding to 8-bit levels, plane
extraction), the decoder, the fusion sum, the shortcuts, the pooling and the linear head. Blocks
are sequential, so the host and the chip alternate block by block.

The program (``plan["program"]``) is the one the torch model interprets (:mod:`silava.train.has8.models`);
:func:`run` interprets it here with numpy host ops and a ``chip(block, planes) -> spikes`` callback
(hwsim, Lava, or :func:`float_chip`, the folded float reference of the segments).

Files of a deployment folder (written by ``silava fusion export``)::

    fusion.json     the plan: format, arch, image_shape, input_scale, n_classes, program, blocks
                    (geometry, path, rescale, decoder, bits, segment file), meta (task, accuracies,
                    quantization)
    host.npz        float64 arrays: block{i}_ann_weight / _ann_bias (BatchNorm folded),
                    block{i}_snn_weight / _snn_bias / _snn_vol_decay (the folded float SNN path, a
                    reference for tests), head_weight / head_bias
    block{i}.net    the chip segment of block i (model.net)
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from silava.core import bitplane

FORMAT = "silava-fusion"
FORMAT_VERSION = 1
PLAN_FILE = "fusion.json"
HOST_FILE = "host.npz"
STEP_OPS = ("fusion", "save", "shortcut_add", "maxpool", "flatten", "mean_hw", "linear")


class FusionError(ValueError):
    """A malformed deployment folder or bad inputs (one line naming the problem and the fix)."""


@dataclass
class BlockPlan:
    """One fusion block as deployed (see the module docstring)."""

    op: str                                  # conv | linear
    in_shape: tuple[int, ...]                # (C, H, W) or (F,)
    out_shape: tuple[int, ...]
    path: str                                # fusion | ann | snn
    rescale: str                             # none | sample | tensor
    decoder: str                             # bitplane | rate
    bits: int = bitplane.BITS
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    ann_weight: Optional[np.ndarray] = None  # conv (O, C, k, k) | linear (O, I), float64
    ann_bias: Optional[np.ndarray] = None    # (O,)
    snn_weight: Optional[np.ndarray] = None  # folded float SNN path (gain included), same layout
    snn_bias: Optional[np.ndarray] = None    # (O,) on the voltage
    snn_vol_decay: float = 0.0               # fraction of v lost per step (1/τ; IF: 0)
    segment: Optional[str] = None            # file name of the chip segment (model.net)

    @property
    def has_ann(self) -> bool:
        return self.path in ("fusion", "ann")

    @property
    def has_snn(self) -> bool:
        return self.path in ("fusion", "snn")

    def to_json(self) -> dict[str, Any]:
        return {"op": self.op, "in_shape": list(self.in_shape), "out_shape": list(self.out_shape),
                "path": self.path, "rescale": self.rescale, "decoder": self.decoder, "bits": self.bits,
                "kernel": self.kernel, "stride": self.stride, "padding": self.padding,
                "snn_vol_decay": self.snn_vol_decay, "segment": self.segment}


@dataclass
class FusionPlan:
    """A deployed fusion network: program, blocks, head, metadata."""

    arch: str
    image_shape: tuple[int, int, int]
    input_scale: float
    n_classes: int
    program: list[dict[str, Any]]
    blocks: list[BlockPlan]
    head_weight: np.ndarray
    head_bias: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "arch": self.arch,
                "image_shape": list(self.image_shape), "input_scale": self.input_scale,
                "n_classes": self.n_classes, "program": self.program,
                "blocks": [b.to_json() for b in self.blocks], "meta": self.meta}

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"head_weight": self.head_weight, "head_bias": self.head_bias}
        for i, b in enumerate(self.blocks):
            for name in ("ann_weight", "ann_bias", "snn_weight", "snn_bias"):
                value = getattr(b, name)
                if value is not None:
                    out[f"block{i}_{name}"] = value
        return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}

    @property
    def chip_blocks(self) -> list[int]:
        """Indices of the blocks with an SNN path (a chip segment each)."""
        return [i for i, b in enumerate(self.blocks) if b.has_snn]


# ----------------------------------------------------------------------------------------- files

def write_plan(folder: Path, plan: FusionPlan, group: Any) -> None:
    """Write ``fusion.json`` and ``host.npz`` into ``folder`` through an ``atomic_group`` (all or nothing)."""
    validate(plan)
    json_tmp = group.path(folder / PLAN_FILE)
    json_tmp.write_text(json.dumps(plan.to_json(), indent=1, allow_nan=True) + "\n", encoding="utf-8")
    npz_tmp = group.path(folder / HOST_FILE)
    with open(npz_tmp, "wb") as fh:
        np.savez(fh, **plan.arrays())


def read_plan(folder: str | Path) -> FusionPlan:
    """Read and check a deployment folder's plan (the segments are read by their users)."""
    folder = Path(folder)
    where = folder / PLAN_FILE
    if not where.is_file():
        raise FusionError(f"{folder}: no {PLAN_FILE}; pass the folder written by `silava fusion export`")
    try:
        doc = json.loads(where.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FusionError(f"{where}: unreadable JSON ({' '.join(str(exc).split())}); export it again") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("format_version") != FORMAT_VERSION:
        raise FusionError(f"{where}: not a {FORMAT} v{FORMAT_VERSION} plan; export it again")
    try:
        with np.load(folder / HOST_FILE) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise FusionError(f"{folder / HOST_FILE}: unreadable ({' '.join(str(exc).split())}); export it again") from None
    try:
        blocks = []
        for i, b in enumerate(doc["blocks"]):
            blocks.append(BlockPlan(
                op=b["op"], in_shape=tuple(int(v) for v in b["in_shape"]),
                out_shape=tuple(int(v) for v in b["out_shape"]), path=b["path"], rescale=b["rescale"],
                decoder=b["decoder"], bits=int(b["bits"]), kernel=int(b["kernel"]), stride=int(b["stride"]),
                padding=int(b["padding"]), snn_vol_decay=float(b["snn_vol_decay"]), segment=b["segment"],
                **{name: arrays.get(f"block{i}_{name}") for name in ("ann_weight", "ann_bias", "snn_weight",
                                                                       "snn_bias")}))
        plan = FusionPlan(arch=doc["arch"], image_shape=tuple(int(v) for v in doc["image_shape"]),  # type: ignore[arg-type]
                          input_scale=float(doc["input_scale"]), n_classes=int(doc["n_classes"]),
                          program=list(doc["program"]), blocks=blocks, head_weight=arrays["head_weight"],
                          head_bias=arrays["head_bias"], meta=dict(doc.get("meta", {})))
    except (KeyError, TypeError, ValueError) as exc:
        raise FusionError(f"{where}: malformed plan ({type(exc).__name__}: {exc}); export it again") from None
    validate(plan)
    return plan


def validate(plan: FusionPlan) -> None:
    """Check the plan's consistency (program steps, blocks, array shapes); raise :class:`FusionError`."""
    for j, step in enumerate(plan.program):
        if not isinstance(step, dict) or step.get("op") not in STEP_OPS:
            raise FusionError(f"program/{j}: unknown step {step!r} (steps: {', '.join(STEP_OPS)})")
        if step["op"] == "fusion" and not 0 <= int(step.get("block", -1)) < len(plan.blocks):
            raise FusionError(f"program/{j}: block {step.get('block')} does not exist")
    for i, b in enumerate(plan.blocks):
        where = f"blocks/{i}"
        if b.op not in ("conv", "linear") or b.path not in ("fusion", "ann", "snn"):
            raise FusionError(f"{where}: op {b.op!r} / path {b.path!r} not supported")
        n_out = b.out_shape[0]
        n_in = b.in_shape[0]
        wshape = (n_out, n_in, b.kernel, b.kernel) if b.op == "conv" else (n_out, int(np.prod(b.in_shape)))
        for name, present, shape in (("ann", b.has_ann, wshape), ("snn", b.has_snn, wshape)):
            w, bias = getattr(b, f"{name}_weight"), getattr(b, f"{name}_bias")
            if present and (w is None or bias is None or tuple(w.shape) != shape or tuple(bias.shape) != (n_out,)):
                raise FusionError(f"{where}: the {name} path needs weight {shape} and bias ({n_out},) in {HOST_FILE}")
        if b.has_snn and not b.segment:
            raise FusionError(f"{where}: an SNN path needs its chip segment file")
    if plan.head_weight.ndim != 2 or plan.head_weight.shape[0] != plan.n_classes:
        raise FusionError(f"head_weight: expected ({plan.n_classes}, features), got {plan.head_weight.shape}")


# ----------------------------------------------------------------------------------------- host ops

def conv2d(x: np.ndarray, w: np.ndarray, stride: int, padding: int) -> np.ndarray:
    """``[B, C, H, W] * [O, C, k, k] -> [B, O, H', W']`` (cross-correlation, as torch), float64."""
    k = w.shape[-1]
    xp = np.pad(np.asarray(x, dtype=np.float64), ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("bchwij,ocij->bohw", win, np.asarray(w, dtype=np.float64), optimize=True)


def apply_op(b: BlockPlan, x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """The block's synaptic op with a per-output-channel bias: conv or linear, float64."""
    if b.op == "conv":
        return conv2d(x, weight, b.stride, b.padding) + bias[None, :, None, None]
    return np.asarray(x, dtype=np.float64) @ weight.T + bias


def maxpool(x: np.ndarray, k: int) -> np.ndarray:
    B, C, H, W = x.shape
    h, w = H // k, W // k
    return x[:, :, :h * k, :w * k].reshape(B, C, h, k, w, k).max(axis=(3, 5))


def float_chip(plan: FusionPlan) -> Callable[[int, np.ndarray], np.ndarray]:
    """The folded float model of the chip segments (a reference, no quantization)::

        u_t = W''·planes_t   (CUBA with δu = 1: the current keeps no memory)
        v_t = (1 − δv) v_{t−1} + u_t + c'' ;  s_t = v_t > 1 ;  v_t ← 0 where s_t
    """
    def chip(i: int, planes: np.ndarray) -> np.ndarray:
        b = plan.blocks[i]
        T = planes.shape[0]
        cur = apply_op(b, planes.reshape(T * planes.shape[1], *planes.shape[2:]), b.snn_weight,
                       np.zeros_like(b.snn_bias))
        cur = cur.reshape(T, planes.shape[1], *cur.shape[1:])
        bias = b.snn_bias[:, None, None] if b.op == "conv" else b.snn_bias
        v = np.zeros(cur.shape[1:])
        out = np.zeros(cur.shape, dtype=np.int64)
        for t in range(T):
            v = (1.0 - b.snn_vol_decay) * v + cur[t] + bias
            s = v > 1.0
            v[s] = 0.0
            out[t] = s
        return out
    return chip


def planes_to_inputs(planes: np.ndarray) -> np.ndarray:
    """Bit planes ``[T, B, ...]`` → a segment's input ``x [B, T, F]`` (int64; F in (C, H, W) order)."""
    T, B = planes.shape[:2]
    return np.ascontiguousarray(np.asarray(planes).reshape(T, B, -1).transpose(1, 0, 2), dtype=np.int64)


def outputs_to_spikes(out: np.ndarray, block: BlockPlan) -> np.ndarray:
    """A segment's spikes ``[B, T, F]`` → ``[T, B, *block.out_shape]`` (int64)."""
    out = np.asarray(out)
    return out.transpose(1, 0, 2).reshape((out.shape[1], out.shape[0]) + tuple(block.out_shape)).astype(np.int64)


# ----------------------------------------------------------------------------------------- runtime

@dataclass
class FusionResult:
    """Outputs of :func:`run`: ``logits [N, C]``, ``predictions [N]``; per chip block ``spike_counts``
    (total output spikes per sample, int64 ``[N]``) and ``input_spikes`` (bit-plane ones per sample); with
    ``record``: ``planes`` / ``spikes`` per chip block (int8 ``[T, N, ...]``) and ``outputs`` per block."""

    logits: np.ndarray
    predictions: np.ndarray
    spike_counts: dict[int, np.ndarray]
    input_spikes: dict[int, np.ndarray]
    planes: dict[int, np.ndarray] = field(default_factory=dict)
    spikes: dict[int, np.ndarray] = field(default_factory=dict)
    outputs: dict[int, np.ndarray] = field(default_factory=dict)


def prepare(plan: FusionPlan, x: np.ndarray) -> np.ndarray:
    """Task samples ``[N, 1, C·H·W]`` / ``[N, C·H·W]`` / ``[N, C, H, W]`` (8-bit values) → ``[N, C, H, W]`` · scale."""
    C, H, W = plan.image_shape
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 3 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim == 2 and x.shape[1] == C * H * W:
        x = x.reshape(-1, C, H, W)
    if x.ndim != 4 or tuple(x.shape[1:]) != (C, H, W):
        raise FusionError(f"inputs: expected images [N, 1, {C * H * W}] or [N, {C}, {H}, {W}], got "
                          f"{tuple(x.shape)}; pass the test split of the task the network was trained on")
    return x * plan.input_scale


def encode(b: BlockPlan, y: np.ndarray) -> np.ndarray:
    """The host's bit-plane encoder of block ``b``'s input: int8 planes ``[T, N, ...]``."""
    return bitplane.encode(y, b.rescale, b.bits).astype(np.int8)


def run(plan: FusionPlan, x: np.ndarray, chip: Callable[[int, np.ndarray], np.ndarray], *,
        record: bool = False, batch_size: Optional[int] = None) -> FusionResult:
    """Run the program on inputs ``x`` (module docstring); ``chip(i, planes[T, B, ...]) -> spikes[T, B, ...]``
    runs the segment of block i. ``batch_size`` splits the samples (default: all at once, one chip
    call per block)."""
    x = prepare(plan, x)
    n = x.shape[0]
    size = n if not batch_size else int(batch_size)
    parts = [_run_batch(plan, x[s:s + size], chip, record) for s in range(0, n, max(1, size))] if n else []
    if not parts:
        raise FusionError("inputs: no samples")
    def cat(key: str) -> dict[int, np.ndarray]:
        axis = 1 if key in ("planes", "spikes") else 0         # planes/spikes are time-major [T, N, ...]
        return {i: np.concatenate([p[key][i] for p in parts], axis=axis) for i in parts[0][key]}

    logits = np.concatenate([p["logits"] for p in parts])
    return FusionResult(logits=logits, predictions=np.argmax(logits, axis=1).astype(np.int64),
                        spike_counts=cat("spike_counts"), input_spikes=cat("input_spikes"),
                        planes=cat("planes") if record else {}, spikes=cat("spikes") if record else {},
                        outputs=cat("outputs") if record else {})


def _run_batch(plan: FusionPlan, y: np.ndarray, chip: Callable[[int, np.ndarray], np.ndarray],
               record: bool) -> dict[str, Any]:
    rec: dict[str, Any] = {"spike_counts": {}, "input_spikes": {}, "planes": {}, "spikes": {}, "outputs": {}}
    stack: list[np.ndarray] = []
    for step in plan.program:
        op = step["op"]
        if op == "fusion":
            i = int(step["block"])
            b = plan.blocks[i]
            out = np.zeros((y.shape[0],) + b.out_shape)
            if b.has_ann:
                out += np.maximum(apply_op(b, y, b.ann_weight, b.ann_bias), 0.0)
            if b.has_snn:
                planes = encode(b, y)
                spikes = np.asarray(chip(i, planes))
                want = planes.shape[:2] + b.out_shape
                if spikes.shape != want:
                    raise FusionError(f"block {i}: the chip returned spikes {spikes.shape}, expected {want}")
                out += bitplane.decode(spikes, b.decoder)
                rec["spike_counts"][i] = spikes.reshape(spikes.shape[0], spikes.shape[1], -1).sum(axis=(0, 2))
                rec["input_spikes"][i] = planes.reshape(planes.shape[0], planes.shape[1], -1).sum(axis=(0, 2))
                if record:
                    rec["planes"][i], rec["spikes"][i] = planes, spikes.astype(np.int8)
            if record:
                rec["outputs"][i] = out
            y = out
        elif op == "save":
            stack.append(y)
        elif op == "shortcut_add":
            s = stack.pop()[:, :, ::step["stride"], ::step["stride"]]
            pad = int(step["channels"]) - s.shape[1]
            y = y + np.pad(s, ((0, 0), (0, pad), (0, 0), (0, 0)))
        elif op == "maxpool":
            y = maxpool(y, int(step["kernel"]))
        elif op == "flatten":
            y = y.reshape(y.shape[0], -1)
        elif op == "mean_hw":
            y = y.mean(axis=(2, 3))
        elif op == "linear":
            y = y @ plan.head_weight.T + plan.head_bias
    rec["logits"] = y
    return rec


# ----------------------------------------------------------------------------------------- host cost

def host_costs(plan: FusionPlan) -> dict[str, Any]:
    """Operations per sample on the host, per block and in total (what the chip does not do).

    ``ann_macs``: the ANN path's multiply-accumulates (k²·C_in per output); ``encode_ops``: per input
    element of an SNN path — min/max compares (2, ``sample`` rescale), scale (1), round (1), plane
    extraction (bits); ``decode_ops``: ``T`` adds per output element; ``fusion_adds``: one per output
    element of a fusion block; ``other``: shortcut adds, pooling compares, global average adds;
    ``head_macs``: the linear head.
    """
    rows = []
    shape: tuple[int, ...] = plan.image_shape
    other = 0
    stack: list[tuple[int, ...]] = []
    for step in plan.program:
        op = step["op"]
        if op == "fusion":
            b = plan.blocks[step["block"]]
            n_in, n_out = int(np.prod(b.in_shape)), int(np.prod(b.out_shape))
            per_out = b.in_shape[0] * b.kernel ** 2 if b.op == "conv" else n_in
            enc = (2 if b.rescale != "none" else 0) + 2 + b.bits
            rows.append({"block": step["block"], "ann_macs": n_out * per_out if b.has_ann else 0,
                         "encode_ops": n_in * enc if b.has_snn else 0,
                         "decode_ops": n_out * b.bits if b.has_snn else 0,
                         "fusion_adds": n_out if b.path == "fusion" else 0})
            shape = b.out_shape
        elif op == "save":
            stack.append(shape)
        elif op == "shortcut_add":
            stack.pop()
            other += int(np.prod(shape))
        elif op == "maxpool":
            k = int(step["kernel"])
            other += int(np.prod(shape))
            shape = (shape[0], shape[1] // k, shape[2] // k)
        elif op == "flatten":
            shape = (int(np.prod(shape)),)
        elif op == "mean_hw":
            other += int(np.prod(shape))
            shape = (shape[0],)
    head = int(plan.head_weight.size)
    totals = {key: sum(r[key] for r in rows) for key in ("ann_macs", "encode_ops", "decode_ops", "fusion_adds")}
    return {"blocks": rows, "other_ops": other, "head_macs": head, **totals,
            "macs": totals["ann_macs"] + head,
            "ops": totals["encode_ops"] + totals["decode_ops"] + totals["fusion_adds"] + other}
