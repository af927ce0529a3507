"""``python export/to_lava.py ckpt.pt``: quantize a trained checkpoint to Loihi 2 fixed point.

Writes ``model.net`` (next to the checkpoint unless ``-o``), plus the quantization report
``model.quant.json`` and ``model.quant.txt`` (next to the network unless ``--report-dir``).
Pipeline: :func:`train.checkpoint.load_checkpoint` -> :func:`export.fold.fold_model` (BatchNorm and
input gains folded, docs/fixed_point.md §4) -> :func:`export.quantize.quantize_network` ->
:func:`silava.core.netfile.write`. All outputs are written to temporary files first and moved into
place only when everything succeeded: on any error no output file is left behind.

Quantization settings: the flags, else the checkpoint's QAT settings (a checkpoint fine-tuned with
``silava train --qat`` is exported the way QAT trained it), else 8/12/12 (:func:`quant_config_for`).

Outputs are refused before any work if one of them is the checkpoint (``-o ckpt.pt``) or two are the
same file; the three files are committed as a unit (:class:`silava.core.fileio.atomic_group`): all
are replaced or none is, also on a full disk, Ctrl-C or SIGTERM.

``meta/created`` is the export time in UTC, or ``SOURCE_DATE_EPOCH`` when that is set (reproducible
builds, https://reproducible-builds.org/specs/source-date-epoch/), or empty with ``--no-timestamp``:
two exports of the same checkpoint with the same settings are then byte-identical.

Bad input (a damaged or foreign checkpoint, an unsupported neuron, NaN/Inf parameters, weights
that cannot be represented, an unwritable output path, bad options) prints one line on stderr
naming the problem and the fix, and exits with status 2 (:func:`silava.core.cliutil.run_command`).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

if __name__ == "__main__" and __package__ in (None, ""):
    # Run as a file (`python export/to_lava.py`): Python put this folder first on sys.path, but its
    # modules are parts of the `silava` package (installed by scripts/bootstrap.sh), not
    # top-level modules; drop it so that none of them shadows another module.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from silava.core import netfile  # noqa: E402
from silava.core.cliutil import command_name, parse_layer_bits, run_command  # noqa: E402
from silava.core.fileio import (OutputPathError, check_outputs, check_writable_file, sha256_file,  # noqa: E402
                                write_group)
from silava.export.fold import FoldError, fold_model  # noqa: E402
from silava.export.quantize import QuantConfig, QuantError, check_decay_bits, check_state_frac_bits, check_weight_bits  # noqa: E402
from silava.export.report import build_report, report_json, report_text  # noqa: E402

PROG = "silava export"
INPUT_MESSAGE_BITS = {"binary": 0, "counts": 8}


class ExportError(Exception):
    """Bad input for the export command (one-line message: problem and fix)."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    from silava.core.cliutil import one_line_parser

    p = one_line_parser(ExportError, prog=prog, description="Quantize a silava checkpoint to Loihi 2 fixed point "
                                                            "and write model.net (netx HDF5) plus a quantization "
                                                            "report.")
    p.add_argument("checkpoint", help="ckpt.pt written by silava train (or its run directory)")
    p.add_argument("-o", "--output", help="output model.net (default: model.net next to the checkpoint)")
    q = p.add_argument_group("quantization (default: the checkpoint's QAT settings if it was fine-tuned with "
                             "silava train --qat, else 8/12/12)")
    q.add_argument("--weight-bits", type=int, default=None, help="weight mantissa bits, 2..8 (default 8)")
    q.add_argument("--decay-bits", type=int, default=None,
                   help="decay/rotation grid bits D of SILIF/CSILIF/LI layers, 8..24 (default 12 = Loihi; CUBA is "
                        "always 12)")
    q.add_argument("--state-frac-bits", type=int, default=None,
                   help="state fraction bits s (float 1.0 = 2^s state units), 6..22 (default 12)")
    q.add_argument("--layer-decay-bits", nargs="+", action="extend", default=None, metavar="I=D",
                   help="per-layer decay bits, e.g. 1=16 (layer indices count the readout)")
    q.add_argument("--layer-state-frac-bits", nargs="+", action="extend", default=None, metavar="I=S",
                   help="per-layer state fraction bits, e.g. 0=10")
    p.add_argument("--dt-scale", type=float, default=1.0, metavar="RHO",
                   help="re-discretise for input bins RHO times as wide as in training (new/trained bin width; "
                        "export/dtscale.py): A -> A^RHO with the matching input gains, steps and dt rescaled")
    p.add_argument("--dt-calibrate", type=int, default=None, metavar="N",
                   help="with --dt-scale: measure each layer's events per bin at both bin widths on N training "
                        "samples of the checkpoint's task (default 200; 0: assume a bin holds RHO times the "
                        "events, the analytic rule)")
    p.add_argument("--report-dir", help="folder for model.quant.json / model.quant.txt (default: next to model.net)")
    p.add_argument("--to", choices=("net", "nir", "onnx", "onnx-int"), default="net",
                   help="output format: net (model.net + quantization report, default), nir (the float network as a "
                        "NIR graph), onnx (the float network), onnx-int (the integer network, bit-exact with hwsim); "
                        "the source may also be a model.net for nir/onnx/onnx-int (docs/interop.md)")
    p.add_argument("--onnx-dtype", choices=("float32", "float64"), default="float32",
                   help="float type of --to onnx (default float32)")
    p.add_argument("--no-timestamp", action="store_true",
                   help="leave meta/created empty (two exports are then byte-identical; SOURCE_DATE_EPOCH also "
                        "fixes the time)")
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


