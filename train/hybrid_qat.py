"""The hybrid network on Loihi 2 fixed point, in torch: fold, quantize, integer forward (QAT).

:func:`quantize_hybrid` turns a :class:`~silava.train.hybrid.HybridNet` into the integers of the
deployed network (docs/fixed_point.md §3 ``HYBRID``/``LI2`` and §8 "Graded payloads"), differentiably
(straight-through rounding); :class:`HybridQATNet` runs them with the torch integer emulation
(:mod:`silava.train.intsim`'s ``HYBRID``/``LI2`` steps) on the logical timeline: its eval forward
is what hwsim computes on the exported model.net, bit for bit. Two layers:

* layer 0, ``HYBRID`` in a ``dense_rec`` layer: feed-forward weights ``W_in`` (binary spikes or
  counts, weight exponent ``e``) and recurrent weights ``W_rec`` (``W_rec ⊙ M`` for separate paths)
  over the layer's own payloads of the previous step (weight exponent ``e_rec``); per neuron
  ``unit`` (1 spiking, 0 graded LIF, 2 tanh), ``softReset``, ``alpha = rnd(α·2^D)``,
  ``beta = rnd(β·2^D)``, ``vThMant = 2^s / 64``; the layer setting ``payloadFracBits = q``;
* layer 1, ``LI2``: weights ``W_out`` over the payloads, ``alpha = rnd(α·2^D)``, ``beta = rnd(β_out·2^D)``.

Graded payloads (1.0 = 2^q): a Dense fed by payloads has ``w = 2m``,
``m = clip(rnd(W·2^(s−q) / 2^(e+7)), ±127)`` and ``e`` the smallest exponent with
``max|W|·2^(s−q) / 2^(e+7) ≤ 127`` (the usual rule with ``s − q`` for ``s``; at least −8), so that
``(Σ w·P)·2^e << 6 = W·g·2^s``. Its ``inputMessageBits`` = ``q + 1`` (payloads in [0, 2^q]) or
``q + 2`` with tanh units (signed). No biases (the reference has none), ``D`` from the settings.

Payload fraction bits from the data (:func:`choose_payload_bits`): the smallest ``q`` in
``[2, min(s, 16)]`` for which the RMS error of rounding the non-spiking units' float outputs to
the 2^q grid is at most ``tol·RMS(g)`` (default ``tol = 2^−5``) on calibration samples; a layer
without non-spiking units takes ``q = 1``.

Integer forward: ``a_t = wrap32(dense(W_in, x_t) + dense_rec(W_rec, P_{t−1}))`` (Lava sums the two
Dense outputs at the neuron's InPort, int32), the ``HYBRID`` step on ``A = a << 6``, then the readout
Dense over the payloads and ``LI2``; logits ``max(0, max_t V_t / S)`` (or ``Σ_t V_t / S``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import Tensor, nn

from silava.core.fixedpoint import WEIGHT_EXP_MIN, QuantConfig
from silava.core.kinds import KINDS
from silava.core.kinds.hybrid import TANH_TABLE_BITS, UNIT_GRADED, UNIT_SPIKING, UNIT_TANH
from silava.train import intsim
from silava.train.hybrid import HybridNet
from silava.train.intsim import IntLayer
from silava.train.qat import (QATError, QATStop, check_decay_bits, check_settings, check_state_frac_bits,
                              check_threshold, check_weight_exp, on_grid, quantize_weights, weight_exponent)

#: default tolerance of :func:`choose_payload_bits` (RMS rounding error / RMS value)
PAYLOAD_TOL = 2.0**-5


def unit_codes(model: HybridNet) -> Tensor:
    """Per-unit ``unit`` code: 1 spiking, 0 graded LIF (nsn), 2 tanh (ann)."""
    if model.gamma is not None:
        raise QATError("a flexible-spiking model must be binarised first (silava.train.hybrid.binarize)")
    ns = UNIT_GRADED if model.config["nonspiking"] == "nsn" else UNIT_TANH
    m = model.mask.to(torch.float64)
    return m * UNIT_SPIKING + (1 - m) * ns


def reset_codes(model: HybridNet) -> Tensor:
    """Per-unit ``softReset``: 1 for spiking units and resetting nsn units, else 0."""
    m = model.mask.to(torch.float64)
    ns = 1.0 if (model.config["nonspiking"] == "nsn" and model.config["nsn_reset"]) else 0.0
    return m + (1 - m) * ns


def message_bits(payload_bits: int, signed: bool) -> int:
    """``inputMessageBits`` of a Dense fed by payloads on the 2^q grid: ``q + 1`` (unsigned) or ``q + 2``."""
    return int(payload_bits) + (2 if signed else 1)


@dataclass
class FoldedHybrid:
    """The float64 parameters of the deployed network (differentiable w.r.t. the model)."""

    weight: Tensor                      # W_in (H, F)
    weight_rec: Optional[Tensor]        # W_rec (⊙ M) (H, H), or None
    weight_out: Tensor                  # W_out (C, H)
    hidden: dict[str, Tensor]           # alpha, beta, unit, reset (per unit)
    readout: dict[str, Tensor]          # alpha, beta (per class)
    signed: bool                        # tanh units: signed payloads


def fold_hybrid(model: HybridNet) -> FoldedHybrid:
    """No BatchNorm, no biases, input gain 1: the weights as they are, the decays per unit."""
    f64 = torch.float64
    H, C = model.config["n_hidden"], model.config["n_classes"]
    c = model.consts
    rec = model.effective_rec()
    hidden = {"alpha": torch.full((H,), c["alpha"], dtype=f64), "beta": torch.full((H,), c["beta"], dtype=f64),
              "unit": unit_codes(model), "reset": reset_codes(model)}
    readout = {"alpha": torch.full((C,), c["alpha"], dtype=f64), "beta": torch.full((C,), c["beta_out"], dtype=f64)}
    signed = bool((hidden["unit"] == UNIT_TANH).any())
    return FoldedHybrid(model.w_in.to(f64), None if rec is None else rec.to(f64), model.w_out.to(f64), hidden,
                        readout, signed)


@dataclass
class HybridInt:
    """The integer network: layer 0 (``HYBRID``, with ``weight_rec``/``weight_rec_exp``), layer 1 (``LI2``)."""

    hidden: IntLayer
    weight_rec: Optional[Tensor]
    weight_rec_exp: int
    readout: IntLayer
    payload_bits: int
    signed: bool
    readout_scale: int
    meta: dict[str, Any] = field(default_factory=dict)


def _graded_weights(where: str, weight: Tensor, s: int, q: int, weight_bits: int) -> tuple[Tensor, int]:
    """Weights over payloads on the 2^q grid: the export rule with ``s − q`` for ``s`` (e ≥ −8)."""
    peak = float(weight.detach().abs().max()) if weight.numel() else 0.0
    e = max(weight_exponent(peak, s - q, weight_bits), WEIGHT_EXP_MIN)
    check_weight_exp(where, e, peak, s - q)
    return quantize_weights(weight, s - q, e, weight_bits), e


def quantize_hybrid(model: HybridNet, settings: Optional[QuantConfig] = None, *, payload_bits: int,
                    input_message_bits: int = 0) -> HybridInt:
    """Quantize a hybrid model (see the module docstring); ``settings`` layer 0 = hidden, 1 = readout."""
    settings = settings or QuantConfig()
    check_settings(settings, 2)
    fh = fold_hybrid(model)
    hk, rk = KINDS["HYBRID"], KINDS["LI2"]
    s, s_r = settings.state_frac_bits_for(0), settings.state_frac_bits_for(1)
    D, D_r = settings.decay_bits_for(0), settings.decay_bits_for(1)
    q = int(payload_bits)
    for where, bits in (("layer 0 (HYBRID)", s), ("layer 1 (LI2)", s_r)):
        check_state_frac_bits(where, bits)
    check_decay_bits("layer 0 (HYBRID)", D)
    check_decay_bits("layer 1 (LI2)", D_r)
    if not 1 <= q <= min(s, s_r, TANH_TABLE_BITS):
        raise QATError(f"payload fraction bits {q} out of range [1, min(s_hidden {s}, s_readout {s_r}, 16)]: "
                       f"choose fewer payload bits or raise --state-frac-bits")
    check_threshold("layer 0 (HYBRID)", hk.vth_mant(s))
    peak = float(fh.weight.detach().abs().max())
    e = max(weight_exponent(peak, s, settings.weight_bits), WEIGHT_EXP_MIN)
    check_weight_exp("layer 0 (HYBRID)", e, peak, s)
    w = quantize_weights(fh.weight, s, e, settings.weight_bits)
    w_rec, e_rec = (None, 0)
    if fh.weight_rec is not None:
        w_rec, e_rec = _graded_weights("layer 0 (HYBRID) recurrent", fh.weight_rec, s, q, settings.weight_bits)
    params = hk.integer_params(D, s, lambda p, g, lo, hi: on_grid(fh.hidden[p.source], g, lo, hi),
                               {"payloadFracBits": q})
    H = w.shape[0]
    hidden = IntLayer("HYBRID", w, torch.zeros(H, dtype=torch.float64), e, int(input_message_bits), params)
    w_out, e_out = _graded_weights("layer 1 (LI2)", fh.weight_out, s_r, q, settings.weight_bits)
    rparams = rk.integer_params(D_r, s_r, lambda p, g, lo, hi: on_grid(fh.readout[p.source], g, lo, hi))
    readout = IntLayer("LI2", w_out, torch.zeros(w_out.shape[0], dtype=torch.float64), e_out,
                       message_bits(q, fh.signed), rparams)
    return HybridInt(hidden, w_rec, e_rec, readout, q, fh.signed, 2**s_r)


def from_network(net: Any) -> HybridInt:
    """The :class:`HybridInt` of a hybrid model.net ``Network`` (duck-typed: ``layers[0]`` a ``HYBRID``
    ``dense_rec`` (or ``dense``) layer with ``weight_rec`` / ``weight_rec_exp``, ``layers[1]`` ``LI2``)."""
    layers = list(net.layers)
    if len(layers) != 2 or layers[0].neuron_type != "HYBRID" or layers[1].neuron_type != "LI2":
        raise QATError("not a hybrid network: expected a HYBRID layer and an LI2 readout")
    hidden, readout = intsim.layer_params(layers[0]), intsim.layer_params(layers[1])
    w_rec = getattr(layers[0], "weight_rec", None)
    e_rec = getattr(layers[0], "weight_rec_exp", None)
    e_rec = int(layers[0].weight_exp if e_rec is None else e_rec)
    signed = bool((hidden.params["unit"] == UNIT_TANH).any())
    s_r = int(layers[1].neuron["stateFracBits"])
    return HybridInt(hidden, None if w_rec is None else intsim._tensor(w_rec), e_rec, readout,
                     int(layers[0].neuron["payloadFracBits"]), signed, 2**s_r)


def simulate_network(net: Any, x: Any, *, record: bool = False) -> dict[str, Any]:
    """:func:`run_hybrid` of a model.net ``Network`` on integer inputs ``x [B, T, F]`` (int64 results)."""
    hi = from_network(net)
    with torch.no_grad():
        res = run_hybrid(hi, intsim._tensor(x), record=record, count=True)
    res["payload"] = res["payload"].to(torch.int64)
    res["readout"] = res["readout"].to(torch.int64)
    if record:
        res["states"] = [{k: v.to(torch.int64) for k, v in st.items()} for st in res["states"]]
    return res


def integer_values(net: HybridInt) -> dict[str, Any]:
    """Plain integers (numpy int64 / ints) of a :class:`HybridInt`, for comparisons with the exporter."""
    def as_np(v: Any) -> Any:
        return v.detach().to(torch.int64).numpy() if isinstance(v, Tensor) else v
    return {"weight": as_np(net.hidden.weight), "weight_exp": int(net.hidden.weight_exp),
            "weight_rec": None if net.weight_rec is None else as_np(net.weight_rec),
            "weight_rec_exp": int(net.weight_rec_exp), "weight_out": as_np(net.readout.weight),
            "weight_out_exp": int(net.readout.weight_exp), "payload_bits": net.payload_bits,
            "hidden": {k: as_np(v) for k, v in net.hidden.params.items()},
            "readout": {k: as_np(v) for k, v in net.readout.params.items()}}


def rec_dense(weight: Tensor, payload: Tensor, e: int, count: Optional[intsim.Count]) -> Tensor:
    """The recurrent Dense over one step's payloads: ``wrap32(Σ w·P)``, ``<< e`` or ``>> −e`` (floor), wrap32."""
    acc = intsim.wrap32(payload @ weight.T, count)
    if e > 0:
        acc = acc * float(2**e)
    elif e < 0:
        acc = intsim.floor_div(acc, -e)
    return intsim.wrap32(acc, count)


