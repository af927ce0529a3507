"""``silava export --to nir|onnx|onnx-int``: other formats of an exported network.

The source is a checkpoint (quantized in memory with the export settings, exactly as ``silava
export`` would) or a model.net. What each target takes:

* ``nir`` — the folded float network (the model.net ``float`` groups) as a NIR graph
  (:mod:`silava.export.nir_io`), with dt, steps, input encoding and the quantization settings
  in its metadata, so ``silava import`` gives back the same integers;
* ``onnx`` — the folded float network as ONNX (:func:`silava.export.onnx_io.float_model`;
  ``--onnx-dtype float32`` default, or ``float64``);
* ``onnx-int`` — the integer network as ONNX with hwsim's semantics
  (:func:`silava.export.onnx_io.integer_model`), bit-exact with ``silava sim``.

Default output: ``model.nir`` / ``model.onnx`` / ``model.int.onnx`` next to the source.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

TARGETS = ("net", "nir", "onnx", "onnx-int")
DEFAULT_NAMES = {"nir": "model.nir", "onnx": "model.onnx", "onnx-int": "model.int.onnx"}


class InteropError(ValueError):
    """Bad input for an export to another format (one line: problem and fix)."""


def is_model_net(path: "str | os.PathLike") -> bool:
    """True if ``path`` is an HDF5 file whose root says ``format = silava-net``."""
    import h5py

    path = Path(path)
    if not path.is_file() or not h5py.is_hdf5(path):
        return False
    try:
        with h5py.File(path, "r") as f:
            fmt = f.attrs.get("format")
    except OSError:
        return False
    return (fmt.decode() if isinstance(fmt, bytes) else fmt) == "silava-net"


def load_network(source: "str | os.PathLike", config: Any = None) -> Any:
    """The quantized network of ``source``: a model.net as it is, or a checkpoint quantized with ``config``."""
    from silava.core import netfile

    if is_model_net(source):
        try:
            return netfile.read(source)
        except netfile.NetFileError as exc:
            raise InteropError(str(exc)) from None
    from silava.export.to_lava import ExportError, quantize_checkpoint

    try:
        return quantize_checkpoint(source, config).network
    except ExportError as exc:
        raise InteropError(str(exc)) from None


def default_output(source: "str | os.PathLike", target: str) -> Path:
    src = Path(source)
    base = src if src.is_dir() else src.parent
    return base / DEFAULT_NAMES[target]


def _supported_kinds(target: str) -> tuple[str, ...]:
    if target == "nir":
        from silava.export.nir_io import NIR_KINDS

        return tuple(NIR_KINDS)
    from silava.export.onnx_io import FLOAT_STEPS, INTEGER_STEPS

    return tuple(INTEGER_STEPS if target == "onnx-int" else FLOAT_STEPS)


def _check_kinds(target: str, net: Any) -> None:
    """One line naming the first layer whose kind ``target`` cannot hold (before anything is written)."""
    kinds = _supported_kinds(target)
    for i, layer in enumerate(net.layers):
        if layer.neuron_type not in kinds:
            raise InteropError(f"--to {target}: layer {i} is {layer.neuron_type}, which has no {target} form "
                               f"(supported: {', '.join(kinds)}); keep it as model.net (silava export without --to)")


def export_to(target: str, source: "str | os.PathLike", output: Optional["str | os.PathLike"] = None, *,
              config: Any = None, onnx_dtype: str = "float32") -> Path:
    """Write ``source`` (checkpoint or model.net) as ``target`` (``nir``, ``onnx``, ``onnx-int``); returns the path."""
    from silava.core.fileio import check_outputs

    if target not in DEFAULT_NAMES:
        raise InteropError(f"--to {target!r}: choose one of {', '.join(TARGETS)}")
    out = Path(output) if output else default_output(source, target)
    if out.is_dir():
        out = out / DEFAULT_NAMES[target]
    check_outputs({"-o": out}, {"source": source}, InteropError)
    net = load_network(source, config)
    _check_kinds(target, net)
    try:
        if target == "onnx-int":
            from silava.export.onnx_io import integer_model, save

            save(integer_model(net), out)
            return out
        from silava.export.fold import FoldError, folded_from_network

        try:
            folded = folded_from_network(net)
        except FoldError as exc:
            raise InteropError(f"--to {target}: {exc}") from None
        if target == "onnx":
            from silava.export.onnx_io import float_model, save

            save(float_model(folded, dtype=onnx_dtype), out)
            return out
        from silava.export.nir_io import export_nir

        meta = net.meta
        export_nir(folded, out, dt=float(meta.dt), steps=int(meta.steps), input_encoding=meta.input_encoding,
                   quantization=meta.quantization,
                   extra={"n_classes": int(meta.n_classes), "float_accuracy": float(meta.float_accuracy),
                          "checkpoint_sha256": meta.checkpoint_sha256})
        return out
    except OSError as exc:
        raise InteropError(f"cannot write {out}: {exc.strerror or exc}; choose a writable path (-o)") from None
    except InteropError:
        raise
    except ValueError as exc:            # NirError, OnnxExportError: already one line
        raise InteropError(str(exc)) from None


__all__ = ["DEFAULT_NAMES", "InteropError", "TARGETS", "default_output", "export_to", "is_model_net", "load_network"]