def check_export_outputs(ckpt: Path, paths: tuple[Path, Path, Path]) -> None:
    """Refuse, before any work, outputs that are the checkpoint or each other, or cannot be written."""
    from silava.train.checkpoint import not_a_checkpoint

    problem = not_a_checkpoint(ckpt)
    if problem:
        raise ExportError(problem)
    net_path, json_path, text_path = paths
    real = ckpt / "ckpt.pt" if ckpt.is_dir() else ckpt
    check_outputs({"-o": net_path, "report": json_path, "report text": text_path},
                  {"checkpoint": real}, ExportError)
    check_writable_file(net_path, "-o", ExportError, create_parents=True, seekable=True)
    for path in (json_path, text_path):
        check_writable_file(path, "--report-dir", ExportError, create_parents=True, seekable=True)


def write_outputs(net: netfile.Network, files: dict[Path, str | None]) -> None:
    """Write model.net (``None`` content) and text files as one :class:`atomic_group`: all or nothing.

    Everything is rendered in memory first (model.net by :func:`silava.core.netfile.to_bytes`);
    a write that fails (full disk, read-only folder) raises ``OSError`` with every destination
    as it was and no temp file left.
    """
    data = {path: netfile.to_bytes(net) if text is None else text.encode("utf-8") for path, text in files.items()}
    try:
        write_group(data)
    except OutputPathError as exc:
        raise ExportError(f"{exc}") from None


def created_time(no_timestamp: bool = False) -> str:
    """``meta/created``: empty with ``no_timestamp``; ``SOURCE_DATE_EPOCH`` (seconds since 1970, UTC) when set;
    else now. ISO 8601 in UTC, whole seconds."""
    if no_timestamp:
        return ""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is not None and epoch.strip():
        try:
            when = _dt.datetime.fromtimestamp(int(epoch.strip()), _dt.timezone.utc)
        except (ValueError, OverflowError, OSError):
            raise ExportError(f"SOURCE_DATE_EPOCH={epoch!r}: expected whole seconds since 1970-01-01 UTC "
                              f"(e.g. $(git log -1 --format=%ct)); unset it or fix it") from None
    else:
        when = _dt.datetime.now(_dt.timezone.utc)
    return when.replace(microsecond=0).isoformat()


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


