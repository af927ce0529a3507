"""Export a HAS-8 fusion network: fold, quantize the SNN paths into chip segments, write the deployment.

Folding (eval BatchNorm ``BN(z) = g z + c``, ``g = γ/√(σ² + ε)``, ``c = β − g μ``, per output channel)::

    ANN path (host, float64):  W_a' = g · W_a,   b_a = c                      y_a = ReLU(op(x; W_a') + b_a)
    SNN path (chip, CUBA):     W_s'' = (g/τ) · W_s,  c'' = c/τ               (IF: τ = 1)
                               u_t = W_s''·planes_t ;  v_t = (1 − 1/τ) v_{t−1} + u_t + c'' ;  s_t = v_t > 1

The SNN path is Lava's CUBA LIF with ``iDecay = 4096`` (``δu = 1``: ``u_t`` is this step's input) and
``vDecay = 4096/τ`` (IF: 0), quantized by :func:`silava.export.quantize.quantize_layer` exactly as
any CUBA layer (8-bit mantissa, the weight exponent folded into the state scale, ``vThMant = 2^s/64``,
``bias = rnd(c''·2^s/64)``). A conv path is quantized with one exponent for the whole kernel
(its rows are the output channels).

Each SNN path becomes one model.net segment ``block{i}.net`` with ``steps = bits = 8`` binary inputs
(the block input's bit planes, flat in (C, H, W) order) and its spiking neurons as outputs. Lowering
of a conv path (``lowering``): ``"conv"`` (default) writes a model.net ``conv`` layer in lava-dl's
layout — the raw integer kernel ``(out, in, k, k)`` (weight exponent 0, as netx expects for conv:
the quantizer's exponent is folded into the state scale like any CUBA layer), stride and padding;
hwsim, the torch integer emulation and Lava's ``Conv`` run it, and the synaptic memory holds one
kernel per output channel per core (weight sharing). ``"dense"`` writes the same convolution
unrolled into a dense weight matrix (rows = output neurons, columns = input pixels, both in
(C, H, W) order): the same integer arithmetic without weight sharing, a cross-check of the conv path.
A linear path is always a dense layer.
"""
from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path
from typing import Any, Optional

import numpy as np

from silava.core import netfile
from silava.core.fileio import atomic_group, sha256_file
from silava.core.fixedpoint import QuantConfig
from silava.core.fusion import BlockPlan, FusionPlan, write_plan
from silava.core.netfile import Layer, Meta, Network
from silava.export.fold import FoldedLayer, bn_affine
from silava.export.quantize import LayerStats, QuantError, quantize_layer

LOWERINGS = ("conv", "dense")


class Has8ExportError(ValueError):
    """The HAS-8 model cannot be exported (one line naming the problem and the fix)."""


def _np(t: Any) -> np.ndarray:
    return t.detach().to("cpu").double().numpy().copy()


def _scale_rows(w: np.ndarray, g: np.ndarray) -> np.ndarray:
    return w * g.reshape((-1,) + (1,) * (w.ndim - 1))


def fold_block(block: Any, in_shape: tuple[int, ...], out_shape: tuple[int, ...], index: int) -> BlockPlan:
    """Fold one :class:`silava.train.has8.FusionBlock` (eval semantics) into a :class:`BlockPlan`."""
    if block.has_snn and block.rescale == "tensor":
        raise Has8ExportError(f"block {index}: rescale 'tensor' (min-max over the whole batch) makes a sample's code "
                              f"depend on its batch and cannot be deployed; retrain with rescale=sample")
    b = BlockPlan(op=block.op, in_shape=tuple(in_shape), out_shape=tuple(out_shape), path=block.path,
                  rescale=block.rescale, decoder=block.decoder, bits=block.bits,
                  kernel=block.kernel if block.op == "conv" else 1,
                  stride=block.stride if block.op == "conv" else 1,
                  padding=block.padding if block.op == "conv" else 0)
    if block.has_ann:
        g, c = bn_affine(block.ann_bn)
        b.ann_weight, b.ann_bias = _scale_rows(_np(block.ann_op.weight), g), c
    if block.has_snn:
        g, c = bn_affine(block.snn_bn)
        consts = block.neuron.discrete_params()
        gain = float(consts["gain"])
        b.snn_weight = _scale_rows(_np(block.snn_op.weight), g * gain)
        b.snn_bias = c * gain
        b.snn_vol_decay = float(consts["vol_decay"])
        b.segment = f"block{index}.net"
    for name in ("ann_weight", "ann_bias", "snn_weight", "snn_bias"):
        value = getattr(b, name)
        if value is not None and not np.all(np.isfinite(value)):
            raise Has8ExportError(f"block {index}: non-finite folded {name} (NaN/Inf: diverged training or a "
                                  f"BatchNorm with zero variance); re-train or use an earlier checkpoint")
    return b


