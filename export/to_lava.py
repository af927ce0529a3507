"""``python export/to_lava.py ckpt.pt``: quantize a trained checkpoint to Loihi 2 fixed point.

Writes ``model.net`` (next to the checkpoint unless ``-o``), plus the quantization report
``model.quant.json`` and ``model.quant.txt`` (next to the network unless ``--report-dir``).
Pipeline: :func:`train.checkpoint.load_checkpoint` -> :func:`export.fold.fold_model` (BatchNorm and
input gains folded, docs/fixed_point.md §4) -> :func:`export.quantize.quantize_network` ->
:func:`silava.core.netfile.write`. All outputs are written to temporary files first and moved into
place only when everything succeeded: on any error no output file is left behind.

Bad input (a damaged or foreign checkpoint, an unsupported neuron, NaN/Inf parameters, weights
that cannot be represented, an unwritable output path, bad options) prints one line on stderr
naming the problem and the fix, and exits with status 2.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import math
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

if __name__ == "__main__" and __package__ in (None, ""):
    # Run as a file (`python export/to_lava.py`): Python put this folder first on sys.path, but its
    # modules are parts of the `silava` package (installed by scripts/bootstrap.sh), not
    # top-level modules; drop it so that none of them shadows another module.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from silava.core import netfile  # noqa: E402
from silava.core.cliutil import parse_layer_bits  # noqa: E402
from silava.core.fileio import sha256_file  # noqa: E402
from silava.export.fold import FoldError, fold_model  # noqa: E402
from silava.export.quantize import QuantConfig, QuantError, check_decay_bits, check_state_frac_bits, check_weight_bits  # noqa: E402
from silava.export.report import build_report, report_json, report_text  # noqa: E402

PROG = "to_lava.py"
INPUT_MESSAGE_BITS = {"binary": 0, "counts": 8}


class ExportError(Exception):
    """Bad input for the export command (one-line message: problem and fix)."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        raise ExportError(f"{message} (see `{self.prog} --help`)")


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = _Parser(prog=prog, description="Quantize a silava checkpoint to Loihi 2 fixed point and write "
                                       "model.net (netx HDF5) plus a quantization report.")
    p.add_argument("checkpoint", help="ckpt.pt written by train/train.py (or its run directory)")
    p.add_argument("-o", "--output", help="output model.net (default: model.net next to the checkpoint)")
    p.add_argument("--weight-bits", type=int, default=8, help="weight mantissa bits, 2..8 (default 8)")
    p.add_argument("--decay-bits", type=int, default=12,
                   help="decay/rotation grid bits D of SILIF/CSILIF/LI layers, 8..24 (default 12 = Loihi; CUBA is always 12)")
    p.add_argument("--state-frac-bits", type=int, default=12,
                   help="state fraction bits s (float 1.0 = 2^s state units), 6..22 (default 12)")
    p.add_argument("--layer-decay-bits", nargs="+", action="extend", default=[], metavar="I=D",
                   help="per-layer decay bits, e.g. 1=16 (layer indices count the readout)")
    p.add_argument("--layer-state-frac-bits", nargs="+", action="extend", default=[], metavar="I=S",
                   help="per-layer state fraction bits, e.g. 0=10")
    p.add_argument("--report-dir", help="folder for model.quant.json / model.quant.txt (default: next to model.net)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the output paths")
    return p


# --------------------------------------------------------------------------- task facts