def qat_settings(ckpt: dict[str, Any]) -> dict[str, Any]:
    """The quantization settings a QAT checkpoint (``silava train --qat``) was fine-tuned under
    (``QuantConfig`` keyword arguments; empty for a plain checkpoint)."""
    qat = (ckpt.get("train_config") or {}).get("qat")
    base: dict[str, Any] = {}
    if not isinstance(qat, dict):
        return base
    for key in ("weight_bits", "decay_bits", "state_frac_bits"):
        if isinstance(qat.get(key), int) and not isinstance(qat.get(key), bool):
            base[key] = int(qat[key])
    for key in ("layer_decay_bits", "layer_state_frac_bits"):
        if isinstance(qat.get(key), dict):
            try:
                base[key] = {int(k): int(v) for k, v in qat[key].items()}
            except (TypeError, ValueError):
                raise ExportError(f"the checkpoint's QAT setting {key} = {qat[key]!r} is not a map of layer to "
                                  f"bits: pass --{key.replace('_', '-')} explicitly") from None
    return base


def quant_config_for(ckpt: dict[str, Any], *, weight_bits: Optional[int] = None, decay_bits: Optional[int] = None,
                     state_frac_bits: Optional[int] = None, layer_decay_bits: Optional[dict[int, int]] = None,
                     layer_state_frac_bits: Optional[dict[int, int]] = None) -> QuantConfig:
    """The checked :class:`QuantConfig`: given values > the checkpoint's QAT settings (:func:`qat_settings`) >
    the defaults (8/12/12). What ``silava export``, ``silava compare`` and :func:`silava.quantize` use."""
    base = qat_settings(ckpt)
    for key, value in (("weight_bits", weight_bits), ("decay_bits", decay_bits), ("state_frac_bits", state_frac_bits),
                       ("layer_decay_bits", layer_decay_bits), ("layer_state_frac_bits", layer_state_frac_bits)):
        if value is not None:
            base[key] = value
    defaults = QuantConfig()
    return quant_settings(base.get("weight_bits", defaults.weight_bits), base.get("decay_bits", defaults.decay_bits),
                          base.get("state_frac_bits", defaults.state_frac_bits), base.get("layer_decay_bits"),
                          base.get("layer_state_frac_bits"))