def fold_has8(model: Any, meta: Optional[dict[str, Any]] = None) -> FusionPlan:
    """Fold a :class:`silava.train.has8.Has8Net` into a :class:`FusionPlan` (no segments yet)."""
    if not hasattr(model, "program") or not hasattr(model, "blocks"):
        raise Has8ExportError(f"not a HAS-8 model ({type(model).__name__}); SpArch networks export with silava export")
    cfg = model.config
    blocks = [fold_block(blk, i_s, o_s, i) for i, (blk, (i_s, o_s)) in enumerate(zip(model.blocks, model.block_shapes))]
    return FusionPlan(arch=cfg["arch"], image_shape=tuple(cfg["image_shape"]), input_scale=float(cfg["input_scale"]),
                      n_classes=int(cfg["n_classes"]), program=[dict(s) for s in model.program], blocks=blocks,
                      head_weight=_np(model.head.weight), head_bias=_np(model.head.bias),
                      meta={"model_config": cfg, **(meta or {})})


# ----------------------------------------------------------------------------------------- segments

def unroll_conv(w: np.ndarray, in_shape: tuple[int, int, int], out_shape: tuple[int, int, int],
                stride: int, padding: int) -> np.ndarray:
    """The dense matrix ``[O·H'·W', C·H·W]`` of a conv kernel ``w [O, C, k, k]`` ((C, H, W) order both sides)."""
    O, C, k, _ = w.shape
    _, H, W = in_shape
    _, Ho, Wo = out_shape
    dense = np.zeros((O * Ho * Wo, C * H * W), dtype=w.dtype)
    ho, wo = np.meshgrid(np.arange(Ho), np.arange(Wo), indexing="ij")
    oc, cc = np.arange(O), np.arange(C)
    for i in range(k):
        for j in range(k):
            hi, wi = ho * stride - padding + i, wo * stride - padding + j
            ok = (hi >= 0) & (hi < H) & (wi >= 0) & (wi < W)
            pos_out = (ho * Wo + wo)[ok]
            pos_in = (hi * W + wi)[ok]
            rows = oc[:, None, None] * (Ho * Wo) + pos_out[None, :, None]     # [O, P, 1]
            cols = cc[None, None, :] * (H * W) + pos_in[None, :, None]        # [1, P, C]
            dense[rows, cols] = w[:, :, i, j][:, None, :]                     # [O, 1, C] -> [O, P, C]
    return dense


