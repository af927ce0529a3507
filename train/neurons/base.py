"""Base class shared by every neuron of the zoo (contract: docs/interfaces.md).

A neuron module owns its trainable parameters and runs a layer of ``size`` neurons
over time. Each concrete neuron type provides

- a ``State`` ``NamedTuple`` and a **pure step function** (module level in its file)
  ``step(I_t, state, params, spike) -> (s_t, new_state)`` that states the math;
- :meth:`Neuron.params`: the per-neuron constants the step uses (after
  reparametrisation / clamps, differentiable w.r.t. the trainable parameters);
- :meth:`Neuron._scan`: the fast path, a custom ``torch.autograd.Function`` that
  runs the same arithmetic as the step function (bit-identical forward) without
  building a graph, with a hand-written BPTT backward.

``forward`` uses the fast path when ``self.fast`` (default) and the step-function
loop otherwise; :meth:`Neuron.reference_forward` always uses the step-function loop.

Initial state (spec §1.2): ``init_state="zeros"`` (default; what hardware does) or
``"random"``: every state, including the previous spike ``s_0`` where the neuron has
one, is drawn ``U[0,1)`` per (batch item, neuron) at every forward call, in training
and in evaluation (as the SpArch / SiLIF reference code does).
"""
from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from .surrogate import make_spike_fn, resolve_surrogate

INIT_STATES = ("zeros", "random")


class Neuron(nn.Module):
    """A layer of ``size`` neurons; ``forward(I[B,T,H]) → spikes[B,T,H]``.

    Args:
        size: number of neurons ``H``.
        init_state: ``"zeros"`` (default) or ``"random"`` (U[0,1) for every state, spec §1.2).
        surrogate: ``"boxcar"`` (default) or ``"fast-sigmoid"`` (see :mod:`.surrogate`).
        surrogate_scale: surrogate height (box-car, default 1) or slope (fast-sigmoid, default 10).
        fast: use the fused autograd kernel (default) instead of the step-function loop.
    """

    type_name: ClassVar[str] = ""
    #: the model.net neuron kind it deploys as (``silava.core.kinds``); "" = not deployable
    kind: ClassVar[str] = ""
    State: ClassVar[type]  # NamedTuple of [B, H] tensors
    state_names: ClassVar[tuple[str, ...]] = ()  # states reported by return_states (previous spike excluded)
    bias_on_voltage: ClassVar[bool] = False
    linear_init: ClassVar[str] = "default"  # "xavier" | "default": init of the layer's Linear (spec §1.1)
    spiking: ClassVar[bool] = True
    threshold: float = 1.0
    #: outputs per neuron (the multi-output neuron: M); the layer outputs ``size × outputs_per_neuron``
    outputs_per_neuron: int = 1

    def __init__(self, size: int, *, init_state: str = "zeros", surrogate: str = "boxcar",
                 surrogate_scale: float | None = None, fast: bool = True) -> None:
        super().__init__()
        if init_state not in INIT_STATES:
            raise ValueError(f"init_state must be one of {INIT_STATES}, got {init_state!r}")
        self.size = int(size)
        self.init_state = init_state
        self.surrogate, self.surrogate_scale = resolve_surrogate(surrogate, surrogate_scale)
        self.spike_fn = make_spike_fn(self.surrogate, self.surrogate_scale)
        self.fast = bool(fast)

    @property
    def output_size(self) -> int:
        """Width of the layer's output: ``size × outputs_per_neuron`` (neuron-major)."""
        return self.size * int(self.outputs_per_neuron)

    # ------------------------------------------------------------------ to implement
    def params(self, bias: Tensor | None = None) -> NamedTuple:
        """Per-neuron constants used by the step function (differentiable)."""
        raise NotImplementedError

    def step(self, I_t: Tensor, state: NamedTuple, params: NamedTuple) -> tuple[Tensor, NamedTuple]:
        """One time step with this module's spike function (calls the pure step function)."""
        raise NotImplementedError

    def _scan(self, I: Tensor, params: NamedTuple, state0: NamedTuple) -> tuple[Tensor, dict[str, Tensor]]:
        """Fast path over the whole sequence; returns ``(out[B,T,H], states)``."""
        raise NotImplementedError

    def _discrete(self) -> dict[str, Tensor]:
        raise NotImplementedError

    # ------------------------------------------------------------------ shared
    def initial_state(self, batch: int, like: Tensor) -> NamedTuple:
        """Initial state for a batch: zeros or U[0,1) (drawn field by field, in ``State`` order)."""
        shape = (batch, self.size)
        make = torch.rand if self.init_state == "random" else torch.zeros
        return self.State(*(make(shape, dtype=like.dtype, device=like.device) for _ in self.State._fields))

    def discrete_params(self) -> dict[str, Tensor]:
        """Inference constants per neuron (after clamps), detached (docs/interfaces.md)."""
        with torch.no_grad():
            return {k: v.detach().clone() for k, v in self._discrete().items()}

    def _check(self, I: Tensor, bias: Tensor | None) -> None:
        if I.dim() != 3 or I.shape[-1] != self.size:
            raise ValueError(f"{type(self).__name__}: expected input [B, T, {self.size}], got {tuple(I.shape)}")
        if I.shape[1] == 0:
            raise ValueError(f"{type(self).__name__}: empty sequence (T = 0)")
        if bias is not None and not self.bias_on_voltage:
            raise ValueError(f"{type(self).__name__} takes no voltage bias (bias_on_voltage is False); "
                             "add it to the input current instead")

    def forward(self, I: Tensor, bias: Tensor | None = None, return_states: bool = False,
                state0: NamedTuple | None = None) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        """Run over ``I[B,T,H]``.

        Returns spikes ``[B,T,H]`` (``[B,T,H·M]`` for M outputs per neuron; LI: membrane ``v``), or ``(spikes, states)`` with
        ``states[name][B,T,H]`` = the state after each step. ``state0`` (optional, a
        ``State`` of ``[B,H]`` tensors) overrides the ``init_state`` rule.
        """
        self._check(I, bias)
        if state0 is None:
            state0 = self.initial_state(I.shape[0], I)
        p = self.params(bias)
        if self.fast:
            out, states = self._scan(I, p, state0)
        else:
            out, states = self._loop(I, p, state0)
        return (out, states) if return_states else out

    def reference_forward(self, I: Tensor, bias: Tensor | None = None,
                          state0: NamedTuple | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """Slow path: the pure step function looped over time under autograd."""
        self._check(I, bias)
        if state0 is None:
            state0 = self.initial_state(I.shape[0], I)
        return self._loop(I, self.params(bias), state0)

    def _loop(self, I: Tensor, p: NamedTuple, state: NamedTuple) -> tuple[Tensor, dict[str, Tensor]]:
        outs: list[Tensor] = []
        rec: dict[str, list[Tensor]] = {k: [] for k in self.state_names}
        for I_t in I.unbind(1):
            o, state = self.step(I_t, state, p)
            outs.append(o)
            for k in self.state_names:
                rec[k].append(getattr(state, k))
        return torch.stack(outs, 1), {k: torch.stack(v, 1) for k, v in rec.items()}

    def config(self) -> dict[str, Any]:
        """Constructor keyword arguments (JSON-able) that rebuild this neuron."""
        return {"init_state": self.init_state, "surrogate": self.surrogate,
                "surrogate_scale": self.surrogate_scale, "fast": self.fast}

    def extra_repr(self) -> str:
        return (f"{self.size}, init_state={self.init_state!r}, surrogate={self.surrogate!r}, "
                f"scale={self.surrogate_scale}, fast={self.fast}")
