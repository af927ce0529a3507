"""The public Python API, ``import silava``: the command line's steps as functions.

=======================================  ===========================  ====================================
function                                 command line                 returns
=======================================  ===========================  ====================================
``fit(data, out, ...)``                  ``silava train``             :class:`TrainResult`
``quantize(ckpt_or_model, out=None)``    ``silava export``            ``Network`` (model.net in memory)
``load_net(path)`` / ``save_net``        (model.net files)            ``Network`` / the path
``simulate(net, x)``                     ``silava sim``               :class:`SimResult`
``report(net, x, out=None)``             ``silava sim --report DIR``  :class:`HardwareReport`
``run_lava(net, x)``                     ``silava run``               :class:`LavaResult`
``compare(ckpt, task=..., ...)``         ``silava compare``           :class:`Comparison`
``task_arrays(task, split)``             (``--task`` of sim/run)      ``(x, y)`` integer arrays
=======================================  ===========================  ====================================

Each function calls the same code as its command (``silava.train.train.train_run``,
``silava.export.to_lava.quantize_checkpoint``, ``silava.hwsim.simulate.simulate``, ...). They are
named ``fit`` and ``quantize`` rather than ``train`` and ``export`` because ``silava.train`` and
``silava.export`` are the stage subpackages: importing one would replace a function of that name.

Bad input raises an exception whose message is one line naming the problem and the fix: the
stage's own error class (``ConfigError``, ``CheckpointError``, ``ExportError``, ``NetFileError``,
``InputError``, ``CompareError``, ``TaskError``, ``DatasetError``, all ``Exception`` subclasses),
:class:`ApiError` for the API's own arguments, ``silava.lava_models.LavaMissingError`` (an
``ImportError``) when Lava is needed but not installed. Files are written atomically.
"""
from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

from silava.app.results import HardwareReport, LavaResult, TrainResult
from silava.core.netfile import Network

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["ApiError", "fit", "quantize", "load_net", "save_net", "simulate", "report", "run_lava", "compare",
           "task_arrays"]


class ApiError(ValueError):
    """A bad argument to a :mod:`silava` function (one line: the problem and the fix)."""


def _progress(progress: Optional[bool]) -> bool:
    return sys.stderr.isatty() if progress is None else bool(progress)


def _as_net(net: Union[Network, PathLike]) -> Network:
    return net if isinstance(net, Network) else load_net(net)


def _checkpoint_path(source: Any) -> Optional[Path]:
    if isinstance(source, TrainResult):
        return source.checkpoint
    if isinstance(source, (str, os.PathLike)):
        return Path(source)
    return None


# --------------------------------------------------------------------------- train

#: fit() keyword -> training config key (``silava train`` flag)
_TRAIN_KEYS = ("neuron", "hidden", "layers", "dropout", "init_state", "epochs", "lr", "batch_size", "patience",
               "factor", "min_lr", "seed", "max_samples", "threads", "device", "neuron_kwargs",
               "arch", "spiking_ratio", "nonspiking", "recurrent", "readout", "train_fraction")