def _per_neuron(value: Any, repeat: int) -> Any:
    """A channel-wise neuron key as the segment stores it: one int if uniform, else one value per neuron."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        return int(arr) if arr.dtype.kind in "iu" else value
    if np.all(arr == arr.reshape(-1)[0]):
        return int(arr.reshape(-1)[0])
    return np.repeat(arr.astype(np.int64), repeat)


def quantize_segment(b: BlockPlan, index: int, config: QuantConfig, *, lowering: str = "conv",
                     meta: Optional[dict[str, Any]] = None) -> tuple[Network, LayerStats]:
    """The chip segment of block ``b``'s SNN path: a one-layer model.net of CUBA neurons (module docstring)."""
    if lowering not in LOWERINGS:
        raise Has8ExportError(f"unknown conv lowering {lowering!r}; use one of {', '.join(LOWERINGS)}")
    n_out = b.out_shape[0]
    fl = FoldedLayer(neuron_type="CUBA", source="has8", weight=b.snn_weight.reshape(n_out, -1), bias=b.snn_bias,
                     threshold=1.0, params={"cur_decay": np.ones(n_out), "vol_decay": np.full(n_out, b.snn_vol_decay)})
    single = QuantConfig(weight_bits=config.weight_bits, state_frac_bits=config.state_frac_bits_for(index))
    try:
        layer, stats = quantize_layer(fl, 0, single)
    except QuantError as exc:
        raise Has8ExportError(f"block {index} (SNN path): {' '.join(str(exc).split())}") from None
    spread = int(np.prod(b.out_shape[1:])) if b.op == "conv" else 1
    neuron = {k: _per_neuron(v, spread) for k, v in layer.neuron.items()}
    bias = np.repeat(layer.bias, spread)
    weight = layer.weight
    geometry: dict[str, Any] = {}
    if b.op == "conv" and lowering == "conv":
        from silava.core.netfile import ConvSpec

        weight = weight.reshape(b.snn_weight.shape)
        geometry = {"layer_type": "conv", "conv": ConvSpec(in_shape=tuple(b.in_shape), stride=(b.stride, b.stride),
                                                            padding=(b.padding, b.padding))}
    elif b.op == "conv":
        weight = unroll_conv(weight.reshape(b.snn_weight.shape), b.in_shape, b.out_shape, b.stride, b.padding)  # type: ignore[arg-type]
    m = dict(meta or {})
    net = Network(layers=[Layer("CUBA", weight, neuron, bias=bias, weight_exp=0, input_message_bits=0, **geometry)],
                  meta=Meta(steps=b.bits, n_inputs=int(np.prod(b.in_shape)), n_classes=int(np.prod(b.out_shape)),
                            dt=float(m.get("dt", 1e-3)), input_encoding="binary", decision="softmax_sum",
                            timeline="lava", source_neuron=str(m.get("source_neuron", "has8")),
                            checkpoint_sha256=str(m.get("checkpoint_sha256", "")),
                            task={"fusion_block": index, "op": b.op, "lowering": lowering if b.op == "conv" else "dense",
                                  "in_shape": list(b.in_shape), "out_shape": list(b.out_shape)},
                            quantization={**config.to_dict(), "layers": [{
                                "type": "CUBA", "weight_exp": 0, "state_frac_bits": stats.state_frac_bits,
                                "decay_bits": 12, "exponent_folded": stats.exponent_folded}]},
                            silava_version=str(m.get("silava_version", "")), created=str(m.get("created", ""))))
    netfile.validate(net)
    return net, stats


# ----------------------------------------------------------------------------------------- export

def export_has8(model: Any, out_dir: str | Path, config: Optional[QuantConfig] = None, *,
                ckpt_meta: Optional[dict[str, Any]] = None, lowering: str = "conv") -> dict[str, Any]:
    """Fold and quantize ``model`` and write the deployment folder ``out_dir`` (all files or none).

    Returns ``{"plan": FusionPlan, "segments": {i: Network}, "stats": {i: LayerStats}, "files": [paths]}``.
    ``ckpt_meta``: facts recorded in the plan (task, checkpoint sha256, float accuracy, dt).
    """
    import silava

    config = config or QuantConfig()
    info = dict(ckpt_meta or {})
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    plan = fold_has8(model, meta={**info, "quantization": config.to_dict(), "lowering": lowering,
                                  "silava_version": silava.__version__, "created": created})
    segments: dict[int, Network] = {}
    stats: dict[int, LayerStats] = {}
    seg_meta = {"dt": float(info.get("dt", 1e-3)) / plan.blocks[0].bits if plan.blocks else 1e-3,
                "source_neuron": f"has8-{model.config.get('neuron', 'lif')}",
                "checkpoint_sha256": str(info.get("checkpoint_sha256", "")),
                "silava_version": silava.__version__, "created": created}
    for i in plan.chip_blocks:
        segments[i], stats[i] = quantize_segment(plan.blocks[i], i, config, lowering=lowering, meta=seg_meta)
    plan.meta["segments"] = {str(i): {"state_frac_bits": st.state_frac_bits, "exponent_folded": st.exponent_folded,
                                      "weights_clipped": st.weights_clipped, "bias_saturated": st.bias_saturated}
                             for i, st in stats.items()}
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise Has8ExportError(f"{out} exists and is not a directory: pick another output folder")
    files = []
    with atomic_group() as group:
        write_plan(out, plan, group)
        for i, net in segments.items():
            tmp = group.path(out / plan.blocks[i].segment)
            netfile.write(tmp, net)
        files = [out / "fusion.json", out / "host.npz"] + [out / plan.blocks[i].segment for i in segments]
    return {"plan": plan, "segments": segments, "stats": stats, "files": files}


def checkpoint_meta(ckpt: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """What the plan records about the checkpoint it came from."""
    metrics = ckpt.get("metrics", {})
    facts = ckpt.get("train_config", {}).get("task_facts", {})
    acc = metrics.get("test_acc")
    return {"task": ckpt.get("data_config", {}), "checkpoint_sha256": sha256_file(path),
            "float_accuracy": float(acc) if acc is not None else math.nan, "dt": float(facts.get("dt", 1e-3))}