def task_facts(data_config: dict[str, Any], stored: Optional[dict[str, Any]] = None) -> tuple[int, float, str]:
    """``(steps, dt, input_encoding)`` of the checkpoint's task, from its stored config (no data is read).

    ``stored``: the ``task_facts`` a training run records in ``train_config`` (steps, dt and encoding
    of the data it trained on; every task, your own data included); they win. Older checkpoints:
    values stored in ``data_config`` win, missing ones come from the task builder's defaults
    (``silava.core.data.task_arguments``): ``dt`` directly or ``max_time / (n_steps - 1)`` (SHD binning).
    """
    name = data_config.get("name")
    if isinstance(stored, dict) and all(k in stored for k in ("n_steps", "dt", "encoding")):
        steps, dt, encoding = stored["n_steps"], stored["dt"], stored["encoding"]
        if encoding == "graded":
            raise ExportError(f"task {name!r} has real-valued (graded) inputs; model.net v1 takes binary spikes or "
                              f"integer spike counts: encode the inputs as spikes or counts and re-train")
        if isinstance(steps, int) and steps >= 1 and isinstance(dt, (int, float)) and dt > 0 \
                and encoding in INPUT_MESSAGE_BITS:
            return int(steps), float(dt), str(encoding)
        raise ExportError(f"the checkpoint's task facts {stored} are not valid (steps >= 1, dt > 0, encoding binary "
                          f"or counts): re-train with silava train")
    if not isinstance(name, str) or not name:
        raise ExportError("the checkpoint's data_config has no task name: re-train with train/train.py")
    if name == "gsc":
        raise ExportError("task 'gsc' has real-valued (graded) log-mel inputs; model.net v1 takes binary spikes "
                          "or integer spike counts: train on a spike-encoded task (randman, shd, ssc, spoken-digits)")
    try:
        from silava.core.data import task_arguments
        args = {**task_arguments(name), **data_config}
    except (ValueError, ImportError) as exc:
        raise ExportError(f"cannot read task {name!r} of the checkpoint ({exc}); update silava") from None
    steps = args.get("n_steps")
    if "dt" in args and args["dt"] is not None:
        dt = args["dt"]
    elif "max_time" in args and steps:
        dt = float(args["max_time"]) / (int(steps) - 1)
    else:
        dt = None
    encoding = "binary" if name == "randman" else ("counts" if "max_time" in args else None)
    if not isinstance(steps, (int, float)) or int(steps) < 1 or dt is None or encoding is None:
        raise ExportError(f"cannot derive steps, dt and input encoding of task {name!r} from the checkpoint; "
                          f"update silava")
    return int(steps), float(dt), encoding


# --------------------------------------------------------------------------- outputs

def output_paths(ckpt: Path, output: Optional[str], report_dir: Optional[str]) -> tuple[Path, Path, Path]:
    """``(model.net, model.quant.json, model.quant.txt)``: ``output`` (a file or folder; default next to the
    checkpoint ``ckpt``), the report beside it or in ``report_dir``."""
    base = ckpt if ckpt.is_dir() else ckpt.parent
    net_path = Path(output) if output else base / "model.net"
    if net_path.is_dir():
        net_path = net_path / "model.net"
    stem = net_path.name[: -len(".net")] if net_path.name.endswith(".net") else net_path.name
    rdir = Path(report_dir) if report_dir else net_path.parent
    return net_path, rdir / f"{stem}.quant.json", rdir / f"{stem}.quant.txt"


def _temp_for(path: Path) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}; choose a writable output path "
                          f"(-o / --report-dir)") from None
    os.close(fd)
    return Path(tmp)


def write_outputs(net: netfile.Network, files: dict[Path, str | None]) -> None:
    """Write model.net (``None`` content) and text files atomically, all or nothing."""
    temps: dict[Path, Path] = {}
    placed: list[Path] = []
    try:
        for path, text in files.items():
            temps[path] = _temp_for(path)
            try:
                if text is None:
                    os.unlink(temps[path])
                    netfile.write(temps[path], net)
                else:
                    temps[path].write_text(text, encoding="utf-8")
            except OSError as exc:
                raise ExportError(f"cannot write {path}: {exc.strerror or exc}; choose a writable output "
                                  f"path (-o / --report-dir)") from None
        mask = os.umask(0)
        os.umask(mask)
        for path, tmp in temps.items():
            os.chmod(tmp, 0o666 & ~mask)
            os.replace(tmp, path)
            placed.append(path)
    except BaseException:
        for tmp in temps.values():
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        for path in placed:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        raise


# --------------------------------------------------------------------------- main

def _versions(ckpt: dict[str, Any]) -> dict[str, Any]:
    import h5py
    import numpy as np

    try:
        from silava import __version__ as silava_version
    except ImportError:
        silava_version = "unknown"
    out = {"silava": str(silava_version), "numpy": np.__version__, "h5py": h5py.__version__,
           "python": sys.version.split()[0]}
    try:
        import torch
        out["torch"] = str(torch.__version__)
    except ImportError:
        pass
    out["checkpoint"] = dict(ckpt.get("versions") or {})
    return out


