"""HAS-8 models: a small ResNet and a VGG built from fusion blocks, and their pure-ANN / pure-SNN twins.

A model is a list of fusion blocks plus a **program**: a JSON list of steps that the torch
``forward`` interprets here and the deployed host runtime (:mod:`silava.core.fusion`) interprets
in numpy, so both run the same structure. Steps::

    {"op": "fusion", "block": i}                    y = blocks[i](y)   (the only step with an SNN path)
    {"op": "save"}                                  push y (the input of a residual unit)
    {"op": "shortcut_add", "stride": s, "channels": c}
                                                    y = y + pad_c(pop()[:, :, ::s, ::s])   (option-A
                                                    shortcut: subsample, zero-pad channels; no weights)
    {"op": "maxpool", "kernel": k}                  k×k max pooling, stride k (floor)
    {"op": "flatten"}                               [B, C, H, W] -> [B, C·H·W]
    {"op": "mean_hw"}                               global average pooling -> [B, C]
    {"op": "linear", "name": "head"}                the classifier ``Linear`` (with bias) -> logits

The input is the task's flat image ``x[B, 1, C·H·W]`` (8-bit values) times ``input_scale``
(1/255), reshaped to ``[B, C, H, W]``.

* ``has8-resnet`` (ResNet-style; the reference's is ResNet-18 ``[2,2,2,2]`` with a 7×7/2 stem):
  stem fusion conv 3×3 (C → width, ``rescale="none"``: the image in [0,1] is coded exactly), then
  ``depth`` stages of ``blocks`` residual units; stage i has ``width·mult^i`` channels and its first
  unit has stride 2 (i > 0); a unit is two fusion conv 3×3 blocks plus the option-A shortcut;
  global average pooling, linear head.
* ``has8-vgg``: ``depth`` fusion conv 3×3 blocks (``width·mult^i`` channels), each followed by a 2×2
  max-pool while the map is at least 2×2; flatten, one fusion *linear* block (``hidden`` units,
  default 4·width), linear head.

``path`` = ``fusion`` (both paths in every block), ``ann`` or ``snn`` (the twins: same widths, one
path). Options shared by every block: ``neuron`` (lif | if), ``tau``, ``surrogate`` (fourier |
sigsine | tanhsine), ``surrogate_param``, ``rescale_grad``, ``rescale`` (of the inner blocks),
``decoder`` (bitplane | rate), ``bits``.
"""
from __future__ import annotations

import copy
import json
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .blocks import FusionBlock

ARCHS = ("has8-resnet", "has8-vgg")

#: architecture options and their defaults (``--arch-opt KEY=VALUE``)
OPTIONS: dict[str, Any] = {
    "width": 16, "depth": 2, "mult": 2, "blocks": 1, "hidden": None,
    "path": "fusion", "neuron": "lif", "tau": 2.0,
    "surrogate": "fourier", "surrogate_param": None, "rescale_grad": True,
    "rescale": "sample", "decoder": "bitplane", "bits": 8,
}
_BLOCK_KEYS = ("path", "neuron", "tau", "surrogate", "surrogate_param", "rescale_grad", "decoder", "bits")