def qat_mismatch(ckpt: dict[str, Any], config: QuantConfig) -> Optional[str]:
    """A warning if the checkpoint was fine-tuned with QAT (train/train.py --qat) under other settings."""
    qat = (ckpt.get("train_config") or {}).get("qat")
    if not isinstance(qat, dict):
        return None
    wanted = config.to_dict()
    try:
        trained = quant_config_for(ckpt).to_dict()      # the QAT settings, missing ones at their defaults
    except (ExportError, QuantError):
        trained = {k: qat.get(k) for k in wanted}
    if trained == wanted:
        return None
    diff = ", ".join(f"{k} {trained[k]!r} (QAT) vs {wanted[k]!r}" for k in wanted if trained[k] != wanted[k])
    return (f"the checkpoint was fine-tuned with quantization-aware training under other settings ({diff}); "
            f"drop the quantization flags to export with the QAT settings, for the accuracy QAT measured")


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
                   float_accuracy: float = math.nan, versions: Optional[dict[str, Any]] = None,
                   dt_scale: float = 1.0, created: Optional[str] = None,
                   calibration: Optional[tuple[np.ndarray, np.ndarray]] = None) -> Quantized:
    """Fold and quantize a trained ``SpArchNet`` (in memory): the core of :func:`export_checkpoint`.

    ``steps`` / ``dt`` / ``encoding`` (``binary`` | ``counts``) describe the inputs; ``task`` (the
    task config) and the checkpoint fields go into ``meta``; ``created`` (default :func:`created_time`) is
    ``meta/created``. ``dt_scale``: re-discretise for bins that many times as wide (export/dtscale.py);
    ``calibration = (x_old, x_new)``: the same samples at the trained and the new bin width, to measure
    the event ratios (:func:`silava.export.dtscale.calibrate_event_ratios`; None: the analytic rule).
    Raises :class:`ExportError` (one line).
    """
    config = config or QuantConfig()
    if encoding not in INPUT_MESSAGE_BITS:
        raise ExportError(f"input encoding {encoding!r}: model.net v1 takes binary spikes or integer spike counts "
                          f"(encoding binary or counts)")
    try:
        folded = fold_model(model)
    except FoldError as exc:
        raise ExportError(f"{checkpoint + ': ' if checkpoint else ''}{exc}") from None
    ratios = None
    if dt_scale != 1.0:     # zero-shot change of the bin width (export/dtscale.py)
        from silava.export.dtscale import DtScaleError, rescale, rescaled_steps

        try:
            if calibration is not None:
                ratios = _event_ratios(folded, dt_scale, calibration, config, encoding)
            folded = rescale(folded, dt_scale, ratios)
        except DtScaleError as exc:
            raise ExportError(str(exc)) from None
        steps, dt = rescaled_steps(steps, dt_scale), float(dt) * float(dt_scale)
        float_accuracy = math.nan          # measured at the training bin width
    meta = netfile.Meta(
        steps=int(steps), n_inputs=folded.n_inputs, n_classes=folded.n_classes, dt=float(dt), input_encoding=encoding,
        decision="softmax_sum", timeline="lava", source_neuron=str(getattr(model, "config", {}).get("neuron", "")),
        checkpoint_sha256=checkpoint_sha256, float_accuracy=float_accuracy, task=dict(task or {}),
        created=created_time() if created is None else created)
    from silava.export.quantize import quantize_network

    try:
        net, stats = quantize_network(folded, config, input_message_bits=INPUT_MESSAGE_BITS[encoding], meta=meta)
    except QuantError as exc:
        raise ExportError(str(exc)) from None
    except netfile.NetFileError as exc:
        raise ExportError(f"the quantized network is not valid: {exc}") from None
    versions = versions or _versions({})
    if dt_scale != 1.0:
        net.meta.quantization["dt_scale"] = float(dt_scale)
        net.meta.quantization["dt_scale_event_ratios"] = (
            [round(float(k), 6) for k in ratios] if ratios is not None else "analytic (rho per layer)")
        if calibration is not None:
            net.meta.quantization["dt_scale_calibration_samples"] = int(len(calibration[0]))
    net.meta.silava_version = versions["silava"]
    net.meta.quantization["versions"] = versions
    report = build_report(folded, net, stats, config)
    report["checkpoint"] = checkpoint or None
    return Quantized(network=net, report=report)


def _event_ratios(folded, rho: float, calibration: tuple[np.ndarray, np.ndarray], config: QuantConfig,
                  encoding: str) -> list[float]:
    """The per-layer event ratios of ``--dt-scale`` measured with the torch integer simulation."""
    from silava.export.dtscale import calibrate_event_ratios
    from silava.export.quantize import quantize_network
    from silava.train import intsim

    x_old, x_new = (np.asarray(x) for x in calibration)
    bits = INPUT_MESSAGE_BITS[encoding]

    def build(f):
        meta = netfile.Meta(steps=max(x_old.shape[1], x_new.shape[1]), n_inputs=f.n_inputs, n_classes=f.n_classes,
                            input_encoding=encoding)
        return quantize_network(f, config, input_message_bits=bits, meta=meta)[0]

    def outputs(net, x):
        return [o.numpy() for o in intsim.simulate(net, x, record=False).outputs]

    try:
        return calibrate_event_ratios(folded, rho, x_old, x_new, graded_input=bits > 0, build=build, outputs=outputs)
    except QuantError as exc:
        raise ExportError(f"--dt-calibrate: {exc}") from None


#: training samples ``silava export --dt-scale`` measures the event ratios on (``--dt-calibrate N``)
DT_CALIBRATE_SAMPLES = 200


