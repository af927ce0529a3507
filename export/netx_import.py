"""Read a lava-dl netx HDF5 file (written by slayer's ``export_hdf5``) as a silava :class:`Network`.

lava-dl's files have the same layer layout as model.net (docs/fixed_point.md §7) but no ``/meta``
group and no silava keys: :func:`silava.core.netfile.read_layers` reads their ``input``,
``flatten``, ``dense``, ``dense_rec`` and ``conv`` groups and their CUBA and sigma-delta (``SDNN``)
neurons with netx's own rules (the kind of an ``SDNN`` layer from its place and ``sigma_output``;
a layer's ``inputMessageBits`` as netx derives it: 0 after spikes, 16 after a sigma-delta layer;
keys netx never reads are dropped and listed in the notes). This module adds what silava needs
and the file cannot say:

* ``meta``: ``source_neuron = "slayer"``, ``timeline = "lava"``; ``decision`` = spike count for a
  spiking last layer, ``sum_v`` (argmax of the summed output) for a graded one; ``steps`` from
  the argument, else taken from the inputs (``meta.task["steps_from_inputs"]``); ``n_inputs`` /
  ``n_classes`` from the first/last layer; ``input_encoding`` from the first layer's payload bits;
* the first layer's payload bits (netx: ``Network(input_message_bits=...)``, default 0 = binary;
  a sigma-delta input layer takes graded payloads: default 16 bits);
* the input shape of a first ``conv`` layer when the file has no ``input`` group.

Layer or neuron types silava cannot run raise :class:`NetxImportError` with one line naming the
type (``pool``, ``convT``, ``average``, ``ALIF``, ``RF_PHASE``, complex synapses, delays, ...).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import h5py

from silava.core.kinds import KINDS
from silava.core.netfile import FORMAT, Meta, NetFileError, Network, read_layers, remap_locations, validate

#: graded payload bits of a sigma-delta input layer when the caller gives none (netx's SDNN width)
DEFAULT_SDNN_INPUT_BITS = 16


class NetxImportError(NetFileError):
    """A lava-dl file silava cannot read (one line: file, layer, the type or key, and why)."""


def is_netx_file(path: str | os.PathLike) -> bool:
    """True for an HDF5 file with a ``layer`` group and no silava ``format`` attribute (a lava-dl file)."""
    path = Path(path)
    try:
        if not path.is_file() or not h5py.is_hdf5(path):
            return False
        with h5py.File(path, "r") as f:
            fmt = f.attrs.get("format")
            if isinstance(fmt, bytes):
                fmt = fmt.decode("utf-8", errors="replace")
            return fmt != FORMAT and "layer" in f and isinstance(f["layer"], h5py.Group)
    except (OSError, ValueError):
        return False


def read_netx(path: str | os.PathLike, *, steps: Optional[int] = None,
              input_message_bits: Optional[int] = None, input_shape: Optional[tuple[int, int, int]] = None,
              dt: float = 1e-3) -> tuple[Network, list[str]]:
    """``(network, notes)`` from a lava-dl netx file.

    Args:
        path: the ``.net`` / ``.h5`` file written with slayer blocks' ``export_hdf5``.
        steps: time steps per sample (default: taken from the inputs when they are given).
        input_message_bits: payload bits of the network input (default: 0, binary spikes, as
            netx's ``Network``; 16 for a sigma-delta input layer).
        input_shape: ``(C, H, W)`` of the input when the first layer is ``conv`` without an
            ``input`` group (netx's ``input_shape`` argument, in PyTorch order here).
        dt: seconds per step (the file does not say).
    Raises:
        NetxImportError: one line naming the file, the layer and the problem.
    """
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise NetxImportError(f"{path}: no such file")
    notes: list[str] = []
    try:
        with h5py.File(path, "r") as f:
            if "layer" not in f or not isinstance(f["layer"], h5py.Group):
                raise NetxImportError("layer: missing group (not a netx file)")
            bits = input_message_bits
            layers, groups = read_layers(f["layer"], input_shape=input_shape, input_message_bits=int(bits or 0),
                                         notes=notes)
    except NetFileError as exc:
        raise NetxImportError(f"{name}: {exc}") from None
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise NetxImportError(f"{name}: unreadable as a netx file ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    first = layers[0]
    if input_message_bits is None and first.layer_type == "input" and not KINDS[first.neuron_type].spiking:
        first.input_message_bits = DEFAULT_SDNN_INPUT_BITS
        notes.append(f"layer/{groups[0]}: sigma-delta input layer, graded inputs of {DEFAULT_SDNN_INPUT_BITS} bits "
                     f"assumed (pass input_message_bits to change)")
    last = KINDS[layers[-1].neuron_type]
    graded_in = int(first.input_message_bits) > 0
    meta = Meta(steps=int(steps) if steps else 1, n_inputs=first.in_features, n_classes=layers[-1].out_features,
                dt=float(dt), input_encoding="graded" if graded_in else "binary",
                decision="softmax_sum" if last.netx_form or last.name == "LI" else "sum_v",
                timeline="lava", source_neuron="slayer",
                task={"name": "netx", "file": name, "steps_from_inputs": not steps},
                quantization={"netx_import": True, "file_groups": groups, "notes": notes})
    net = Network(layers=layers, meta=meta)
    try:
        validate(net)
    except NetFileError as exc:
        raise NetxImportError(f"{name}: {remap_locations(str(exc), groups)}") from None
    return net, notes


def load_any(path: str | os.PathLike) -> Network:
    """A silava model.net (:func:`silava.core.netfile.read`) or a lava-dl netx file (:func:`read_netx`)."""
    from silava.core.netfile import read

    if is_netx_file(path):
        return read_netx(path)[0]
    return read(path)


__all__ = ["NetxImportError", "is_netx_file", "load_any", "read_netx"]
