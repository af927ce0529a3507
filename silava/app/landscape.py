"""``silava landscape CKPT``: the loss landscape of a trained network, float and fixed point.

The hybrid work explains generalisation through smoothness (spec ``neurons.md`` §7; [HYB]
``loss_landscape.py``, ``loss_landscapes/sam_loss.py``). For the checkpoint's network (SpArch or
hybrid) this computes, on a fixed set of ``--samples`` samples of ``--split`` (eval mode; the loss
is the training loss: cross-entropy on the model's output):

* **1-D and 2-D loss surfaces** along filter-normalised random directions (Li et al. 2018):
  ``d ~ N(0, I)`` per parameter tensor, each row (filter / output unit) of a ≥ 2-D tensor rescaled to
  the norm of the same row of the weights, ``d_i ← d_i·‖θ_i‖/‖d_i‖``; 1-D parameters (BatchNorm,
  neuron constants, the flexible γ) get no direction (Li et al.'s "ignore biasbn"). The curve is
  ``L(θ + a·d₁)`` for ``a`` in ``[−span, span]``, the surface ``L(θ + a·d₁ + b·d₂)``.
* **SAM sharpness**: ``max_{‖ε‖ ≤ ρ} L(θ + ε) − L(θ)`` over the trainable weights, approximated by
  ``--ascent-steps`` steps of normalised gradient ascent projected onto the ρ-ball,
  ``ε ← Proj_ρ(ε + ρ·g/‖g‖)``, ``g = ∇L(θ + ε)``; the first step is SAM's ``ε* = ρ·g/‖g‖`` (the
  hybrid work's ``diff_sam``). Reported: the loss after each step, the maximum increase
  (``sharpness``) and the first-step increase.
* **Exploratory Landscape Analysis** (pflacco, ``requirements/landscape.txt``) on the projection
  ``f(z) = L(θ + Σ_k z_k d_k)``, ``z ∈ [−span, span]^k`` (``k = --ela-dim`` directions, the first two
  those of the 2-D surface), at ``--ela-samples`` Latin-hypercube points: feature groups ``ela_meta``,
  ``ela_distr``, ``disp``, ``ic``, ``nbc``.

Fixed point: the same, with the QAT forward as the model (the deployed integer network with
straight-through gradients: ``silava.train.qat.QATNet`` for SpArch, ``silava.train.hybrid_qat.HybridQATNet``
for hybrids); the perturbed parameters are the float ones the integers are quantized from.
Writes ``landscape.json`` and ``landscape_1d.png``, ``landscape_2d.png`` (one panel per mode) into
``--out`` (default: the checkpoint's folder), all together or none; a progress bar counts the loss
evaluations.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

PROG = "silava landscape"
MODES = ("float", "fixed")
ELA_GROUPS = ("ela_meta", "ela_distr", "disp", "ic", "nbc")


class LandscapeError(ValueError):
    """Bad arguments or inputs (one line naming the problem and the fix)."""


@dataclass
class Settings:
    """What ``silava landscape`` computes (the command-line options)."""

    split: str = "train"
    samples: int = 128
    batch_size: int = 128
    modes: tuple[str, ...] = MODES
    points: int = 15
    grid: int = 9
    span: float = 1.0
    rho: float = 0.05
    ascent_steps: int = 3
    ela_dim: int = 2
    ela_samples: int = 60
    seed: int = 0
    progress: bool = False


# --------------------------------------------------------------------------- directions
def filter_normalised_direction(params: Sequence[Any], gen: Any) -> list[Any]:
    """One random direction, filter-normalised (module docstring); zeros for 1-D parameters."""
    import torch

    out = []
    for p in params:
        if p.dim() < 2:
            out.append(torch.zeros_like(p))
            continue
        d = torch.randn(p.shape, generator=gen, dtype=p.dtype)
        rows_d = d.reshape(d.shape[0], -1)
        rows_p = p.detach().reshape(p.shape[0], -1)
        scale = rows_p.norm(dim=1) / rows_d.norm(dim=1).clamp_min(1e-12)
        out.append((rows_d * scale[:, None]).reshape(p.shape))
    return out


class Probe:
    """Loss of one model at perturbed weights; restores the weights after every evaluation."""

    def __init__(self, model: Any, params: list[Any], x: Any, y: Any, batch_size: int, eval_seed: int,
                 tick: Callable[[], None]) -> None:
        self.model, self.params, self.x, self.y = model, params, x, y
        self.batch_size, self.eval_seed, self.tick = batch_size, eval_seed, tick
        self.base = [p.detach().clone() for p in params]

    def _batches(self):
        for i in range(0, self.x.shape[0], self.batch_size):
            yield self.x[i:i + self.batch_size], self.y[i:i + self.batch_size]

    def _set(self, offset: Optional[list[Any]]) -> None:
        import torch

        with torch.no_grad():
            for p, b, o in zip(self.params, self.base, offset or [None] * len(self.params)):
                p.copy_(b if o is None else b + o)

    def loss(self, offset: Optional[list[Any]] = None, *, grad: bool = False) -> tuple[float, float, Optional[list]]:
        """``(mean CE, accuracy, gradient or None)`` at ``θ + offset``."""
        import torch
        from torch import nn

        self._set(offset)
        loss_fn = nn.CrossEntropyLoss(reduction="sum")
        total, correct = 0.0, 0
        grads = [torch.zeros_like(p) for p in self.params] if grad else None
        n = int(self.x.shape[0])
        try:
            with torch.random.fork_rng():
                torch.manual_seed(self.eval_seed)
                for xb, yb in self._batches():
                    with torch.set_grad_enabled(grad):
                        out = self.model(xb)
                        lsum = loss_fn(out, yb)
                    if grad:
                        g = torch.autograd.grad(lsum / n, self.params, allow_unused=True)
                        for acc, gi in zip(grads, g):
                            if gi is not None:
                                acc += gi.detach()
                    total += float(lsum.detach())
                    correct += int((out.detach().argmax(1) == yb).sum())
        finally:
            self._set(None)
            self.tick()
        return total / n, correct / n, grads


def _norm(vs: list[Any]) -> float:
    return math.sqrt(sum(float((v.to(dtype=v.dtype) ** 2).sum()) for v in vs))


def sam_sharpness(probe: Probe, rho: float, steps: int) -> dict[str, Any]:
    """Projected normalised gradient ascent in the ρ-ball (module docstring)."""
    l0, _, g = probe.loss(grad=True)
    eps = [gi * 0 for gi in g]
    losses = []
    for _ in range(steps):
        gn = _norm(g)
        if gn == 0.0:
            break
        eps = [e + rho * gi / gn for e, gi in zip(eps, g)]
        en = _norm(eps)
        if en > rho:
            eps = [e * (rho / en) for e in eps]
        lk, _, g = probe.loss(eps, grad=True)
        losses.append(lk)
    return {"rho": rho, "steps": steps, "loss": l0, "loss_by_step": losses,
            "sharpness": (max(losses) - l0) if losses else 0.0,
            "sharpness_first_step": (losses[0] - l0) if losses else 0.0}


def latin_hypercube(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` Latin-hypercube points in ``[0, 1)^dim``."""
    cut = (np.arange(n)[:, None] + rng.random((n, dim))) / n
    for j in range(dim):
        cut[:, j] = cut[rng.permutation(n), j]
    return cut


