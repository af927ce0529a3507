"""silava's extension of lava-dl netx: :class:`Network` loads every model.net, our kinds included.

``silava.lava_models.netx.Network`` is a subclass of ``lava.lib.dl.netx.hdf5.Network`` with the
same arguments, the same blocks (netx's ``Dense``, ``RecurrentDense``, ``Conv``, ``Input``) and the
same ``inp`` / ``out`` ports and ``layers`` list, so a lava-dl user gets our neurons inside the
network object they know::

    from silava.lava_models.netx import Network
    net = Network(net_config="model.net", reset_interval=T + L, reset_offset=1)

What it adds to netx (docs/interfaces.md, "lava-dl netx"):

* **silava's kinds** (SILIF, CSILIF, LI; :data:`silava.lava_models.procs.PROCESSES`): a layer whose
  ``neuron/type`` netx does not know is built with our Process, its Vars filled from the file
  (the neuron-kind declarations of :mod:`silava.core.kinds`), inside netx's own block; the
  synapse uses the file's ``weightExp`` (netx derives its own exponent from the weights, which
  is exact only for the netx-native kinds written with ``weightExp = 0``). Graded kinds (LI)
  send their value on ``out`` (24-bit payloads; netx's next block reads them as graded).
* **an LI readout written as CUBA** (``neuron/silavaType = LI``, :mod:`silava.core.netxform`):
  plain netx runs it as a CUBA layer that never spikes (its ``v`` is the readout); this class
  builds our ``LIReadout`` instead, so ``out`` carries the readout values.
* **per-sample resets that netx leaves out** when ``reset_interval`` is given: the recurrent
  Dense buffer of a ``dense_rec`` layer (netx resets the neuron but not the buffer, so the last
  output of one sample reaches the first step of the next) and the states of sigma-delta layers
  (netx ignores ``reset_interval`` for them), each with a Lava ``Reset`` process at the layer's
  reset step. With them, a network runs samples back to back exactly like silava's builder and
  hwsim (each sample from a fresh state).
* the recurrent Dense of a graded-output layer carries graded payloads (netx gives it the
  layer's *input* message bits).

Everything else is netx's: native layers (CUBA, sigma-delta) are built by netx's own methods.
Only ``fixed_pt`` runs (netx's blocks are fixed-point only).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import numpy as np

from silava import lava_models  # noqa: F401  (the Python 3.11 import fixes before lava)
from lava.lib.dl import netx as _netx
from lava.lib.dl.netx.blocks.models import AbstractPyBlockModel
from lava.lib.dl.netx.blocks.process import Conv as ConvBlock
from lava.lib.dl.netx.blocks.process import Dense as DenseBlock
from lava.lib.dl.netx.blocks.process import Input as InputBlock
from lava.lib.dl.netx.blocks.process import RecurrentDense as RecurrentBlock
from lava.magma.core.decorator import implements
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from silava.core.kinds import get_kind
from silava.core.netfile import Layer, NetFileError, read_layers
from silava.lava_models.builder import NO_RESET, lava_conv_weight, to_lava_order, xyz

#: payload bits of a graded silava kind on netx's ports (a 24-bit state)
GRADED_BITS = 24
_CACHE: dict[tuple[str, float], dict[int, Layer]] = {}


def _layers_of(filename: str) -> dict[int, Layer]:
    """Group index -> silava layer of a netx-layout file (cached per file and modification time)."""
    import h5py

    key = (os.path.abspath(filename), os.path.getmtime(filename))
    if key not in _CACHE:
        with h5py.File(filename, "r") as f:
            layers, groups = read_layers(f["layer"], notes=[])
        _CACHE.clear()
        _CACHE[key] = dict(zip(groups, layers))
    return _CACHE[key]


def _ours(layer_config: Any) -> Optional[Layer]:
    """The silava layer of a netx layer group if netx cannot build it itself, else None."""
    group = layer_config.f
    layers = _layers_of(group.file.filename)
    layer = layers.get(int(Path(group.name).name))
    if layer is None:
        return None
    kind = get_kind(layer.neuron_type)
    return None if (kind.netx_native or kind.name in NO_RESET) else layer


def neuron_params(layer: Layer, reset_interval: Optional[int], reset_offset: int) -> dict:
    """netx's ``neuron_params`` dict for a silava kind: our Process and its Vars from the file."""
    from silava.lava_models.procs import PROCESSES

    kind = get_kind(layer.neuron_type)
    proc = PROCESSES[kind.name]
    params: dict[str, Any] = {"neuron_proc": proc, "bias_key": "bias",
                              "num_message_bits": 0 if kind.spiking else GRADED_BITS,
                              "reset_interval": int(reset_interval or 0), "reset_offset": int(reset_offset)}
    for var, key in proc.FILE_KEYS.items():
        if key != "bias" and key in layer.neuron:
            params[var] = to_lava_order(layer.neuron[key], layer.neuron_shape)
    return params


def _bias(layer: Layer) -> Optional[np.ndarray]:
    return None if layer.bias is None else to_lava_order(np.asarray(layer.bias, np.int64), layer.neuron_shape)