def qat_mismatch(ckpt: dict[str, Any], config: QuantConfig) -> Optional[str]:
    """A warning if the checkpoint was fine-tuned with QAT (train/train.py --qat) under other settings."""
    qat = (ckpt.get("train_config") or {}).get("qat")
    if not isinstance(qat, dict):
        return None
    wanted = config.to_dict()
    trained = {k: qat.get(k) for k in wanted}
    if trained == wanted:
        return None
    diff = ", ".join(f"{k} {trained[k]!r} (QAT) vs {wanted[k]!r}" for k in wanted if trained[k] != wanted[k])
    return (f"the checkpoint was fine-tuned with quantization-aware training under other settings ({diff}); "
            f"export with the QAT settings for the accuracy QAT measured")


@dataclass
class Quantized:
    """A quantized network and its quantization report (:func:`quantize_model`, :func:`quantize_checkpoint`)."""

    network: netfile.Network
    report: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


@dataclass
class Exported(Quantized):
    """What :func:`export_checkpoint` wrote: ``net`` (model.net), ``json`` / ``text`` (the quantization report)."""

    net: Path = Path("model.net")
    json: Path = Path("model.quant.json")
    text: Path = Path("model.quant.txt")


def quantize_model(model, *, steps: int, dt: float, encoding: str, config: Optional[QuantConfig] = None,
                   task: Optional[dict[str, Any]] = None, checkpoint: str = "", checkpoint_sha256: str = "",
                   float_accuracy: float = math.nan, versions: Optional[dict[str, Any]] = None) -> Quantized:
    """Fold and quantize a trained ``SpArchNet`` (in memory): the core of :func:`export_checkpoint`.

    ``steps`` / ``dt`` / ``encoding`` (``binary`` | ``counts``) describe the inputs; ``task`` (the
    task config) and the checkpoint fields go into ``meta``. Raises :class:`ExportError` (one line).
    """
    config = config or QuantConfig()
    if encoding not in INPUT_MESSAGE_BITS:
        raise ExportError(f"input encoding {encoding!r}: model.net v1 takes binary spikes or integer spike counts "
                          f"(encoding binary or counts)")
    try:
        folded = fold_model(model)
    except FoldError as exc:
        raise ExportError(f"{checkpoint + ': ' if checkpoint else ''}{exc}") from None
    meta = netfile.Meta(
        steps=int(steps), n_inputs=folded.n_inputs, n_classes=folded.n_classes, dt=float(dt), input_encoding=encoding,
        decision="softmax_sum", timeline="lava", source_neuron=str(getattr(model, "config", {}).get("neuron", "")),
        checkpoint_sha256=checkpoint_sha256, float_accuracy=float_accuracy, task=dict(task or {}),
        created=_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat())
    from silava.export.quantize import quantize_network

    try:
        net, stats = quantize_network(folded, config, input_message_bits=INPUT_MESSAGE_BITS[encoding], meta=meta)
    except QuantError as exc:
        raise ExportError(str(exc)) from None
    except netfile.NetFileError as exc:
        raise ExportError(f"the quantized network is not valid: {exc}") from None
    versions = versions or _versions({})
    net.meta.silava_version = versions["silava"]
    net.meta.quantization["versions"] = versions
    report = build_report(folded, net, stats, config)
    report["checkpoint"] = checkpoint or None
    return Quantized(network=net, report=report)