def ela_features(z: np.ndarray, f: np.ndarray, span: float, seed: int) -> dict[str, Any]:
    """pflacco's feature groups on the sample ``(z, f)``; a group that fails is reported as an error string."""
    import warnings

    try:
        from pflacco import classical_ela_features as ela
    except ImportError as exc:
        return {"error": f"pflacco is not installed ({exc}); pip install --no-deps -r requirements/landscape.txt"}
    lower, upper = [-span] * z.shape[1], [span] * z.shape[1]
    calls = {
        "ela_meta": lambda: ela.calculate_ela_meta(z, f),
        "ela_distr": lambda: ela.calculate_ela_distribution(z, f),
        "disp": lambda: ela.calculate_dispersion(z, f),
        "ic": lambda: ela.calculate_information_content(z, f, seed=seed),
        "nbc": lambda: ela.calculate_nbc(z, f),
    }
    out: dict[str, Any] = {"lower": lower, "upper": upper}
    for name, call in calls.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                feats = call()
            out[name] = {k: float(v) for k, v in feats.items() if not k.endswith("costs_runtime")}
        except Exception as exc:          # a degenerate sample (e.g. a flat landscape)
            out[name] = {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"}
    return out


# --------------------------------------------------------------------------- models
def fixed_point_model(model: Any, ckpt: dict, task: Any) -> tuple[Any, dict[str, Any]]:
    """The QAT forward of ``model`` with the checkpoint's QAT settings (or the export defaults)."""
    from silava.core.fixedpoint import QuantConfig

    qat = dict(ckpt.get("train_config", {}).get("qat") or {})
    keys = ("weight_bits", "decay_bits", "state_frac_bits")
    cfg = QuantConfig(**{k: int(qat[k]) for k in keys if k in qat},
                      layer_decay_bits={int(k): int(v) for k, v in (qat.get("layer_decay_bits") or {}).items()},
                      layer_state_frac_bits={int(k): int(v) for k, v in
                                             (qat.get("layer_state_frac_bits") or {}).items()})
    facts = ckpt.get("train_config", {}).get("task_facts") or {}
    encoding = facts.get("encoding", getattr(task, "encoding", "binary"))
    from silava.train.qat import INPUT_MESSAGE_BITS, QATError

    if encoding not in INPUT_MESSAGE_BITS:
        raise LandscapeError(f"the fixed-point model takes spike inputs; task encoding {encoding!r}: "
                             f"pass --modes float")
    bits = INPUT_MESSAGE_BITS[encoding]
    try:
        if ckpt["model_config"].get("arch") == "hybrid":
            from silava.train.hybrid_qat import HybridQATNet, calibration_inputs, choose_payload_bits

            q = qat.get("payload_bits") or choose_payload_bits(model, calibration_inputs(task),
                                                               cfg.state_frac_bits_for(0))
            net = HybridQATNet(model, cfg, payload_bits=int(q), input_message_bits=bits)
            info = {"payload_bits": int(q)}
        else:
            from silava.train.qat import QATNet

            net = QATNet(model, cfg, input_message_bits=bits)
            info = {}
    except QATError as exc:
        raise LandscapeError(f"cannot build the fixed-point model: {exc}") from None
    info.update(cfg.to_dict() if hasattr(cfg, "to_dict") else {})
    return net.eval(), info


def load_samples(task: Any, split: str, n: int):
    """The first ``n`` samples of ``split`` as ``(x [n, T, F] float32, y [n])`` tensors."""
    import torch

    ds = getattr(task, split, None)
    if ds is None or len(ds) == 0:
        raise LandscapeError(f"task {task.name!r} has no {split!r} samples: choose another --split")
    n = min(int(n), len(ds))
    items = [ds[i] for i in range(n)]
    xs = [torch.as_tensor(np.asarray(x), dtype=torch.float32) for x, _ in items]
    T = max(x.shape[0] for x in xs)
    x = torch.zeros(n, T, xs[0].shape[-1])
    for i, xi in enumerate(xs):
        x[i, :xi.shape[0]] = xi
    return x, torch.as_tensor([int(y) for _, y in items])


def compute(model: Any, ckpt: dict, task: Any, settings: Settings) -> dict[str, Any]:
    """Every number of the landscape (module docstring) for each mode in ``settings.modes``."""
    import torch
    from tqdm import tqdm

    model.eval()
    x, y = load_samples(task, settings.split, settings.samples)
    eval_seed = int(ckpt.get("seed", 0))
    params = [p for p in model.parameters() if p.requires_grad]
    gen = torch.Generator().manual_seed(settings.seed)
    dirs = [filter_normalised_direction(params, gen) for _ in range(max(2, settings.ela_dim))]
    line = np.linspace(-settings.span, settings.span, settings.points)
    grid = np.linspace(-settings.span, settings.span, settings.grid)
    per_mode = 1 + settings.points + settings.grid ** 2 + 1 + settings.ascent_steps + settings.ela_samples
    bar = tqdm(total=per_mode * len(settings.modes), desc="landscape", unit="loss", file=sys.stderr,
               disable=not settings.progress, dynamic_ncols=True)
    result: dict[str, Any] = {"alphas": line.tolist(), "grid": grid.tolist(), "modes": {}}
    rng = np.random.default_rng(settings.seed)
    z01 = latin_hypercube(settings.ela_samples, settings.ela_dim, rng) if settings.ela_samples else None
    try:
        for mode in settings.modes:
            start = time.perf_counter()
            net, info = (model, {}) if mode == "float" else fixed_point_model(model, ckpt, task)
            probe = Probe(net, params, x, y, settings.batch_size, eval_seed, bar.update)
            l0, a0, _ = probe.loss()
            curve = [probe.loss([a * d for d in dirs[0]])[:2] for a in line]
            surface = [[probe.loss([a * d1 + b * d2 for d1, d2 in zip(dirs[0], dirs[1])])[0] for b in grid]
                       for a in grid]
            sam = sam_sharpness(probe, settings.rho, settings.ascent_steps)
            ela: dict[str, Any] = {}
            if z01 is not None:
                z = (2 * z01 - 1) * settings.span
                f = np.array([probe.loss([sum(float(zk) * dk[i] for zk, dk in zip(zrow, dirs))
                                          for i in range(len(params))])[0] for zrow in z])
                ela = ela_features(z, f, settings.span, settings.seed)
                ela["samples"] = int(settings.ela_samples)
            result["modes"][mode] = {
                "loss": l0, "accuracy": a0, "line_loss": [c[0] for c in curve], "line_accuracy": [c[1] for c in curve],
                "surface_loss": surface, "sam": sam, "ela": ela, "settings": info,
                "seconds": time.perf_counter() - start}
    finally:
        bar.close()
    return result


# --------------------------------------------------------------------------- plots
def plot_line(result: dict[str, Any], title: str) -> bytes:
    """1-D curves of every mode (loss and accuracy) as PNG bytes."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax_l, ax_a = fig.subplots(1, 2)
    for mode, r in result["modes"].items():
        ax_l.plot(result["alphas"], r["line_loss"], "-o", ms=3, label=mode)
        ax_a.plot(result["alphas"], [100 * a for a in r["line_accuracy"]], "-o", ms=3, label=mode)
    ax_l.set(xlabel="step along d1 (filter-normalised)", ylabel="loss", title="loss")
    ax_a.set(xlabel="step along d1 (filter-normalised)", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_l, ax_a):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def plot_surface(result: dict[str, Any], title: str) -> bytes:
    """2-D contour of every mode as PNG bytes (log loss colours, SAM sharpness in the title)."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    modes = list(result["modes"].items())
    fig = Figure(figsize=(4.6 * len(modes), 4.0), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(modes), squeeze=False)[0]
    g = np.asarray(result["grid"])
    for ax, (mode, r) in zip(axes, modes):
        z = np.log10(np.maximum(np.asarray(r["surface_loss"], dtype=float), 1e-12))
        cs = ax.contourf(g, g, z.T, levels=20, cmap="viridis")
        ax.contour(g, g, z.T, levels=10, colors="w", linewidths=0.4)
        ax.plot([0], [0], "r+", ms=10)
        fig.colorbar(cs, ax=ax, label="log10 loss")
        ax.set(xlabel="d1", ylabel="d2",
               title=f"{mode}: SAM sharpness {r['sam']['sharpness']:.3g} (rho {r['sam']['rho']:g})")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


# --------------------------------------------------------------------------- API and CLI
def landscape(checkpoint: str | Path, *, out: Optional[str | Path] = None, settings: Optional[Settings] = None,
              data_dir: Optional[str] = None, plots: bool = True) -> dict[str, Any]:
    """Compute the landscape of ``checkpoint`` and write ``landscape.json`` (+ PNGs) into ``out``."""
    from silava.core.cliutil import json_safe
    from silava.core.fileio import write_group
    from silava.train.checkpoint import CheckpointError, load_checkpoint
    from silava.train.data import get_task

    settings = settings or Settings()
    _check_settings(settings)
    try:
        model, ckpt = load_checkpoint(checkpoint, map_location="cpu")
    except CheckpointError as exc:
        raise LandscapeError(str(exc)) from None
    src = Path(checkpoint)
    out_dir = Path(out) if out is not None else (src if src.is_dir() else src.parent)
    if out_dir.exists() and not out_dir.is_dir():
        raise LandscapeError(f"--out {out_dir} exists and is not a directory: pick another --out")
    data = dict(ckpt["data_config"])
    name = data.pop("name", None) or ckpt["train_config"].get("task")
    if data_dir is not None:
        data["data_dir"] = data_dir
    try:
        task = get_task(name, **data)
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise LandscapeError(f"cannot load the checkpoint's task {name!r}: {' '.join(str(exc).split())}") from None
    result = compute(model, ckpt, task, settings)
    mc = ckpt["model_config"]
    label = (f"hybrid p={mc['spiking_ratio']:g} {mc['nonspiking']} {mc['recurrent']}" if mc.get("arch") == "hybrid"
             else f"{mc.get('neuron')} {mc.get('hidden_sizes')}")
    result.update(checkpoint=str(checkpoint), task=name, model=label, split=settings.split,
                  samples=int(min(settings.samples, len(getattr(task, settings.split)))),
                  settings={k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(settings).items()
                            if k != "progress"})
    title = f"{name} / {label}: {settings.samples} {settings.split} samples"
    files = {"json": out_dir / "landscape.json"}
    if plots:
        files.update(line=out_dir / "landscape_1d.png", surface=out_dir / "landscape_2d.png")
    data = {files["json"]: (json.dumps(json_safe(result), indent=1) + "\n").encode("utf-8")}
    if plots:
        data.update({files["line"]: plot_line(result, title), files["surface"]: plot_surface(result, title)})
    write_group(data)
    result["files"] = {k: str(v) for k, v in files.items()}
    return result


def _check_settings(s: Settings) -> None:
    for name in ("samples", "batch_size", "points", "grid", "ela_dim"):
        if int(getattr(s, name)) < 1:
            raise LandscapeError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(s, name)}")
    if s.ascent_steps < 1:
        raise LandscapeError(f"--ascent-steps must be >= 1, got {s.ascent_steps}")
    if s.ela_samples < 0 or (0 < s.ela_samples < 10):
        raise LandscapeError(f"--ela-samples must be 0 (no ELA) or >= 10, got {s.ela_samples}")
    if not s.span > 0 or not s.rho > 0:
        raise LandscapeError("--span and --rho must be > 0")
    if s.split not in ("train", "valid", "test"):
        raise LandscapeError(f"--split must be train, valid or test, got {s.split!r}")
    bad = [m for m in s.modes if m not in MODES]
    if bad or not s.modes:
        raise LandscapeError(f"--modes: choose from {', '.join(MODES)} (comma-separated), got {','.join(s.modes)}")