def run_hybrid(net: HybridInt, x: Tensor, *, spike: intsim.SpikeFn = intsim.hard_spike, record: bool = False,
               count: bool = False) -> dict[str, Any]:
    """Integer forward on the logical timeline from zero state: ``payload [B,T,H]``, ``readout [B,T,C]``
    (V), per-layer ``counters`` and, with ``record``, ``states`` (``U``, ``V`` of both layers)."""
    counts = [intsim.Count() if count else None, intsim.Count() if count else None]
    a_ff = intsim.dense(net.hidden, x, counts[0])
    B_, T, H = a_ff.shape
    p = net.hidden.params
    st = {"U": a_ff.new_zeros(B_, H), "V": a_ff.new_zeros(B_, H)}
    bias = net.hidden.bias * float(2**intsim.ACT_SHIFT)
    payload = a_ff.new_zeros(B_, H)
    outs, rec = [], {"U": [], "V": []}
    for t in range(T):
        a = a_ff[:, t]
        if net.weight_rec is not None:
            a = intsim.wrap32(a + rec_dense(net.weight_rec, payload, net.weight_rec_exp, counts[0]), counts[0])
        payload, st = intsim.step_hybrid(a * float(2**intsim.ACT_SHIFT), st, p, bias, counts[0], spike)
        outs.append(payload)
        if record:
            rec["U"].append(st["U"])
            rec["V"].append(st["V"])
    payloads = torch.stack(outs, dim=1)
    a_out = intsim.dense(net.readout, payloads, counts[1], from_spikes=True)
    v, rstates = intsim.run_layer(net.readout, a_out, count=counts[1], record=record)
    res = {"payload": payloads, "readout": v, "counters": [c.c if c is not None else {} for c in counts]}
    if record:
        res["states"] = [{k: torch.stack(val, dim=1) for k, val in rec.items()}, rstates]
    return res