def quantize_checkpoint(ckpt_path: str | os.PathLike, config: Optional[QuantConfig] = None) -> Quantized:
    """Load a checkpoint (file or run directory) and quantize it in memory; nothing is written.

    What ``silava export`` (:func:`export_checkpoint`), ``silava compare`` and :func:`silava.quantize`
    run. Raises :class:`ExportError` (one-line message) for every bad input.
    """
    from silava.train.checkpoint import CheckpointError, load_checkpoint

    config = config or QuantConfig()
    ckpt_path = Path(ckpt_path)
    try:
        model, ckpt = load_checkpoint(ckpt_path)
    except CheckpointError as exc:
        raise ExportError(str(exc)) from None
    real_ckpt = ckpt_path / "ckpt.pt" if ckpt_path.is_dir() else ckpt_path
    steps, dt, encoding = task_facts(dict(ckpt["data_config"]), (ckpt.get("train_config") or {}).get("task_facts"))
    metrics = ckpt.get("metrics") or {}
    acc = metrics.get("test_acc")
    float_accuracy = float(acc) if isinstance(acc, (int, float)) and not isinstance(acc, bool) else math.nan
    if ckpt["model_config"].get("arch") == "hybrid":     # the hybrid recurrent network (export/hybrid.py)
        from silava.export.hybrid import quantize_hybrid_model

        try:
            net, report = quantize_hybrid_model(model, ckpt, config, steps=steps, dt=dt, encoding=encoding,
                                                checkpoint=str(real_ckpt), checkpoint_sha256=sha256_file(real_ckpt),
                                                float_accuracy=float_accuracy, task=dict(ckpt["data_config"]))
        except (QuantError, netfile.NetFileError) as exc:
            raise ExportError(str(exc)) from None
        versions = _versions(ckpt)
        net.meta.silava_version = versions["silava"]
        net.meta.quantization["versions"] = versions
        return Quantized(network=net, report=report, warnings=[w for w in [qat_mismatch(ckpt, config)] if w])
    result = quantize_model(model, steps=steps, dt=dt, encoding=encoding, config=config,
                            task=dict(ckpt["data_config"]), checkpoint=str(real_ckpt),
                            checkpoint_sha256=sha256_file(real_ckpt), float_accuracy=float_accuracy,
                            versions=_versions(ckpt))
    result.warnings = [w for w in [qat_mismatch(ckpt, config)] if w]
    return result


def quant_settings(weight_bits: int = 8, decay_bits: int = 12, state_frac_bits: int = 12,
                   layer_decay_bits: Optional[dict[int, int]] = None,
                   layer_state_frac_bits: Optional[dict[int, int]] = None) -> QuantConfig:
    """A checked :class:`QuantConfig` (the ranges of ``silava export``'s flags; :class:`QuantError` if out of range)."""
    check_weight_bits(weight_bits)
    check_decay_bits("--decay-bits", decay_bits)
    check_state_frac_bits("--state-frac-bits", state_frac_bits)
    return QuantConfig(weight_bits=int(weight_bits), decay_bits=int(decay_bits), state_frac_bits=int(state_frac_bits),
                       layer_decay_bits={int(k): int(v) for k, v in (layer_decay_bits or {}).items()},
                       layer_state_frac_bits={int(k): int(v) for k, v in (layer_state_frac_bits or {}).items()})


def write_export(q: Quantized, net_path: Path, json_path: Path, text_path: Path) -> Exported:
    """Write model.net, model.quant.json and model.quant.txt of ``q``, all or nothing."""
    q.report["output"] = str(net_path)
    write_outputs(q.network, {net_path: None, json_path: report_json(q.report), text_path: report_text(q.report)})
    return Exported(network=q.network, report=q.report, warnings=q.warnings, net=net_path, json=json_path,
                    text=text_path)


def export_checkpoint(ckpt_path: str | os.PathLike, *, output: Optional[str] = None,
                      config: Optional[QuantConfig] = None, report_dir: Optional[str] = None) -> Exported:
    """Export ``ckpt_path``: :func:`quantize_checkpoint`, then write model.net and the report (all or nothing).

    Raises :class:`ExportError` (one-line message) for every bad input.
    """
    paths = output_paths(Path(ckpt_path), output, report_dir)
    return write_export(quantize_checkpoint(ckpt_path, config), *paths)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line entry (also ``silava export``); returns the exit status."""
    prog = PROG if argv is None else "silava export"
    try:
        args = build_parser(prog).parse_args(list(sys.argv[1:] if argv is None else argv))
        config = quant_settings(args.weight_bits, args.decay_bits, args.state_frac_bits,
                                parse_layer_bits(args.layer_decay_bits, "--layer-decay-bits", ExportError),
                                parse_layer_bits(args.layer_state_frac_bits, "--layer-state-frac-bits", ExportError))
        result = export_checkpoint(args.checkpoint, output=args.output, config=config, report_dir=args.report_dir)
    except (ExportError, QuantError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    for warning in result.warnings:
        print(f"{prog}: warning: {warning}", file=sys.stderr)
    if not args.quiet:
        sys.stdout.write(report_text(result.report))
    print(f"wrote {result.net}")
    print(f"wrote {result.json}")
    print(f"wrote {result.text}")
    return 0


if __name__ == "__main__":
    from silava.export.to_lava import main as _main  # the package's module, not this file's __main__ copy

    sys.exit(_main())
