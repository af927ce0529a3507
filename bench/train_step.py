"""Benchmark: one training step (forward + backward + Adam) of a SpArch SNN, per hidden width.

Compares ``train.model.SpArchNet`` (fused per-neuron autograd kernels: **ours** = the C kernels of
``train/neurons/fused.c`` on the CPU, **ours-python** = the Python fused kernels, ``SILAVA_NATIVE=0``)
with a baseline written here: the same network whose neurons and readout are a plain
per-time-step autograd loop of the same equations (inputs split with ``unbind``,
the same box-car surrogate function). Before timing it checks that both give
identical spikes and allclose loss and gradients on the same batch.

``--ref-style`` also times the loop written like the SpArch / SiLIF reference code
(``I[:, t, :]`` indexing, whose backward allocates a full-size gradient per step).

Timings are wall-clock per training step, the implementations interleaved, median
(and min) over ``--iters`` steps after ``--warmup`` steps, plus the process CPU time; the load
average before and after is printed (the machine may be shared). ``OMP_WAIT_POLICY`` defaults
to ``PASSIVE`` here (see the note in bench/README.md). ``--device cuda`` runs everything on the
GPU (ours = the Python fused kernels there; CUDA is synchronised around every timed call).

Usage::

    .venv/bin/python bench/train_step.py                      # SiLIF and C-SiLIF, widths 128, 512, 1024
    .venv/bin/python bench/train_step.py --widths 512 --neurons silif --iters 10 --ref-style
    .venv/bin/python bench/train_step.py --hidden 256 128     # one arbitrary shape
    .venv/bin/python bench/train_step.py --device cuda --ref-style --json gpu.json
    .venv/bin/python bench/train_step.py --widths 128 --neurons multiout --multiout n_states=4 reset_action=classic
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

# Idle OpenMP workers sleep instead of spinning: with spinning workers every parallel
# region costs milliseconds on a busy 2-core machine (set it yourself to override).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from silava.train.model import SpArchNet  # noqa: E402
from silava.train.neurons import native  # noqa: E402
from silava.train.neurons.surrogate import SpikeFunction  # noqa: E402


def spike(x: torch.Tensor) -> torch.Tensor:
    return SpikeFunction.apply(x, "boxcar", 1.0)


# ----------------------------------------------------------------------------- baseline loops
def _inputs(I: torch.Tensor, ref_style: bool):
    return (I[:, t, :] for t in range(I.shape[1])) if ref_style else I.unbind(1)


def naive_silif(n, I, ref_style=False):
    dt = torch.exp(n.log_dt)
    alpha = torch.exp(-torch.exp(n.log_rate_u) * dt)
    beta = torch.exp(-torch.exp(n.log_rate_w) * dt)
    a, b = n.a.clamp(0.0, 1.0), n.b.clamp(0.0, 2.0)
    u = w = s = I.new_zeros(I.shape[0], I.shape[2])
    out = []
    for I_t in _inputs(I, ref_style):
        w = beta * w + a * u + b * s
        u = alpha * (u - s) + (1 - alpha) * (I_t - w)
        s = spike(u - 1.0)
        out.append(s)
    return torch.stack(out, 1)


def naive_csilif(n, I, ref_style=False):
    dt = torch.exp(n.log_dt)
    r = torch.exp(-torch.exp(n.log_neg_re_a) * dt)
    phi = n.im_a * dt
    lr, li, b = r * torch.cos(phi), r * torch.sin(phi), n.b
    x = y = s = I.new_zeros(I.shape[0], I.shape[2])
    out = []
    for I_t in _inputs(I, ref_style):
        xr = x - 0.5 * s
        x = lr * xr - li * y + b * I_t
        y = li * xr + lr * y
        s = spike(2 * x - 1.0)
        out.append(s)
    return torch.stack(out, 1)


def _multiout_reset(n, p, s, xt, r, N, M):
    rv = p.rho.unsqueeze(-1)
    if p.R is not None:
        rv = torch.addcmul(rv, p.R[:, :, 0:1], s[:, 0:1, :]) if M <= 2 else torch.baddbmm(rv, p.R, s)
        for m in range(1, M if M <= 2 else 1):
            rv = rv + p.R[:, :, m:m + 1] * s[:, m:m + 1, :]
    return xt - r.unsqueeze(1) * rv


def _multiout_r(n, s, q):
    if n.reset == "any":
        return 1 - torch.prod(1 - s, dim=1)
    if n.reset == "readout":
        return spike(q - 1.0)
    return torch.zeros_like(s[:, 0])


def naive_multiout(n, I, ref_style=False):
    """The multi-output neuron as a plain autograd loop of train/neurons/multiout.py's equations, in its
    augmented form ``(x̃, y, q) = V u + W x`` and layout (``[H, k, B]``), so the spikes are bit-identical."""
    from silava.train.neurons.multiout import augmented

    p = n.params()
    W, V = augmented(p)
    N, M = n.state_size, n.n_outputs
    x = I.new_zeros(I.shape[2], N, I.shape[0])                     # [H, N, B]
    out = []
    for I_t in _inputs(I, ref_style):
        z = torch.baddbmm(V.unsqueeze(-1) * I_t.t().unsqueeze(1), W, x)
        xt, y = z[:, :N], z[:, N:N + M]
        s = spike(y - 1.0)
        x = _multiout_reset(n, p, s, xt, _multiout_r(n, s, z[:, N + M] if n.reset == "readout" else None), N, M)
        out.append(s.permute(2, 0, 1).flatten(1))
    return torch.stack(out, 1)


def textbook_multiout(n, I, ref_style=False):
    """The same neuron written the textbook way: ``x̃ = A x + B u``, ``y = C x̃``, ``q = c_r·x̃`` (separate
    products per step). Rounding differs from the augmented form, so spikes may differ in rare near-threshold
    cases: timed only (``--textbook``), not compared bit for bit."""
    p = n.params()
    N, M = n.state_size, n.n_outputs
    x = I.new_zeros(I.shape[2], N, I.shape[0])
    out = []
    for I_t in _inputs(I, ref_style):
        xt = torch.baddbmm(p.B.unsqueeze(-1) * I_t.t().unsqueeze(1), p.A, x)
        y = torch.bmm(p.C, xt)
        s = spike(y - 1.0)
        q = (p.c_r.unsqueeze(-1) * xt).sum(1) if n.reset == "readout" else None
        x = _multiout_reset(n, p, s, xt, _multiout_r(n, s, q), N, M)
        out.append(s.permute(2, 0, 1).flatten(1))
    return torch.stack(out, 1)


NAIVE = {"silif": naive_silif, "csilif": naive_csilif, "multiout": naive_multiout}
#: neuron options per benchmarked neuron (``--multiout KEY=VALUE`` adds to the multi-output neuron's)
NEURON_KW = {"multiout": {"n_states": 2, "n_outputs": 2}}


def naive_forward(model: SpArchNet, x: torch.Tensor, ref_style: bool = False, textbook: bool = False):
    """The same network as ``model``, with plain per-step loops; returns (out, hidden spikes)."""
    loop = textbook_multiout if textbook else NAIVE[model.config["neuron"]]
    h, spikes = x, []
    for layer in model.layers:
        I, _ = layer.currents(h)
        s = loop(layer.neuron, I, ref_style)
        spikes.append(s)
        h = layer.dropout(s)
    z, _ = model.readout.currents(h)
    alpha = model.readout.neuron.params().alpha
    v = z.new_zeros(z.shape[0], z.shape[2])
    out = 0
    for z_t in _inputs(z, ref_style):
        v = alpha * v + (1 - alpha) * z_t
        out = out + torch.softmax(v, dim=1)
    return out, spikes


# ----------------------------------------------------------------------------- harness
def train_step(model, opt, x, y, fwd):
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(fwd(model, x), y)
    loss.backward()
    opt.step()
    return loss


def ours_fwd(model, x):
    return model(x)


def check_equal(ours: SpArchNet, base: SpArchNet, x, y, seed: int) -> str:
    torch.manual_seed(seed)
    rec = ours(x, record=True)
    torch.manual_seed(seed)
    out_b, spikes_b = naive_forward(base, x)
    for i, (sa, sb) in enumerate(zip(rec["spikes"], spikes_b)):
        if not torch.equal(sa, sb):
            raise AssertionError(f"layer {i}: spikes differ ({(sa != sb).sum().item()} elements)")
    la, lb = F.cross_entropy(rec["out"], y), F.cross_entropy(out_b, y)
    if not torch.allclose(la, lb, rtol=1e-5, atol=1e-6):
        raise AssertionError(f"loss differs: {la.item()} vs {lb.item()}")
    la.backward()
    lb.backward()
    worst = 0.0
    for (name, pa), pb in zip(ours.named_parameters(), base.parameters()):
        ga, gb = pa.grad, pb.grad
        if not torch.allclose(ga, gb, rtol=1e-3, atol=1e-4 * gb.abs().max().item() + 1e-9):
            raise AssertionError(f"gradient of {name} differs: max |Δ| {(ga - gb).abs().max().item():.3g}")
        worst = max(worst, ((ga - gb).abs().max() / (gb.abs().max() + 1e-12)).item())
    ours.zero_grad(set_to_none=True)
    base.zero_grad(set_to_none=True)
    rate = sum(s.mean().item() for s in rec["spikes"]) / len(rec["spikes"])
    return (f"spikes identical (mean rate {rate:.3f}), loss {la.item():.6f} vs {lb.item():.6f}, "
            f"max relative gradient difference {worst:.1e}")


def python_kernels(fn):
    """``fn`` run with the Python fused kernels (the C ones switched off around the call)."""
    def run():
        old = native.set_enabled(False)
        try:
            return fn()
        finally:
            native.set_enabled(old)
    return run


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def time_interleaved(runs: dict, iters: int, warmup: int, device: str = "cpu") -> dict[str, dict[str, float]]:
    """Run each callable ``warmup + iters`` times, interleaved (background load hits all alike)."""
    wall: dict[str, list[float]] = {k: [] for k in runs}
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    for it in range(warmup + iters):
        for k, fn in runs.items():
            _sync(device)
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            _sync(device)
            if it >= warmup:
                wall[k].append((time.perf_counter() - w0) * 1e3)
                cpu[k].append((time.process_time() - c0) * 1e3)
    return {k: {"median": statistics.median(wall[k]), "min": min(wall[k]), "cpu": statistics.median(cpu[k])}
            for k in runs}


def report(res: dict, iters: int) -> None:
    for k, r in res.items():
        print(f"    {k:16s} {r['median']:8.1f} ms (median of {iters}), min {r['min']:7.1f}, "
              f"process CPU {r['cpu']:7.1f}")
    for k in res:
        if k != "ours":
            print(f"    speed-up vs {k}: {res[k]['median'] / res['ours']['median']:.2f}x median, "
                  f"{res[k]['min'] / res['ours']['min']:.2f}x min, {res[k]['cpu'] / res['ours']['cpu']:.2f}x CPU")


def bench(neuron: str, sizes: list[int], args) -> dict:
    dev = torch.device(args.device)
    torch.manual_seed(args.seed)
    kw = dict(NEURON_KW.get(neuron, {}))
    if neuron == "multiout":
        for item in args.multiout:
            key, _, value = item.partition("=")
            kw[key] = int(value) if value.isdigit() else {"true": True, "false": False}.get(value.lower(), value)
    ours = SpArchNet(args.inputs, sizes, args.classes, neuron, dropout=args.dropout, neuron_kwargs=kw).to(dev)
    base = copy.deepcopy(ours)
    x = (torch.rand(args.batch, args.steps, args.inputs) < args.input_rate).float().to(dev)
    y = torch.randint(0, args.classes, (args.batch,)).to(dev)
    print(f"\n[{neuron}] {args.inputs}-{'-'.join(map(str, sizes))}-{args.classes}, batch {args.batch}, "
          f"T={args.steps}, dropout {args.dropout}, device {args.device}" + (f", {kw}" if kw else ""))
    print("  check:", check_equal(ours, base, x, y, args.seed))
    with_python = args.device == "cpu" and native.available() and not args.no_python

    models = {"ours": (ours, ours_fwd), "baseline": (base, lambda m, xx: naive_forward(m, xx)[0])}
    if with_python:
        models["ours-python"] = (copy.deepcopy(ours), ours_fwd)
    if args.ref_style:
        models["reference-style"] = (copy.deepcopy(base), lambda m, xx: naive_forward(m, xx, ref_style=True)[0])
    if neuron == "multiout" and args.textbook:
        models["textbook"] = (copy.deepcopy(base), lambda m, xx: naive_forward(m, xx, textbook=True)[0])
    opts = {k: torch.optim.Adam(m.parameters(), lr=1e-3) for k, (m, _) in models.items()}
    runs = {k: (lambda k=k, m=m, f=f: train_step(m, opts[k], x, y, f)) for k, (m, f) in models.items()}
    if with_python:
        runs["ours-python"] = python_kernels(runs["ours-python"])
    print("  training step (forward + backward + Adam):")
    res = time_interleaved(runs, args.iters, args.warmup, args.device)
    report(res, args.iters)

    # the neuron layer alone: forward + backward over I[B,T,H] of the first hidden layer
    neuron_mod = ours.layers[0].neuron
    I = torch.randn(args.batch, args.steps, sizes[0], device=dev).requires_grad_()
    g = torch.randn(args.batch, args.steps, neuron_mod.output_size, device=dev)
    loop = NAIVE[neuron]
    layer_runs = {"ours": lambda: neuron_mod(I).backward(g), "baseline": lambda: loop(neuron_mod, I).backward(g)}
    if with_python:
        layer_runs["ours-python"] = python_kernels(layer_runs["ours"])
    if args.ref_style:
        layer_runs["reference-style"] = lambda: loop(neuron_mod, I, ref_style=True).backward(g)
    if neuron == "multiout" and args.textbook:
        layer_runs["textbook"] = lambda: textbook_multiout(neuron_mod, I).backward(g)
    print(f"  first hidden layer's neurons only (forward + backward, {args.batch}x{args.steps}x{sizes[0]}):")
    layer_res = time_interleaved(layer_runs, args.iters, args.warmup, args.device)
    report(layer_res, args.iters)
    return {"step": res, "layer": layer_res}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--neurons", nargs="+", default=["silif", "csilif"], choices=sorted(NAIVE))
    p.add_argument("--inputs", type=int, default=140)
    p.add_argument("--widths", type=int, nargs="+", default=[128, 512, 1024],
                   help="hidden widths W, each timed as two hidden layers W-W (default 128 512 1024)")
    p.add_argument("--hidden", type=int, nargs="+", default=None,
                   help="one explicit list of hidden sizes instead of --widths")
    p.add_argument("--classes", type=int, default=20)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=250)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--input-rate", type=float, default=0.05)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: leave the default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ref-style", action="store_true", help="also time the I[:, t, :]-indexing loop")
    p.add_argument("--textbook", action="store_true",
                   help="multiout: also time the textbook-form loop (x~ = Ax + Bu, y = Cx~: two products per step)")
    p.add_argument("--multiout", nargs="*", default=[], metavar="KEY=VALUE",
                   help="options of the multi-output neuron (default n_states=2 n_outputs=2), e.g. reset_action=classic")
    p.add_argument("--no-python", action="store_true", help="do not time the Python fused kernels")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--json", metavar="FILE", help="write every timing as JSON")
    args = p.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: CUDA is not available here")
    if args.threads:
        torch.set_num_threads(args.threads)
    load0 = os.getloadavg()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY')}, python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"{platform.processor() or platform.machine()}; {native.status()}")
    if args.device == "cuda":
        print(f"GPU: {torch.cuda.get_device_name()}")
    print(f"load average (1/5/15 min) at start: {load0[0]:.1f} / {load0[1]:.1f} / {load0[2]:.1f}")
    shapes = [args.hidden] if args.hidden else [[w, w] for w in args.widths]
    results = {(n, tuple(h)): bench(n, h, args) for h in shapes for n in args.neurons}
    load1 = os.getloadavg()
    print(f"\nload average (1/5/15 min) at the end: {load1[0]:.1f} / {load1[1]:.1f} / {load1[2]:.1f}")
    print("summary (median ms/step; speed-up = baseline / ours, median and min):")
    for (n, h), r in results.items():
        st, ly = r["step"], r["layer"]
        extra = f"  ours-python {st['ours-python']['median']:7.1f}" if "ours-python" in st else ""
        print(f"  {n:7s} {'x'.join(map(str, h)):>9}  ours {st['ours']['median']:7.1f}{extra}  "
              f"baseline {st['baseline']['median']:7.1f}  step {st['baseline']['median'] / st['ours']['median']:.2f}x "
              f"(min {st['baseline']['min'] / st['ours']['min']:.2f}x)   neurons only "
              f"{ly['baseline']['median'] / ly['ours']['median']:.2f}x (min {ly['baseline']['min'] / ly['ours']['min']:.2f}x)")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "torch": torch.__version__, "threads": torch.get_num_threads(), "device": args.device,
            "kernels": native.status(), "load_start": load0, "load_end": load1, "batch": args.batch,
            "steps": args.steps, "iters": args.iters,
            "results": [{"neuron": n, "hidden": list(h), **r} for (n, h), r in results.items()]}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