#: samples of the train split :func:`choose_payload_bits` calibrates on (export, QAT and landscape alike)
CALIBRATION_SAMPLES = 256


def calibration_inputs(task: Any, n: int = CALIBRATION_SAMPLES) -> Tensor:
    """The first ``n`` train samples of ``task`` as ``x [n, T, F]`` (float32, zero-padded to the longest)."""
    import numpy as np

    ds = task.train
    items = [np.asarray(ds[i][0], dtype=np.float32) for i in range(min(int(n), len(ds)))]
    T = max(a.shape[0] for a in items)
    x = torch.zeros(len(items), T, items[0].shape[-1])
    for i, a in enumerate(items):
        x[i, :a.shape[0]] = torch.from_numpy(a)
    return x


def choose_payload_bits(model: HybridNet, x: Tensor, state_frac_bits: int, tol: float = PAYLOAD_TOL) -> int:
    """The smallest ``q`` whose rounding of the non-spiking outputs has RMS error ≤ ``tol``·RMS (module doc)."""
    units = unit_codes(model)
    graded = units != UNIT_SPIKING
    if not bool(graded.any()):
        return 1
    with torch.no_grad():
        was = model.training
        model.eval()
        g = model.hidden(x.to(next(model.parameters()).dtype))["graded"][..., graded].to(torch.float64)
        model.train(was)
    ref = float(g.pow(2).mean().sqrt())
    top = min(int(state_frac_bits), TANH_TABLE_BITS)
    if ref == 0.0:
        return 2
    for q in range(2, top + 1):
        err = float((torch.round(g * 2.0**q) / 2.0**q - g).pow(2).mean().sqrt())
        if err <= tol * ref:
            return q
    return top