def fit(data: Any, out: PathLike, *, valid: Any = None, test: Any = None, valid_fraction: float = 0.2,
        dt: float = 1e-3, task_options: Optional[Mapping[str, Any]] = None,
        config: Union[PathLike, Mapping[str, Any], None] = None, neuron: Optional[str] = None,
        hidden: Optional[int] = None, layers: Optional[int] = None, dropout: Optional[float] = None,
        init_state: Optional[str] = None, epochs: Optional[int] = None, lr: Optional[float] = None,
        batch_size: Optional[int] = None, patience: Optional[int] = None, factor: Optional[float] = None,
        min_lr: Optional[float] = None, seed: Optional[int] = None, max_samples: Optional[int] = None,
        neuron_kwargs: Optional[Mapping[str, Any]] = None, threads: Optional[int] = None,
        device: Optional[str] = None, arch: Optional[str] = None, spiking_ratio: Optional[float] = None,
        nonspiking: Optional[str] = None, recurrent: Optional[str] = None, readout: Optional[str] = None,
        train_fraction: Optional[float] = None, resume: bool = False, overwrite: bool = False,
        progress: Optional[bool] = None, quiet: bool = False) -> TrainResult:
    """Train a SpArch spiking network (``silava train``) and write the run folder ``out``.

    ``data``: a built-in task name (``"randman"``, ``"shd"``, ``"folder"``, ...; its options in
    ``task_options``, e.g. ``{"data_dir": "mydata"}``), a ``silava.core.data`` ``Task`` (its own
    splits), or any map-style torch ``Dataset`` of
    ``(x [T, F], label)`` pairs (e.g. a Tonic dataset with a ``ToFrame`` transform): then ``valid``
    is its validation dataset (default: a seeded ``valid_fraction`` of ``data`` held out) and
    ``test`` its test dataset (default: the validation split), ``dt`` the seconds per step.
    ``config``: a YAML config (path or shipped name) or a dict of config keys. The other keywords
    are the training flags (``arch="hybrid"`` with ``spiking_ratio``, ``nonspiking``, ``recurrent``,
    ``readout`` trains the hybrid recurrent network of ``silava.train.hybrid``; ``None``: the config's value, else the default of ``silava train --help``;
    ``threads`` defaults to torch's current setting). ``resume``: continue the interrupted run in
    ``out`` (same settings, ``epochs`` may grow); ``overwrite``: replace a finished one.

    Writes ``out/ckpt.pt`` (best-validation weights), ``last.pt`` (the state ``resume`` continues),
    ``metrics.json``, ``metrics.csv`` and ``training_curve.png``; returns a :class:`TrainResult`.
    """
    from silava.train.config import load_yaml, merge_configs
    from silava.train.train import train_run

    cli: dict[str, Any] = {k: v for k, v in locals().items() if k in _TRAIN_KEYS and v is not None}
    if threads is None:
        import torch

        cli["threads"] = torch.get_num_threads()
    cli["out"] = os.fspath(out)
    task = None
    if isinstance(data, str):
        if valid is not None or test is not None:
            raise ApiError(f"valid=/test= are for your own Dataset; task {data!r} brings its own splits (its "
                           f"options go in task_options)")
        cli["task"] = data
        if task_options:
            cli["data"] = dict(task_options)
    else:
        if task_options:
            raise ApiError("task_options= are for a built-in task name; a Dataset is used as it is")
        task = _user_task(data, valid, test, valid_fraction=valid_fraction, dt=dt, progress=progress)
        cli["task"] = task.name
        cli["data"] = {k: v for k, v in task.config.items() if k != "name"}
    if config is None:
        file_cfg: Mapping[str, Any] = {}
    elif isinstance(config, Mapping):
        file_cfg = dict(config)
    else:
        file_cfg = load_yaml(config)
    cfg = merge_configs(file_cfg, cli)
    inputs = {}
    if config is not None and not isinstance(config, Mapping):
        from silava.train.config import find_config

        inputs["config"] = find_config(config)
    summary = train_run(cfg, task=task, overwrite=overwrite, resume=resume, progress=_progress(progress),
                        quiet=quiet, inputs=inputs)
    from silava.train.checkpoint import load_checkpoint

    path = Path(cfg["out"]) / "ckpt.pt"
    model, _ = load_checkpoint(path)
    return TrainResult(model=model, checkpoint=path, metrics=summary)


def _user_task(data: Any, valid: Any, test: Any, *, valid_fraction: float, dt: float, progress: Optional[bool]):
    """A torch task from a ``silava`` Task (built-in splits) or from the user's Dataset(s)."""
    from silava.core.data.task import Task
    from silava.train.data import torch_task
    from silava.train.data.user import dataset_task

    if isinstance(data, Task):
        if valid is not None or test is not None:
            raise ApiError("valid=/test= are for your own Dataset; a Task brings its own splits")
        return torch_task(data)
    if not hasattr(data, "__getitem__") or not hasattr(data, "__len__"):
        raise ApiError(f"data must be a task name or a map-style Dataset of (x [T, F], label) pairs, got "
                       f"{type(data).__name__}")
    return dataset_task(data, valid, test, valid_fraction=valid_fraction, dt=dt, progress=_progress(progress))


# --------------------------------------------------------------------------- export

