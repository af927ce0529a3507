"""The neuron zoo: SiLIF, C-SiLIF, CUBA LIF, AdLIF, cAdLIF, RF, the multi-output neuron and the LI readout.

``NEURONS`` maps ``type_name`` → class; ``make_neuron(name, size, **kw)`` builds one.
Each module holds a pure ``step`` function (the math), a fused autograd kernel
(the fast path) and a thin :class:`~silava.train.neurons.base.Neuron` subclass.
"""
from __future__ import annotations

from .adlif import AdLIF, CAdLIF
from .base import Neuron
from .csilif import CSiLIF
from .lif import LIF
from .multiout import MultiOut
from .readout import LI
from .rf import RF
from .silif import SiLIF
from .surrogate import SURROGATES, make_spike_fn, surrogate_grad

NEURONS: dict[str, type[Neuron]] = {cls.type_name: cls for cls in (SiLIF, CSiLIF, LIF, AdLIF, CAdLIF, RF, MultiOut, LI)}


def make_neuron(name: str, size: int, **kw) -> Neuron:
    """Build the neuron layer registered as ``name`` (see ``NEURONS``) with ``size`` units."""
    try:
        cls = NEURONS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown neuron {name!r}; choose one of {', '.join(NEURONS)}") from None
    return cls(size, **kw)


__all__ = ["NEURONS", "make_neuron", "Neuron", "SiLIF", "CSiLIF", "LIF", "AdLIF", "CAdLIF", "RF", "MultiOut", "LI",
           "SURROGATES", "make_spike_fn", "surrogate_grad"]