class HybridQATNet(nn.Module):
    """The integer (chip) forward of a :class:`HybridNet` with straight-through gradients.

    ``forward(x) -> logits [B, C]`` (float64): ``max(0, max_t V_t / S)`` or ``Σ_t V_t / S`` of the integer
    LI2 readout. In eval mode the output is what hwsim computes on the exported model.net. The spike uses
    the model's fast-sigmoid surrogate; ``penalty()`` is the model's regulariser on the integer spikes.
    """

    def __init__(self, model: HybridNet, settings: Optional[QuantConfig] = None, *, payload_bits: int,
                 input_message_bits: int = 0) -> None:
        super().__init__()
        self.net = model
        self.settings = settings or QuantConfig()
        self.payload_bits = int(payload_bits)
        self.input_message_bits = int(input_message_bits)
        self._penalty: Optional[Tensor] = None
        self.int_net()                     # unrepresentable settings: fail now

    def int_net(self) -> HybridInt:
        try:
            return quantize_hybrid(self.net, self.settings, payload_bits=self.payload_bits,
                                   input_message_bits=self.input_message_bits)
        except QATError as exc:
            raise QATStop(str(exc)) from None

    def simulate(self, x: Tensor, *, record: bool = False, count: bool = False) -> dict[str, Any]:
        net = self.int_net()
        spike = intsim.surrogate_spike("fast-sigmoid", self.net.config["surrogate_scale"])
        return run_hybrid(net, torch.round(x.detach().to(torch.float64)), spike=spike, record=record, count=count)

    def forward(self, x: Tensor) -> Tensor:
        res = self.simulate(x)
        v = res["readout"] / float(2 ** self.settings.state_frac_bits_for(1))
        if self.training:
            spk = (res["payload"] / float(2**self.payload_bits)) * self.net.mask.to(torch.float64)
            self._penalty = self.net.regulariser(spk)
        if self.net.config["readout"] == "max":
            return torch.clamp(v.max(dim=1).values, min=0.0)
        return v.sum(dim=1)

    def penalty(self) -> Optional[Tensor]:
        p, self._penalty = self._penalty, None
        return p


def payload_message_bits(model: HybridNet, payload_bits: int) -> int:
    """The ``inputMessageBits`` of the readout (the hidden layer's payload width)."""
    return message_bits(payload_bits, bool((unit_codes(model) == UNIT_TANH).any()))


__all__ = ["CALIBRATION_SAMPLES", "calibration_inputs", "from_network", "integer_values", "simulate_network", "FoldedHybrid", "HybridInt", "HybridQATNet", "PAYLOAD_TOL", "choose_payload_bits", "fold_hybrid",
           "message_bits", "payload_message_bits", "quantize_hybrid", "run_hybrid", "unit_codes"]
