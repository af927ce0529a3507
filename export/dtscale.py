"""Zero-shot time-resolution change: re-discretise a folded network for a new bin width (spec §8.1).

A network trained on bins of width Δ_S runs on bins of width Δ_T = ρ·Δ_S without retraining
(Karilanova, Fabre, Neftci & Özçelikkale, arXiv 2411.04760: the "integral approximation" replaces
the discrete transition by its ρ-th power). ``silava export --dt-scale ρ`` applies, per layer, the
rule its kind declares (``Kind.dt_rule``) to the folded float parameters, before quantization.

The common rule, for a layer ``x_t = A x_{t−1} + B (W h_t + c)`` (h: input events per bin, c: the
constant BatchNorm shift injected every step)::

    A  → A^ρ                                       the transition over ρ old steps
    G  = (A^ρ − I)(A − I)⁻¹   (g(λ) = (λ^ρ − 1)/(λ − 1), g(1) = ρ)   the zero-order-hold gain
    c  → G c                  a constant input: the same continuous-time drive
    W  → G W / ρ              events: a bin holds ρ× the events, each averaged over its arrival time

(``G/ρ`` is the ratio of the bin-averaged kick ``∫_0^Δ e^{A_c τ} dτ B / Δ`` at the two widths; it is
≈ 1 for slow neurons.) What each kind's parametrisation can express:

* ``silif`` (SILIF: SiLIF, AdLIF, cAdLIF): ``α → α^ρ``, ``β → β^ρ`` (multiply Δ by ρ, spec §8.1);
  the membrane's input gain ``1 − α`` (folded into the rows) is the scalar ZOH factor of u:
  rows × ``(1 − α^ρ)/((1 − α) ρ)``, bias × ``(1 − α^ρ)/(1 − α)``; the coupling ``a`` (w integrates u,
  a held input) × ``(1 − β^ρ)/(1 − β)``; the spike-triggered ``b`` is per spike and stays.
* ``leaky`` (LI readout): ``α → α^ρ``; rows and bias as SILIF's membrane.
* ``rotation`` (C-SiLIF): ``λ → λ^ρ`` (``r^ρ e^{iρφ}``); the complex gain ``g(λ)`` cannot enter the
  real-input C-SiLIF form, so its real part is used (the least-squares real approximation):
  rows × ``Re g / ρ``, bias × ``Re g``.
* ``euler`` (RF, ``re = 1 + dt·ω_re``, ``im = dt·ω_im``, input gain dt): the Euler step itself is
  rescaled, ``dt → ρ·dt``: ``re → 1 + ρ(re − 1)``, ``im → ρ·im``; rows (events) unchanged, bias × ρ.
* ``ssm`` (MULTIOUT): ``A → A^ρ`` by eigendecomposition (a real transition needs no eigenvalue on
  the negative real axis for a non-integer ρ: error otherwise), ``B → G B`` exactly (the gain b and
  the normalised B are recomputed), rows / ρ; C, ρ, R, c_r are state-space quantities and stay.

A kind without a rule (CUBA) is refused (:class:`DtScaleError`, one line).

**Event ratios (calibration).** ``W → G W / ρ`` assumes a bin holds ρ× the events. That holds for
spike counts of the source (``counts`` encoding), not for the spikes of a hidden layer: a neuron sends
at most one spike per bin and its rate changes with the bins, and on spoken digits at ρ = 2 the hidden
layers sent only 1.1–1.5× (not 2×) the spikes per bin; dividing their rows by 2 starved the next layer
(bench/README "multiout"). :func:`calibrate_event_ratios` measures, layer by layer on training samples
binned both ways, the ratio ``κ_l`` = events per new bin / events per trained bin that layer l receives
(after the layers before it were re-discretised), and :func:`rescale` then uses ``W → G W / κ_l``
(``silava export --dt-scale ρ``, default 200 training samples; ``--dt-calibrate 0``: κ = ρ, the
analytic rule). Layer 0's ratio needs no simulation: the source's payload sums at both bin widths.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Optional, Sequence

import numpy as np

from silava.core.kinds import KINDS
from silava.export.fold import FoldedLayer, FoldedNetwork


class DtScaleError(ValueError):
    """The network cannot be re-discretised (one line naming the layer and the fix)."""


def zoh_gain(lam: np.ndarray, rho: float) -> np.ndarray:
    """``g(λ) = (λ^ρ − 1)/(λ − 1)`` elementwise (real or complex ``λ``), ``g(1) = ρ``."""
    lam = np.asarray(lam)
    num = np.power(lam.astype(complex), rho) - 1
    den = lam - 1
    near = np.abs(den) < 1e-9
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(near, rho * np.power(lam.astype(complex), rho - 1), num / np.where(near, 1, den))
    return g if np.iscomplexobj(lam) else g.real


def _retention(alpha: np.ndarray, rho: float) -> tuple[np.ndarray, np.ndarray]:
    """``(α^ρ, (1 − α^ρ)/(1 − α))`` for retention factors in [0, 1] (limit ρ at α = 1)."""
    alpha = np.asarray(alpha, dtype=np.float64)
    return np.power(alpha, rho), zoh_gain(alpha, rho).real


def _silif(fl: FoldedLayer, rho: float) -> FoldedLayer:
    p = dict(fl.params)
    p["alpha"], g_u = _retention(p["alpha"], rho)
    p["beta"], g_w = _retention(p["beta"], rho)
    p["a"] = p["a"] * g_w
    return replace(fl, params=p, weight=fl.weight * (g_u / rho)[:, None], bias=fl.bias * g_u)


def _leaky(fl: FoldedLayer, rho: float) -> FoldedLayer:
    p = dict(fl.params)
    p["alpha"], g = _retention(p["alpha"], rho)
    return replace(fl, params=p, weight=fl.weight * (g / rho)[:, None], bias=fl.bias * g)


def _rotation(fl: FoldedLayer, rho: float) -> FoldedLayer:
    p = dict(fl.params)
    lam = p["lam_re"] + 1j * p["lam_im"]
    new = np.power(lam, rho)
    g = zoh_gain(lam, rho).real
    p["lam_re"], p["lam_im"] = new.real, new.imag
    return replace(fl, params=p, weight=fl.weight * (g / rho)[:, None], bias=fl.bias * g)


def _euler(fl: FoldedLayer, rho: float) -> FoldedLayer:
    p = dict(fl.params)
    p["re"] = 1 + rho * (p["re"] - 1)
    p["im"] = rho * p["im"]
    return replace(fl, params=p, bias=fl.bias * rho)


def matrix_power(A: np.ndarray, rho: float, where: str) -> tuple[np.ndarray, np.ndarray]:
    """``(A^ρ, G)`` per neuron for real ``A [n, N, N]``: eigendecomposition ``A = V Λ V⁻¹``,
    ``A^ρ = V Λ^ρ V⁻¹``, ``G = V g(Λ) V⁻¹``; a non-real result (an eigenvalue on the negative real axis
    with a non-integer ρ) or a defective A is refused."""
    lam, V = np.linalg.eig(A)
    if float(rho) != int(rho) and np.any((np.abs(lam.imag) < 1e-12) & (lam.real < 0)):
        raise DtScaleError(f"{where}: the transition has a negative real eigenvalue, so A^{rho:g} is not real; "
                           f"use an integer --dt-scale or retrain with a complex-diagonal transition")
    cond = np.linalg.cond(V)
    if np.any(~np.isfinite(cond)) or np.any(cond > 1e8):
        raise DtScaleError(f"{where}: the transition is (nearly) defective; A^{rho:g} is ill-defined")
    Vi = np.linalg.inv(V)
    power = np.einsum("nij,nj,njk->nik", V, np.power(lam.astype(complex), rho), Vi)
    gain = np.einsum("nij,nj,njk->nik", V, zoh_gain(lam, rho), Vi)
    for name, m in (("A^rho", power), ("G", gain)):
        if np.max(np.abs(m.imag)) > 1e-6 * max(1.0, float(np.max(np.abs(m.real)))):
            raise DtScaleError(f"{where}: {name} is not real (max imaginary part {np.max(np.abs(m.imag)):.3g})")
    return power.real, gain.real


def _ssm(fl: FoldedLayer, rho: float, where: str = "") -> FoldedLayer:
    p = dict(fl.params)
    extra = [k for k in ("G", "L", "F") if k in p]
    if extra:
        raise DtScaleError(f"{where}: --dt-scale is defined for a trained multi-output layer (A, B, C, ρ, R, c_r); "
                           f"this layer also has {', '.join(extra)} (a special-case rewrite): re-discretise the "
                           f"original layer instead")
    power, gain = matrix_power(p["A"], rho, where)
    # the rows hold b·W' (b = max|B|); the new input vector is G·B = b·(G·B/b): its largest entry,
    # ``scale``, joins the folded gain, and B/b is renormalised
    B_full = np.einsum("nij,nj->ni", gain, p["B"])
    scale = np.max(np.abs(B_full), axis=1)
    scale = np.where(scale > 0, scale, 1.0)
    p["A"], p["B"] = power, B_full / scale[:, None]
    return replace(fl, params=p, weight=fl.weight * (scale / rho)[:, None], bias=fl.bias * scale)


RULES: dict[str, Callable[..., FoldedLayer]] = {"silif": _silif, "leaky": _leaky, "rotation": _rotation,
                                                "euler": _euler, "ssm": _ssm}


def rescale_layer(fl: FoldedLayer, rho: float, where: str = "") -> FoldedLayer:
    """One folded layer re-discretised for bins ``ρ`` times as wide (the rule of its kind)."""
    rule = KINDS[fl.neuron_type].dt_rule
    if not rule:
        raise DtScaleError(f"{where}: {fl.neuron_type} layers have no continuous-time parametrisation, so "
                           f"--dt-scale cannot re-discretise them; retrain at the new bin width")
    fn = RULES[rule]
    out = fn(fl, rho, where) if rule == "ssm" else fn(fl, rho)
    out.params = {k: np.asarray(v, dtype=np.float64) for k, v in out.params.items()}
    return out


def rescaled_steps(steps: int, rho: float) -> int:
    """Steps covering the same duration at bins ρ× as wide: ``round((T − 1)/ρ) + 1`` (SHD-style binning
    ``linspace(0, max_time, T)`` has T − 1 bin widths), at least 1."""
    return max(1, int(round((int(steps) - 1) / float(rho))) + 1)


def rescale(folded: FoldedNetwork, rho: float, event_ratios: Optional[Sequence[float]] = None) -> FoldedNetwork:
    """The folded network re-discretised for bins ``ρ = Δ_T / Δ_S`` times as wide (ρ > 0).

    ``event_ratios[l]`` (κ_l, :func:`calibrate_event_ratios`): events per new bin / per trained bin that
    layer l receives; its rows are scaled by ``G/κ_l`` instead of ``G/ρ``. None: κ = ρ for every layer.
    """
    rho = float(rho)
    if not np.isfinite(rho) or rho <= 0:
        raise DtScaleError(f"--dt-scale {rho!r}: must be a positive finite ratio of bin widths (new / trained)")
    if rho == 1.0:
        return folded                       # the same bins: nothing changes (exactly)
    if event_ratios is not None and len(event_ratios) != len(folded.layers):
        raise ValueError(f"event_ratios: {len(event_ratios)} values for {len(folded.layers)} layers")
    layers = []
    for i, fl in enumerate(folded.layers):
        new = rescale_layer(fl, rho, f"layer {i} ({fl.neuron_type})")
        kappa = rho if event_ratios is None else float(event_ratios[i])
        if kappa != rho:
            if not np.isfinite(kappa) or kappa <= 0:
                raise DtScaleError(f"layer {i} ({fl.neuron_type}): event ratio {kappa!r} is not a positive number "
                                   f"(the layer receives no events at one of the bin widths); use --dt-calibrate 0")
            new = replace(new, weight=new.weight * (rho / kappa))
        layers.append(new)
    how = "" if event_ratios is None else ", event ratios " + " ".join(f"{k:.3g}" for k in event_ratios)
    return FoldedNetwork(layers=layers, source_neuron=folded.source_neuron,
                         notes=[*folded.notes, f"re-discretised for bins {rho:g}x the training bin width "
                                               f"(--dt-scale {rho:g}{how})"])


def events_per_bin(values: np.ndarray, graded: bool) -> float:
    """Mean events per sample and bin of ``values [B, T, n]``: the payload sum of graded counts, else the
    number of non-zero entries (spikes)."""
    v = np.asarray(values)
    if v.size == 0 or v.shape[1] == 0:
        return 0.0
    total = float(np.abs(v).sum(dtype=np.float64)) if graded else float(np.count_nonzero(v))
    return total / (v.shape[0] * v.shape[1])


def calibrate_event_ratios(folded: FoldedNetwork, rho: float, x_old: np.ndarray, x_new: np.ndarray, *,
                           graded_input: bool,
                           build: Callable[[FoldedNetwork], Any],
                           outputs: Callable[[Any, np.ndarray], Sequence[np.ndarray]]) -> list[float]:
    """κ_l for every layer (see the module docstring), measured on the same samples binned both ways.

    ``x_old [B, T, F]`` / ``x_new [B, T', F]``: the samples at the trained and the new bin width.
    ``build(folded)``: the deployable network of a folded one (quantization); ``outputs(net, x)``: every
    layer's output ``[B, T, n]`` (an integer simulation). Layer 0: the source's ratio; layer l > 0: the
    events of layer l − 1 in the network whose layers < l are already re-discretised with their κ.
    """
    rho = float(rho)
    ratios = [rho] * len(folded.layers)
    old_src, new_src = events_per_bin(x_old, graded_input), events_per_bin(x_new, graded_input)
    if old_src <= 0:
        raise DtScaleError("--dt-calibrate: the calibration samples carry no input events; use --dt-calibrate 0")
    ratios[0] = new_src / old_src
    old_out = outputs(build(folded), x_old)
    for layer in range(1, len(folded.layers)):
        new_out = outputs(build(rescale(folded, rho, ratios)), x_new)
        before = events_per_bin(old_out[layer - 1], False)
        if before <= 0:                    # a silent layer: nothing to measure, keep the analytic ratio
            continue
        ratios[layer] = events_per_bin(new_out[layer - 1], False) / before
    return ratios