class Network(_netx.hdf5.Network):
    """``netx.hdf5.Network`` that also builds silava's neuron kinds (see the module docstring)."""

    def create_input(self, layer_config, reset_interval=None, reset_offset=0, spike_exp=6):
        layer = _ours(layer_config)
        if layer is None:
            return _netx.hdf5.Network.create_input(layer_config, reset_interval=reset_interval,
                                                   reset_offset=reset_offset, spike_exp=spike_exp)
        block = InputBlock(shape=xyz(layer.neuron_shape),
                           neuron_params=neuron_params(layer, reset_interval, reset_offset),
                           transform={"weight": 64, "bias": 0})
        return block, self._table_str(type_str="Input", width=1, height=1, channel=layer.out_features)

    def create_dense(self, layer_config, input_message_bits=0, reset_interval=None, reset_offset=0,
                     spike_exp=6, sparse_synapse=False, rec=False):
        layer = _ours(layer_config)
        if layer is None:
            block, table = _netx.hdf5.Network.create_dense(
                layer_config, input_message_bits=input_message_bits, reset_interval=reset_interval,
                reset_offset=reset_offset, spike_exp=spike_exp, sparse_synapse=sparse_synapse, rec=rec)
        else:
            params = {"shape": (layer.out_features,),
                      "neuron_params": neuron_params(layer, reset_interval, reset_offset),
                      "weight": np.asarray(layer.weight, np.int64), "num_weight_bits": 8,
                      "weight_exponent": int(layer.weight_exp), "input_message_bits": input_message_bits,
                      "sparse_synapse": sparse_synapse}
            if layer.bias is not None:
                params["bias"] = _bias(layer)
            if rec:
                params["weight_rec"] = np.asarray(layer.weight_rec, np.int64)
                block = RecurrentBlock(**params)
            else:
                block = DenseBlock(**params)
            table = self._table_str(type_str="Dense", width=1, height=1, channel=layer.out_features)
        if rec and block.output_message_bits > 0:       # the recurrent Dense carries the layer's own payload
            block.synapse_rec.num_message_bits.init = int(block.output_message_bits)
        return block, table

    def create_conv(self, layer_config, input_shape, input_message_bits=0, reset_interval=None, reset_offset=0,
                    spike_exp=6):
        layer = _ours(layer_config)
        if layer is None:
            return _netx.hdf5.Network.create_conv(layer_config, input_shape=input_shape,
                                                  input_message_bits=input_message_bits,
                                                  reset_interval=reset_interval, reset_offset=reset_offset,
                                                  spike_exp=spike_exp)
        spec = layer.conv
        params = {"input_shape": tuple(int(v) for v in input_shape), "shape": xyz(layer.neuron_shape),
                  "neuron_params": neuron_params(layer, reset_interval, reset_offset),
                  "weight": lava_conv_weight(layer.weight), "stride": np.array(spec.stride[::-1]),
                  "padding": np.array(spec.padding[::-1]), "dilation": np.array(spec.dilation[::-1]),
                  "groups": int(spec.groups), "input_message_bits": input_message_bits}
        if layer.bias is not None:
            params["bias"] = _bias(layer)
        c, h, w = layer.neuron_shape
        return ConvBlock(**params), self._table_str(type_str="Conv", width=w, height=h, channel=c)

    def __init__(self, net_config: str, num_layers: Optional[int] = None, skip_layers: int = 0,
                 input_message_bits: Optional[int] = None, input_shape: Optional[tuple] = None,
                 reset_interval: Optional[int] = None, reset_offset: int = 0, spike_exp: int = 6,
                 sparse_fc_layer: bool = False) -> None:
        """netx's arguments; ``input_message_bits=None`` (the default here) takes the first layer's
        ``inputMessageBits`` from a silava file (0 in a lava-dl file)."""
        try:
            layers = _layers_of(str(net_config))
        except NetFileError as exc:
            raise NetFileError(f"{Path(net_config).name}: {exc}") from None
        if input_message_bits is None:
            first = layers[min(layers)]
            input_message_bits = int(first.input_message_bits) if first.synaptic else 0
        super().__init__(net_config=net_config, num_layers=num_layers, skip_layers=skip_layers,
                         input_message_bits=input_message_bits, input_shape=input_shape,
                         reset_interval=reset_interval, reset_offset=reset_offset, spike_exp=spike_exp,
                         sparse_fc_layer=sparse_fc_layer)
        self.resets = self._resets(reset_interval, reset_offset) if reset_interval else []

    def _resets(self, interval: int, offset: int) -> list[AbstractProcess]:
        """Lava ``Reset`` processes for what netx does not reset: recurrent Dense buffers, sigma-delta
        states. Block ``j``'s neuron resets before step ``offset + 1 + j``; these zero their Var in the
        management phase of the step before."""
        from lava.proc.sdn.process import Delta, Sigma, SigmaDelta

        from silava.lava_models.builder import _reset

        out = []
        for j, block in enumerate(self.layers):
            at = offset + j - 1
            if isinstance(block, RecurrentBlock):
                out.append(_reset(block.synapse_rec.a_buff, interval, at))
            if isinstance(block.neuron, (Delta, Sigma, SigmaDelta)):
                for var in ("sigma", "act", "residue"):
                    if hasattr(block.neuron, var) and (var != "sigma" or not isinstance(block.neuron, Delta)):
                        out.append(_reset(getattr(block.neuron, var), interval, at))
        return out


@implements(proc=Network, protocol=LoihiProtocol)
class PyNetworkModel(AbstractPyBlockModel):
    """The hierarchical model of :class:`Network` (netx's own, for the subclass)."""

    def __init__(self, proc: AbstractProcess) -> None:
        super().__init__(proc)


__all__ = ["GRADED_BITS", "Network", "neuron_params"]