class Has8Net(nn.Module):
    """A HAS-8 network (module docstring): ``forward(x) -> logits [B, n_classes]``."""

    def __init__(self, arch: str, image_shape: list[int] | tuple[int, int, int], n_classes: int,
                 input_scale: float = 1.0 / 255.0, **options: Any) -> None:
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown HAS-8 arch {arch!r}; choose one of {', '.join(ARCHS)}")
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise ValueError(f"unknown {arch} option(s) {', '.join(unknown)}; options: {', '.join(OPTIONS)}")
        opts = {**OPTIONS, **options}
        for key in ("width", "depth", "mult", "blocks"):
            if isinstance(opts[key], bool) or not isinstance(opts[key], int) or opts[key] < 1:
                raise ValueError(f"{arch} option {key} must be an integer >= 1, got {opts[key]!r}")
        shape = tuple(int(v) for v in image_shape)
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"image_shape must be (C, H, W), got {image_shape!r}")
        self._config = {"arch": arch, "image_shape": list(shape), "n_classes": int(n_classes),
                        "input_scale": float(input_scale), **opts}
        json.dumps(self._config, allow_nan=False)
        self.blocks = nn.ModuleList()
        self.program: list[dict[str, Any]] = []
        self._shapes: list[tuple[tuple[int, ...], tuple[int, ...]]] = []   # (in, out) shape per block
        common = {k: opts[k] for k in _BLOCK_KEYS}
        build = self._build_resnet if arch == "has8-resnet" else self._build_vgg
        out_shape = build(shape, opts, common)
        self.head = nn.Linear(out_shape[0], int(n_classes))
        self.program.append({"op": "linear", "name": "head"})

    # ------------------------------------------------------------------ construction
    def _add_block(self, op: str, shape: tuple[int, ...], c_out: int, common: dict[str, Any], *,
                   stride: int = 1, rescale: str) -> tuple[int, ...]:
        c_in = shape[0] if op == "conv" else int(torch.tensor(shape).prod())
        block = FusionBlock(op, c_in, c_out, stride=stride, rescale=rescale, **common)
        out = block.out_shape(shape)
        if min(out) < 1:
            raise ValueError(f"the image is too small for this depth: block {len(self.blocks)} would output "
                             f"{out}; lower depth")
        self.program.append({"op": "fusion", "block": len(self.blocks)})
        self._shapes.append((tuple(shape), out))
        self.blocks.append(block)
        return out

    def _build_resnet(self, shape: tuple[int, ...], opts: dict[str, Any], common: dict[str, Any]) -> tuple[int, ...]:
        shape = self._add_block("conv", shape, opts["width"], common, rescale="none")
        for i in range(opts["depth"]):
            w = opts["width"] * opts["mult"] ** i
            for b in range(opts["blocks"]):
                stride = 2 if i > 0 and b == 0 else 1
                if stride == 2 and min(shape[1:]) < 2:
                    raise ValueError(f"the image is too small for depth {opts['depth']}: stage {i} would halve a "
                                     f"{shape[1]}x{shape[2]} map; lower depth")
                self.program.append({"op": "save"})
                c_in = shape[0]
                shape = self._add_block("conv", shape, w, common, stride=stride, rescale=opts["rescale"])
                shape = self._add_block("conv", shape, w, common, rescale=opts["rescale"])
                if w < c_in:
                    raise ValueError("a residual unit cannot reduce channels (mult must be >= 1)")
                self.program.append({"op": "shortcut_add", "stride": stride, "channels": w})
        self.program.append({"op": "mean_hw"})
        return (shape[0],)

    def _build_vgg(self, shape: tuple[int, ...], opts: dict[str, Any], common: dict[str, Any]) -> tuple[int, ...]:
        for i in range(opts["depth"]):
            w = opts["width"] * opts["mult"] ** i
            shape = self._add_block("conv", shape, w, common, rescale="none" if i == 0 else opts["rescale"])
            if min(shape[1:]) >= 2:
                self.program.append({"op": "maxpool", "kernel": 2})
                shape = (shape[0], shape[1] // 2, shape[2] // 2)
        self.program.append({"op": "flatten"})
        flat = (shape[0] * shape[1] * shape[2],)
        hidden = opts["hidden"] if opts["hidden"] is not None else 4 * opts["width"]
        return self._add_block("linear", flat, int(hidden), common, rescale=opts["rescale"])

    # ------------------------------------------------------------------ facts
    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-able); ``build_has8(model.config)`` rebuilds the model."""
        return copy.deepcopy(self._config)

    @property
    def block_shapes(self) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
        """``(input shape, output shape)`` of every fusion block (without batch)."""
        return list(self._shapes)

    # ------------------------------------------------------------------ forward
    def prepare(self, x: Tensor) -> Tensor:
        """Task samples ``[B, 1, C·H·W]`` (or ``[B, C·H·W]``, ``[B, C, H, W]``) → ``[B, C, H, W]`` × input_scale."""
        C, H, W = self._config["image_shape"]
        if x.dim() == 3 and x.shape[1] == 1:
            x = x[:, 0]
        if x.dim() == 2 and x.shape[1] == C * H * W:
            x = x.reshape(-1, C, H, W)
        if x.dim() != 4 or tuple(x.shape[1:]) != (C, H, W):
            raise ValueError(f"expected images [B, 1, {C * H * W}] or [B, {C}, {H}, {W}], got {tuple(x.shape)}")
        return x * self._config["input_scale"]

    def forward(self, x: Tensor, record: bool = False) -> Tensor | dict[str, Any]:
        """Logits ``[B, n_classes]``; ``record=True``: a dict with ``out``, ``input`` and ``blocks`` (the
        record of every fusion block: ann, snn, planes, current, spikes, and its ``input``)."""
        y = self.prepare(x)
        recs: list[dict[str, Any]] = []
        rec_all: dict[str, Any] = {"input": y}
        stack: list[Tensor] = []
        for step in self.program:
            op = step["op"]
            if op == "fusion":
                block = self.blocks[step["block"]]
                if record:
                    inp = y
                    y, r = block(y, record=True)
                    recs.append({**r, "input": inp, "out": y})
                else:
                    y = block(y)
            elif op == "save":
                stack.append(y)
            elif op == "shortcut_add":
                s = stack.pop()[:, :, ::step["stride"], ::step["stride"]]
                y = y + F.pad(s, (0, 0, 0, 0, 0, step["channels"] - s.shape[1]))
            elif op == "maxpool":
                y = F.max_pool2d(y, step["kernel"])
            elif op == "flatten":
                y = y.flatten(1)
            elif op == "mean_hw":
                y = y.mean(dim=(2, 3))
            elif op == "linear":
                y = self.head(y)
            else:  # pragma: no cover - the program is built above
                raise ValueError(f"unknown program step {op!r}")
        if not record:
            return y
        rec_all.update(out=y, blocks=recs)
        return rec_all


def build_has8(model_config: dict[str, Any]) -> Has8Net:
    """Rebuild a :class:`Has8Net` from ``model.config``."""
    cfg = dict(model_config)
    return Has8Net(cfg.pop("arch"), cfg.pop("image_shape"), cfg.pop("n_classes"),
                   cfg.pop("input_scale", 1.0 / 255.0), **cfg)


def macs(model: Has8Net) -> dict[str, Any]:
    """Multiply-accumulates of one sample, per block and path (dense count; the chip counts spikes).

    ``ann``: the ANN path's op (k²·C_in per output); ``snn_dense``: the SNN path's op over all T planes
    as a dense network would (T × the op's MACs; on the chip only spikes cost, see the hardware report);
    ``head``: the linear head.
    """
    rows = []
    for block, (_, out) in zip(model.blocks, model.block_shapes):
        n_out = int(torch.tensor(out).prod())
        per_out = block.c_in * block.kernel ** 2 if block.op == "conv" else block.c_in
        rows.append({"ann": n_out * per_out if block.has_ann else 0,
                     "snn_dense": block.bits * n_out * per_out if block.has_snn else 0})
    head = model.head.in_features * model.head.out_features
    return {"blocks": rows, "head": head, "ann_total": sum(r["ann"] for r in rows) + head,
            "snn_dense_total": sum(r["snn_dense"] for r in rows)}


__all__ = ["ARCHS", "OPTIONS", "Has8Net", "build_has8", "macs"]