def build_parser():
    from silava.core.cliutil import one_line_parser

    p = one_line_parser(LandscapeError, prog=PROG,
                        description="Loss landscape of a trained checkpoint (SpArch or hybrid), float and fixed "
                                    "point: 1-D/2-D surfaces along filter-normalised random directions, SAM "
                                    "sharpness, ELA features (pflacco). Writes landscape.json, landscape_1d.png, "
                                    "landscape_2d.png.")
    d = Settings()
    p.add_argument("checkpoint", help="ckpt.pt or its run folder")
    p.add_argument("--out", metavar="DIR", help="output folder (default: the checkpoint's folder)")
    p.add_argument("--split", default=d.split, help=f"data split (default {d.split})")
    p.add_argument("--samples", type=int, default=d.samples, help=f"samples of the split (default {d.samples})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"(default {d.batch_size})")
    p.add_argument("--modes", default=",".join(d.modes), help="float, fixed or both (default float,fixed)")
    p.add_argument("--points", type=int, default=d.points, help=f"points of the 1-D curve (default {d.points})")
    p.add_argument("--grid", type=int, default=d.grid, help=f"points per axis of the 2-D surface (default {d.grid})")
    p.add_argument("--span", type=float, default=d.span, help=f"range [-span, span] of the steps (default {d.span})")
    p.add_argument("--rho", type=float, default=d.rho, help=f"SAM ball radius (default {d.rho})")
    p.add_argument("--ascent-steps", type=int, default=d.ascent_steps, help=f"SAM ascent steps (default {d.ascent_steps})")
    p.add_argument("--ela-dim", type=int, default=d.ela_dim, help=f"directions of the ELA projection (default {d.ela_dim})")
    p.add_argument("--ela-samples", type=int, default=d.ela_samples,
                   help=f"ELA sample points, 0 = no ELA (default {d.ela_samples})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"seed of the directions and the ELA sample (default {d.seed})")
    p.add_argument("--data-dir", default=None, help="the task's data folder, if it moved")
    p.add_argument("--no-plots", action="store_true", help="JSON only")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (default: when stderr is a terminal)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        args = build_parser().parse_args(None if argv is None else list(argv))
    except LandscapeError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:        # --help
        return int(exc.code or 0)
    settings = Settings(split=args.split, samples=args.samples, batch_size=args.batch_size,
                        modes=tuple(m.strip() for m in args.modes.split(",") if m.strip()), points=args.points,
                        grid=args.grid, span=args.span, rho=args.rho, ascent_steps=args.ascent_steps,
                        ela_dim=args.ela_dim, ela_samples=args.ela_samples, seed=args.seed,
                        progress=sys.stderr.isatty() if args.progress is None else args.progress)
    try:
        res = landscape(args.checkpoint, out=args.out, settings=settings, data_dir=args.data_dir,
                        plots=not args.no_plots)
    except LandscapeError as exc:
        print(f"{PROG}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted (nothing written)", file=sys.stderr)
        return 130
    for mode, r in res["modes"].items():
        print(f"{mode}: loss {r['loss']:.4f}, accuracy {r['accuracy']:.4f}, SAM sharpness {r['sam']['sharpness']:.4g} "
              f"(rho {r['sam']['rho']:g}, first step {r['sam']['sharpness_first_step']:.4g})")
    print(f"wrote {', '.join(res['files'].values())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
