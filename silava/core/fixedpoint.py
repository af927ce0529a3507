"""Loihi 2 fixed-point ranges, quantization settings and their range checks (standard library only).

One home for the facts both quantizers need: ``export/quantize.py`` (numpy, at export) and
``train/qat.py`` (torch, in quantization-aware training). The quantization *formulas* stay
written twice on purpose — train must not import export, and ``tests/test_qat.py`` checks
that both produce the same integers — but the ranges, the settings and the checks of those
settings are hardware limits, not formulas, so they live here once.

Ranges: docs/fixed_point.md §1-§4; Lava ``lava/proc/lif/models.py`` declared precisions.
Each check raises ``error`` (the caller's one-line error class) with the problem and the fix.
"""
from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, field
from typing import Any

STATE_MAX = 2**23 - 1            # 24-bit signed state
WEIGHT_MIN, WEIGHT_MAX = -256, 254
BIAS_MIN, BIAS_MAX = -4096, 4095  # 13-bit signed bias mantissa
VTH_MIN, VTH_MAX = 1, 2**17 - 1   # 17-bit unsigned threshold mantissa
WEIGHT_EXP_MIN, WEIGHT_EXP_MAX = -8, 7
DECAY_BITS_MIN, DECAY_BITS_MAX = 8, 24
STATE_FRAC_BITS_MIN, STATE_FRAC_BITS_MAX = 6, 22
INPUT_MESSAGE_BITS_MAX = 24
CUBA_DECAY_BITS = 12


@dataclass
class QuantConfig:
    """Quantization settings; per-layer overrides are keyed by layer index (readout included)."""

    weight_bits: int = 8
    decay_bits: int = 12
    state_frac_bits: int = 12
    layer_decay_bits: dict[int, int] = field(default_factory=dict)
    layer_state_frac_bits: dict[int, int] = field(default_factory=dict)

    def decay_bits_for(self, i: int) -> int:
        return int(self.layer_decay_bits.get(i, self.decay_bits))

    def state_frac_bits_for(self, i: int) -> int:
        return int(self.layer_state_frac_bits.get(i, self.state_frac_bits))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["layer_decay_bits"] = {str(k): int(v) for k, v in sorted(self.layer_decay_bits.items())}
        d["layer_state_frac_bits"] = {str(k): int(v) for k, v in sorted(self.layer_state_frac_bits.items())}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "QuantConfig":
        """Inverse of :meth:`to_dict` (missing keys take the defaults)."""
        return cls(weight_bits=int(d.get("weight_bits", 8)), decay_bits=int(d.get("decay_bits", 12)),
                   state_frac_bits=int(d.get("state_frac_bits", 12)),
                   layer_decay_bits={int(k): int(v) for k, v in (d.get("layer_decay_bits") or {}).items()},
                   layer_state_frac_bits={int(k): int(v) for k, v in (d.get("layer_state_frac_bits") or {}).items()})


def check_weight_bits(bits: Any, error: type[Exception] = ValueError) -> None:
    """Weight mantissa bits must be in [2, 8] (8-bit signed Loihi mantissa; 1 bit has no magnitude)."""
    if isinstance(bits, bool) or not isinstance(bits, numbers.Integral) or not 2 <= int(bits) <= 8:
        raise error(f"weight bits {bits!r} out of range [2, 8]: use --weight-bits 2..8 "
                    f"(8 = Loihi's full signed mantissa)")


def check_weight_exp(where: str, e: int, peak: float, s: int, error: type[Exception] = ValueError) -> None:
    """Weight exponent in [-8, 7] (Lava Dense ``weight_exp``, 4-bit signed)."""
    if e > WEIGHT_EXP_MAX:
        raise error(f"{where}: weight exponent {e} above the limit {WEIGHT_EXP_MAX} (max |W'| = {peak:.4g} "
                    f"at state scale 2^{s}): the weights cannot be represented; lower --state-frac-bits "
                    f"(or --layer-state-frac-bits for this layer) or retrain with smaller weights")
    if e < WEIGHT_EXP_MIN:
        raise error(f"{where}: weight exponent {e} below the limit {WEIGHT_EXP_MIN} (max |W'| = {peak:.4g} "
                    f"at state scale 2^{s}): the weights are too small to represent; raise "
                    f"--state-frac-bits (or --layer-state-frac-bits for this layer)")


def check_threshold(where: str, vth: float, error: type[Exception] = ValueError) -> None:
    """Threshold mantissa vThMant in [1, 2^17 - 1] and an integer (Lava LIF ``vth``, 17-bit unsigned)."""
    if not (VTH_MIN <= vth <= VTH_MAX) or vth != int(vth):
        raise error(f"{where}: threshold mantissa vThMant = {vth:g} outside the integers [{VTH_MIN}, {VTH_MAX}]; "
                    f"choose a state scale with 2^s / 64 (CSILIF: 2^s / 128) in range, i.e. "
                    f"--state-frac-bits 7..22 (CUBA: the weight exponent is subtracted from s)")


def check_state_frac_bits(where: str, s: int, hint: str = "", error: type[Exception] = ValueError) -> None:
    """State fraction bits s in [6, 22] (24-bit states need headroom above the threshold)."""
    if not STATE_FRAC_BITS_MIN <= s <= STATE_FRAC_BITS_MAX:
        raise error(f"{where}: state fraction bits s = {s} outside [{STATE_FRAC_BITS_MIN}, "
                    f"{STATE_FRAC_BITS_MAX}]{hint}; set --state-frac-bits (or --layer-state-frac-bits "
                    f"for this layer) in range")


def check_decay_bits(where: str, D: int, error: type[Exception] = ValueError) -> None:
    """Decay grid bits D in [8, 24]."""
    if not DECAY_BITS_MIN <= D <= DECAY_BITS_MAX:
        raise error(f"{where}: decay bits D = {D} outside [{DECAY_BITS_MIN}, {DECAY_BITS_MAX}]; set "
                    f"--decay-bits (or --layer-decay-bits for this layer) in range")