def quantize(source: Any, out: Optional[PathLike] = None, *, weight_bits: Optional[int] = None,
             decay_bits: Optional[int] = None, state_frac_bits: Optional[int] = None,
             layer_decay_bits: Optional[Mapping[int, int]] = None,
             layer_state_frac_bits: Optional[Mapping[int, int]] = None, report_dir: Optional[PathLike] = None,
             steps: Optional[int] = None, dt: float = 1e-3, encoding: Optional[str] = None,
             dt_scale: float = 1.0, dt_calibrate: int = 200) -> Network:
    """Quantize a trained network to Loihi 2 fixed point (``silava export``); returns the ``Network``.

    ``source``: a checkpoint (``ckpt.pt`` or its run folder), a :class:`TrainResult`, or a trained
    ``SpArchNet`` (then ``steps`` and ``encoding`` — ``"binary"`` or ``"counts"`` — describe its
    inputs, and ``dt`` the seconds per step). ``out``: also write the network there (a path ending in
    ``.net``, else a folder that gets ``model.net``) with ``model.quant.json`` / ``model.quant.txt``
    beside it (or in ``report_dir``), all or nothing; an ``out`` that is the checkpoint is refused before any work.
    Bit widths as ``silava export``'s flags: the given ones, else a QAT checkpoint's settings, else 8/12/12;
    a checkpoint fine-tuned with QAT under other settings gives a ``UserWarning``.
    ``dt_scale``: re-discretise for input bins that many times as wide as in training (``--dt-scale``),
    with the event ratios measured on ``dt_calibrate`` training samples of a checkpoint's task (0, or a
    model without its task: the analytic rule).
    """
    from silava.export.to_lava import (check_export_outputs, output_paths, quant_config_for, quantize_checkpoint,
                                       quantize_model, write_export)

    widths = dict(weight_bits=weight_bits, decay_bits=decay_bits, state_frac_bits=state_frac_bits,
                  layer_decay_bits=None if layer_decay_bits is None else dict(layer_decay_bits),
                  layer_state_frac_bits=None if layer_state_frac_bits is None else dict(layer_state_frac_bits))
    path = _checkpoint_path(source)
    paths = None
    if out is not None:
        out = Path(out)
        if out.is_dir() or out.suffix != ".net":
            out = out / "model.net"
        paths = output_paths(out, os.fspath(out), None if report_dir is None else os.fspath(report_dir))
    if path is not None:
        from silava.export.to_lava import ExportError
        from silava.train.checkpoint import CheckpointError, read_checkpoint

        if paths is not None:
            check_export_outputs(path, paths)
        try:
            ckpt = read_checkpoint(path)
        except CheckpointError as exc:
            raise ExportError(str(exc)) from None
        q = quantize_checkpoint(path, quant_config_for(ckpt, **widths), dt_scale=dt_scale, dt_calibrate=dt_calibrate)
    elif hasattr(source, "layers") and hasattr(source, "readout"):
        if steps is None or encoding is None:
            raise ApiError("quantizing a model needs steps= (time steps per sample) and encoding= ('binary' or "
                           "'counts'); or pass its checkpoint, which knows both")
        q = quantize_model(source, steps=steps, dt=dt, encoding=encoding, config=quant_config_for({}, **widths),
                           dt_scale=dt_scale)
    else:
        raise ApiError(f"quantize: expected a checkpoint path, a TrainResult or a SpArchNet, got {type(source).__name__}")
    for warning in q.warnings:
        warnings.warn(warning, stacklevel=2)
    if paths is not None:
        write_export(q, *paths)
    return q.network


def load_net(path: PathLike) -> Network:
    """Read and validate a model.net file (``NetFileError`` naming the file and the problem)."""
    from silava.core.netfile import read

    return read(path)