def calibration_arrays(ckpt: dict, steps: int, rho: float, samples: int) -> tuple[Optional[tuple], str]:
    """``((x_old, x_new), "")``: the first ``samples`` training samples of the checkpoint's task binned at
    the trained width (``steps`` bins) and ρ× as wide, or ``(None, why)`` when the task cannot be re-binned."""
    from silava.core.data import task_arguments
    from silava.core.tasks import TaskError, load_task_arrays
    from silava.export.dtscale import rescaled_steps

    data = dict(ckpt.get("data_config") or {})
    name = data.get("name")
    try:
        rebinnable = bool(name) and "n_steps" in task_arguments(name)
    except ValueError:
        rebinnable = False
    if not rebinnable:
        return None, f"task {name!r} has no n_steps setting to re-bin its data"
    new_steps = rescaled_steps(steps, rho)
    try:
        x_old, _ = load_task_arrays(name, dict(data, n_steps=int(steps)), split="train", max_samples=samples,
                                    steps=int(steps))
        x_new, _ = load_task_arrays(name, dict(data, n_steps=new_steps), split="train", max_samples=samples,
                                    steps=new_steps)
    except TaskError as exc:
        return None, f"the task data cannot be rebuilt here ({exc})"
    if not len(x_old):
        return None, "the task has no training samples"
    return (x_old, x_new), ""


def quantize_checkpoint(ckpt_path: str | os.PathLike, config: Optional[QuantConfig] = None,
                        dt_scale: float = 1.0, *, created: Optional[str] = None,
                        dt_calibrate: int = DT_CALIBRATE_SAMPLES) -> Quantized:
    """Load a checkpoint (file or run directory) and quantize it in memory; nothing is written.

    ``config``: default :func:`quant_config_for` (the checkpoint's QAT settings, else 8/12/12).
    ``dt_scale`` ≠ 1: re-discretise, with the event ratios measured on ``dt_calibrate`` training samples
    of the checkpoint's task (0, or a task that cannot be re-binned: the analytic rule, with a warning).
    What ``silava export`` (:func:`export_checkpoint`), ``silava compare`` and :func:`silava.quantize`
    run. Raises :class:`ExportError` (one-line message) for every bad input.
    """
    from silava.train.checkpoint import CheckpointError, load_checkpoint

    ckpt_path = Path(ckpt_path)
    try:
        model, ckpt = load_checkpoint(ckpt_path)
    except CheckpointError as exc:
        raise ExportError(str(exc)) from None
    config = config or quant_config_for(ckpt)
    real_ckpt = ckpt_path / "ckpt.pt" if ckpt_path.is_dir() else ckpt_path
    if str(ckpt["model_config"].get("arch", "")).startswith("has8-"):
        raise ExportError(f"{real_ckpt} holds a HAS-8 fusion model (ANN paths on the host, SNN paths on the chip): "
                          f"deploy it with `silava fusion export {ckpt_path} -o DIR` (docs/has8.md)")
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
    calibration, why = None, ""
    if dt_scale != 1.0 and int(dt_calibrate) > 0:
        calibration, why = calibration_arrays(ckpt, steps, dt_scale, int(dt_calibrate))
    result = quantize_model(model, steps=steps, dt=dt, encoding=encoding, config=config,
                            task=dict(ckpt["data_config"]), checkpoint=str(real_ckpt),
                            checkpoint_sha256=sha256_file(real_ckpt), float_accuracy=float_accuracy,
                            versions=_versions(ckpt), dt_scale=dt_scale, created=created, calibration=calibration)
    result.warnings = [w for w in [qat_mismatch(ckpt, config)] if w]
    if why:
        result.warnings.append(f"--dt-scale: event ratios not calibrated ({why}); the analytic rule (a bin holds "
                               f"{dt_scale:g}x the events) is used, which can be far off for spiking layers")
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
                      config: Optional[QuantConfig] = None, report_dir: Optional[str] = None,
                      dt_scale: float = 1.0, created: Optional[str] = None,
                      dt_calibrate: int = DT_CALIBRATE_SAMPLES) -> Exported:
    """Export ``ckpt_path``: :func:`quantize_checkpoint`, then write model.net and the report (all or nothing).

    The outputs are checked first (:func:`check_export_outputs`: none may be the checkpoint). Raises
    :class:`ExportError` (one-line message) for every bad input, ``OSError`` if a write fails.
    """
    paths = output_paths(Path(ckpt_path), output, report_dir)
    check_export_outputs(Path(ckpt_path), paths)
    return write_export(quantize_checkpoint(ckpt_path, config, dt_scale=dt_scale, created=created,
                                            dt_calibrate=dt_calibrate), *paths)


