"""Lava Processes of silava's own neuron kinds (model.net types SILIF, CSILIF, RF, MULTIOUT, LI, HYBRID, LI2).

One module per kind (:mod:`.silif`, :mod:`.csilif`, :mod:`.rf`, :mod:`.multiout`, :mod:`.li`, :mod:`.hybrid`,
:mod:`.li2`), each with its
``AbstractProcess`` and two ``PyLoihiProcessModel`` s:

* ``fixed_pt`` — the integer step of docs/fixed_point.md §3 written here, in Lava's idiom
  (int64 numpy; ``mul(k, x, D) = sign(k·x)·(|k·x| >> D)`` for a product on the 2^D grid
  truncated toward zero, ``sat`` = clip to ±(2^23 − 1), ``a << 6``, ``bias << 6``,
  ``vth << 6``). It is an implementation independent of hwsim's golden kernels
  (``silava.hwsim.kernels``, which this package does not import); the equivalence tests
  compare the two at every step and a mutation test shows that a planted arithmetic
  error on this side is caught;
* ``floating_pt`` — the float (folded) dynamics of docs/fixed_point.md §3, in numpy
  float64, with the parameters of the file's ``float`` group.

Only the step arithmetic is hand-written per kind. Everything else comes from the kind
declaration ``silava.core.kinds.KINDS[type]`` (:mod:`.base`): the state Vars (``State.var``),
the parameter Vars (``Param.var`` plus ``bias``), their model.net keys (:data:`FILE_KEYS`,
``Param.key``) and float-group keys (:data:`FLOAT_KEYS`: ``Param.source``, ``threshold``,
``bias``), and the ``LavaPyType`` declarations of both ProcessModels (``@lava_types``).
The same Vars hold integer parameters under ``fixed_pt`` and float parameters under
``floating_pt`` (like Lava's own LIF, whose ``du`` is 12-bit under ``fixed_pt`` and a
fraction under ``floating_pt``); ``lava_models.builder`` fills them.

Per-period reset (docs/fixed_point.md §5), exactly like Lava's ``LIFReset``: when
``reset_interval > 0`` and ``time_step % reset_interval == reset_offset % reset_interval``,
every state Var (including the previous spike ``p``) is zeroed *before* integrating.
``reset_interval = 0`` (the default) never resets.

Ports: ``a_in`` (InPort, the Dense output ``a`` before ``<< 6``) and ``s_out`` (OutPort).
Spiking kinds send 0/1 spikes on ``s_out``; the LI readout sends its state ``V`` every
step as a graded integer payload on ``s_out`` (float ``v`` under ``floating_pt``).

Lava's ProcessModel discovery executes every module in this folder (spec lava_loihi.md
§2.2), so this package holds Processes, their models and their shared base only, and its
modules use absolute imports (they are also executed standalone by the discovery).
CUBA is Lava's own ``LIFReset`` (see ``lava_models.builder``).
"""
from __future__ import annotations

from silava.lava_models.procs.base import NeuronModel, NeuronProcess, lava_types, lava_types_for
from silava.lava_models.procs.csilif import CSILIF
from silava.lava_models.procs.hybrid import HybridLayer
from silava.lava_models.procs.li import LIReadout
from silava.lava_models.procs.li2 import LI2Readout
from silava.lava_models.procs.multiout import MULTIOUT
from silava.lava_models.procs.rf import RF
from silava.lava_models.procs.silif import SILIF

__all__ = ["NeuronProcess", "NeuronModel", "lava_types", "lava_types_for", "PROCESSES", "SILIF", "CSILIF",
           "RF", "MULTIOUT", "LIReadout", "HybridLayer", "LI2Readout"]

#: model.net neuron type -> Process class (CUBA uses Lava's own ``LIFReset``; see builder)
PROCESSES: dict[str, type[NeuronProcess]] = {p.TYPE: p for p in (SILIF, CSILIF, RF, MULTIOUT, LIReadout, HybridLayer,
                                                                  LI2Readout)}