def save_net(net: Network, path: PathLike) -> Path:
    """Validate ``net`` and write it to ``path`` atomically (parent folders are created); returns the path."""
    from silava.core.fileio import check_writable_file
    from silava.core.netfile import write

    if not isinstance(net, Network):
        raise ApiError(f"save_net: expected a Network (from silava.quantize or silava.load_net), got "
                       f"{type(net).__name__}")
    out = check_writable_file(path, "save_net", ApiError, create_parents=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    write(out, net)
    return out


# --------------------------------------------------------------------------- simulate, report, Lava

def simulate(net: Union[Network, PathLike], x: Any, *, timeline: str = "logical", record: bool = False,
             batch_size: int = 256, progress: Optional[bool] = None):
    """Bit-exact integer simulation (``silava sim``) of ``x [N, T, F]`` (integer spikes or counts).

    ``timeline``: ``"logical"`` (T steps) or ``"lava"`` (T + L steps, as Lava runs it); ``record``:
    also every state at every step. Returns :class:`silava.hwsim.simulate.SimResult` (``readout``,
    ``spikes``, ``predictions``, ``predictions_sum_v``, ``counters``, per-step event counts).
    """
    from tqdm import tqdm

    from silava.hwsim.simulate import simulate as hwsim_simulate

    net = _as_net(net)
    x = np.asarray(x)
    with tqdm(total=x.shape[0] if x.ndim else None, unit="sample", desc="hwsim", disable=not _progress(progress), leave=False) as bar:
        return hwsim_simulate(net, x, timeline=timeline, record=record, batch_size=batch_size, progress=bar.update)


def report(net: Union[Network, PathLike], x: Any, *, sim: Any = None, constants: str = "davies2018",
           out: Optional[PathLike] = None, plots: bool = True) -> HardwareReport:
    """The Loihi 2 cost report (``silava sim --report``) of ``net`` on ``x [N, T, F]``.

    ``sim``: a logical-timeline :func:`simulate` result on the same ``x`` (run here if not given).
    ``constants``: ``"davies2018"``, ``"sanafe"`` or a JSON file. ``out``: also write report.json,
    report.md and the plots into that folder (all or nothing).
    """
    from silava.hwsim.report import build_report, write_report

    if out is not None and not isinstance(net, Network):
        from silava.core.fileio import check_outputs

        check_outputs({f"out {name}": Path(out) / name for name in ("report.json", "report.md")},
                      {"network": net}, ApiError)
    net = _as_net(net)
    x = np.asarray(x)
    if sim is None:
        sim = simulate(net, x, progress=False)
    elif getattr(sim, "timeline", "logical") != "logical" or len(sim.readout) != len(x):
        raise ApiError(f"report: sim= must be a logical-timeline simulation of the same {len(x)} samples; drop it "
                       f"to simulate here")
    data = build_report(net, sim, constants, x=x)
    files = write_report(data, out, plots=plots) if out is not None else []
    return HardwareReport(data=data, files=list(files))


def run_lava(net: Union[Network, PathLike], x: Any, *, tag: str = "fixed_pt", chunk: Optional[int] = None,
             timeout_s: float = 600.0, record: bool = False, progress: Optional[bool] = None,
             run_cfg: Any = None) -> LavaResult:
    """Run ``net`` as Lava processes (``silava run``) on ``x [N, T, F]``, by default on Lava's CPU simulator.

    ``tag``: ``"fixed_pt"`` (bit-exact with :func:`simulate`) or ``"floating_pt"``; ``run_cfg``: a Lava
    RunConfig instead of ``Loihi2SimCfg`` (e.g. ``Loihi2HwCfg`` on a Loihi 2 host). Raises
    ``silava.lava_models.LavaMissingError`` (an ``ImportError``) when Lava is not installed.
    """
    from silava import lava_models
    from silava.core.inputs import check_inputs

    lava_models.require_lava()
    from silava.lava_models.network import run_samples

    if tag not in ("fixed_pt", "floating_pt"):
        raise ApiError(f"run_lava: tag {tag!r}: use 'fixed_pt' or 'floating_pt'")
    net = _as_net(net)
    x = check_inputs(net, x).astype(np.int64)
    res = run_samples(net, x, tag=tag, chunk=chunk, timeout_s=timeout_s, progress=_progress(progress),
                      record=record, run_cfg=run_cfg)
    return LavaResult.from_run(res, tag)


# --------------------------------------------------------------------------- compare, data

def compare(checkpoint: Any, *, task: Optional[str] = None, inputs: Optional[Sequence[np.ndarray]] = None,
            split: str = "test", samples: Optional[int] = None, lava_samples: Optional[int] = None,
            net: Union[Network, PathLike, None] = None, sim: Any = None, lava: Optional[LavaResult] = None,
            weight_bits: Optional[int] = None, decay_bits: Optional[int] = None,
            state_frac_bits: Optional[int] = None, layer_decay_bits: Optional[Mapping[int, int]] = None,
            layer_state_frac_bits: Optional[Mapping[int, int]] = None, out: Optional[PathLike] = None,
            plot: bool = True, batch_size: int = 256, lava_timeout: float = 600.0,
            progress: Optional[bool] = None):
    """Float vs fixed point (hwsim) vs Lava (``silava compare``); returns a :class:`Comparison`.

    ``checkpoint``: ``ckpt.pt``, its run folder or a :class:`TrainResult`. Data: ``task`` (default the
    checkpoint's task, ``split``, first ``samples``) or ``inputs=(x, y)`` integer arrays. ``net``: the
    network to compare (a model.net path or a ``Network``); default: the checkpoint quantized in
    memory as ``silava export`` does (bit widths: the given ones, else the checkpoint's QAT settings,
    else 8/12/12). ``lava_samples``: Lava runs on the first N samples (default 20, a missing Lava is
    then a note in the result; an explicit N > 0 needs Lava; 0 skips it). ``sim`` / ``lava``: results
    of :func:`simulate` (logical timeline) / :func:`run_lava` on the same inputs, reused instead of
    run again. ``out``: also write compare.json (and compare.png) into that folder.
    """
    from silava.app.compare import DEFAULT_LAVA_SAMPLES, CompareError, LavaRun, quant_config_for
    from silava.app.compare import compare as run_compare
    from silava.train.checkpoint import CheckpointError, read_checkpoint

    path = _checkpoint_path(checkpoint)
    if path is None:
        raise ApiError(f"compare: expected a checkpoint path or a TrainResult, got {type(checkpoint).__name__}")
    net_path = None
    if net is not None and not isinstance(net, Network):
        net, net_path = None, os.fspath(net)
    config = None
    if net is None and net_path is None:
        try:
            ckpt = read_checkpoint(path)
        except CheckpointError as exc:
            raise CompareError(str(exc)) from None
        config = quant_config_for(ckpt, weight_bits=weight_bits, decay_bits=decay_bits,
                                  state_frac_bits=state_frac_bits, layer_decay_bits=layer_decay_bits,
                                  layer_state_frac_bits=layer_state_frac_bits)
    elif any(v is not None for v in (weight_bits, decay_bits, state_frac_bits, layer_decay_bits,
                                     layer_state_frac_bits)):
        raise ApiError("compare: bit widths apply when the checkpoint is quantized here; drop them or drop net=")
    if out is not None:
        from silava.core.fileio import check_outputs, check_writable_file

        files = {f"out {name}": Path(out) / name for name in ("compare.json", "compare.png")}
        for flag, file in files.items():
            check_writable_file(file, flag, CompareError, create_parents=True, seekable=True)
        check_outputs(files, {"checkpoint": path / "ckpt.pt" if path.is_dir() else path, "network": net_path},
                      CompareError)
    lava_run = None
    if lava is not None:
        lava_run = LavaRun(status="ok", samples=len(lava.predictions), predictions=lava.predictions,
                           predictions_sum_v=lava.predictions_sum_v, readout=lava.readout, wall_s=lava.wall_s,
                           extra={"sample_steps_per_s": lava.sample_steps_per_s, "global_steps": lava.global_steps,
                                  **({"counters": dict(lava.counters.get("total", {}))} if lava.tag == "fixed_pt" and
                                     lava.counters else {})})
    result = run_compare(path, task=task, split=split, samples=samples,
                         lava_samples=DEFAULT_LAVA_SAMPLES if lava_samples is None else lava_samples,
                         lava_required=lava_samples is not None, lava_timeout=lava_timeout, net=net,
                         net_path=net_path, config=config, batch_size=batch_size, progress=_progress(progress),
                         sim=sim, lava=lava_run, inputs=None if inputs is None else tuple(inputs))
    if out is not None:
        result.write(out, plot=plot)
    return result


def task_arrays(task: Union[str, Mapping[str, Any], Network], split: str = "test", *,
                options: Optional[Mapping[str, Any]] = None, samples: Optional[int] = None,
                steps: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """A task's split as integer arrays ``(x int64 [N, T, F], y int64 [N])`` (numpy only, no torch).

    ``task``: a task name (``"randman"``, ``"folder"``, ...; ``options`` are its arguments, e.g.
    ``{"data_dir": "mydata"}``), a task config dict (``{"name": ..., **options}``, as stored in
    model.net), or a ``Network`` (its stored task, padded or cropped to its steps and checked against
    its input count). ``samples``: the first N; ``steps``: pad or crop every sample to T steps.
    """
    from silava.core.tasks import load_task_arrays

    n_inputs = None
    if isinstance(task, Network):
        stored, n_inputs = dict(task.meta.task), task.meta.n_inputs
        steps = steps or task.meta.steps
        if not stored.get("name"):
            raise ApiError("task_arrays: the network stores no task; pass a task name")
    elif isinstance(task, Mapping):
        stored = dict(task)
        if not stored.get("name"):
            raise ApiError("task_arrays: a task config needs its 'name'")
    else:
        stored = {"name": str(task)}
    stored.update(options or {})
    if split not in ("train", "valid", "test"):
        raise ApiError(f"task_arrays: split {split!r}: use 'train', 'valid' or 'test'")
    return load_task_arrays(stored["name"], stored, split=split, max_samples=samples, steps=steps, n_inputs=n_inputs)