def config_from_args(args: argparse.Namespace, ckpt_path: str) -> QuantConfig:
    """The quantization settings of the command line: flags > the checkpoint's QAT settings > 8/12/12."""
    from silava.train.checkpoint import CheckpointError, read_checkpoint

    try:
        ckpt = read_checkpoint(ckpt_path)
    except CheckpointError as exc:
        raise ExportError(str(exc)) from None
    return quant_config_for(
        ckpt, weight_bits=args.weight_bits, decay_bits=args.decay_bits, state_frac_bits=args.state_frac_bits,
        layer_decay_bits=None if args.layer_decay_bits is None else
        parse_layer_bits(args.layer_decay_bits, "--layer-decay-bits", ExportError),
        layer_state_frac_bits=None if args.layer_state_frac_bits is None else
        parse_layer_bits(args.layer_state_frac_bits, "--layer-state-frac-bits", ExportError))


def main(argv: Optional[Sequence[str]] = None, prog: Optional[str] = None) -> int:
    """Command line entry (``silava export``); returns the exit status (:func:`silava.core.cliutil.run_command`)."""
    prog = command_name("export", prog)

    def body() -> int:
        args = build_parser(prog).parse_args(list(sys.argv[1:] if argv is None else argv))
        if not math.isfinite(args.dt_scale) or args.dt_scale <= 0:
            raise ExportError(f"--dt-scale {args.dt_scale:g}: must be a positive finite ratio (new bin width / "
                              f"trained bin width), e.g. 2 for bins twice as wide")
        if args.dt_calibrate is not None and (args.dt_calibrate < 0 or args.dt_scale == 1.0):
            raise ExportError(f"--dt-calibrate {args.dt_calibrate}: " + ("give a number of samples >= 0 (0: no "
                              "calibration)" if args.dt_calibrate < 0 else "only used with --dt-scale; drop it"))
        if args.to != "net" and args.dt_scale != 1.0:
            raise ExportError(f"--dt-scale applies to model.net exports only, not --to {args.to}; "
                              f"export a model.net with --dt-scale, or drop the option")
        if args.to != "net":      # another format (silava.export.interop)
            import h5py

            from silava.export.interop import InteropError, export_to

            source = Path(args.checkpoint)
            config = None if source.is_file() and h5py.is_hdf5(source) else config_from_args(args, args.checkpoint)
            try:
                path = export_to(args.to, args.checkpoint, args.output, config=config, onnx_dtype=args.onnx_dtype)
            except InteropError as exc:
                raise ExportError(str(exc)) from None
            print(f"wrote {path}")
            return 0
        paths = output_paths(Path(args.checkpoint), args.output, args.report_dir)
        check_export_outputs(Path(args.checkpoint), paths)
        config = config_from_args(args, args.checkpoint)
        result = export_checkpoint(args.checkpoint, output=args.output, config=config, report_dir=args.report_dir,
                                   dt_scale=args.dt_scale, created=created_time(args.no_timestamp),
                                   dt_calibrate=DT_CALIBRATE_SAMPLES if args.dt_calibrate is None else args.dt_calibrate)
        for warning in result.warnings:
            print(f"{prog}: warning: {warning}", file=sys.stderr)
        if not args.quiet:
            sys.stdout.write(report_text(result.report))
        print(f"wrote {result.net}")
        print(netfile.netx_summary(result.network))
        print(f"wrote {result.json}")
        print(f"wrote {result.text}")
        return 0

    return run_command(prog, body, (ExportError, QuantError),
                       interrupted="nothing was written; the outputs are as they were")


if __name__ == "__main__":
    from silava.export.to_lava import main as _main  # the package's module, not this file's __main__ copy

    sys.exit(_main())
