"""Run a model.net network as Lava processes: CPU simulator or Loihi 2.

    python lava_models/run.py model.net --task randman --backend sim [--samples N]
                              [--json out.json] [--timeout S] [--compare-hwsim]
    python lava_models/run.py model.net --inputs data.npz         # arrays x [N, T, F], y [N]
    silava run model.net --task randman

``--backend sim`` runs Lava's CPU simulator (``Loihi2SimCfg``) with the ``fixed_pt`` models
(bit-exact with hwsim) or, with ``--tag floating_pt``, the float reference models.
``--backend loihi2`` needs Intel's Lava extension for Loihi (lava-loihi, available to Intel
Neuromorphic Research Community members on the Loihi 2 cloud systems); without it the
command says so and exits 2 — it never falls back to the CPU silently.

Prints accuracy, the agreement with hwsim's predictions (``--compare-hwsim``), the wall time
and sample-steps/s. Bad input (missing Lava, unreadable model.net, inputs that do not fit the
network, bad options, a ``--json`` that is one of the inputs) is one line on stderr and exit code
2; a failed or timed-out Lava run exit code 1. Ctrl-C (130) and SIGTERM (143) stop the Lava
processes and remove their shared memory before the one-line message; after SIGKILL the kernel
stops them (:mod:`lava_models.runner`). ``--timeout`` is a wall-clock limit in seconds (``inf``:
none).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

if __name__ == "__main__" and __package__ in (None, ""):
    # Run as a file (`python lava_models/run.py`): Python put this folder first on sys.path, but its
    # modules are parts of the `silava` package (installed by scripts/bootstrap.sh), not
    # top-level modules; drop it so that none of them shadows another module.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np

from silava.core.fileio import check_outputs, check_writable_file, write_json_atomic  # noqa: E402

PROG = "silava run"
BACKENDS = ("sim", "loihi2")
LOIHI_HINT = ("--backend loihi2 needs Intel's Lava extension for Loihi (lava-loihi), which is not installed: "
              "it is distributed to Intel Neuromorphic Research Community (INRC) members and runs on the "
              "Loihi 2 cloud systems (join at intel.com/neuromorphic, then use lava-loihi on an INRC host); "
              "use --backend sim for the CPU simulator")


class CliError(Exception):
    """Bad command-line input: one line on stderr, exit code 2."""


#: ``check(net, x, y, tag, result) -> dict``: a cross-check run after Lava (``silava run --compare-hwsim``
#: passes one that runs hwsim; this stage does not import hwsim). It prints its findings and returns
#: the keys it adds to the JSON.
Check = Callable[..., dict]


def _parser(with_check: bool, prog: str = PROG):
    from silava.core.cliutil import add_input_arguments, one_line_parser

    p = one_line_parser(CliError, prog=prog, description="Run a model.net network as Lava processes (CPU simulator "
                                                         "or Loihi 2): accuracy, agreement with hwsim, speed.")
    p.add_argument("model", help="model.net written by silava export")
    add_input_arguments(p)
    p.add_argument("--backend", default="sim", choices=BACKENDS,
                   help="sim: Lava CPU simulator (default); loihi2: Loihi 2 hardware (needs lava-loihi)")
    p.add_argument("--tag", default="fixed_pt", choices=("fixed_pt", "floating_pt"),
                   help="process models: fixed_pt (integer, default) or floating_pt (float group of model.net)")
    p.add_argument("--json", metavar="FILE", help="write predictions, labels, accuracy, timing as JSON")
    p.add_argument("--timeout", type=float, default=3600.0, metavar="S",
                   help="wall-clock limit of the Lava run in seconds, compile included (default 3600; inf: none); "
                        "the network is stopped")
    p.add_argument("--chunk", type=int, default=None, metavar="K", help="samples per Lava run call (default: auto)")
    if with_check:
        p.add_argument("--compare-hwsim", action="store_true",
                       help="also run hwsim (bit-exact numpy) and report prediction agreement")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (there is none when stderr is not "
                                                              "a terminal)")
    return p


def format_counters(counters: dict) -> str:
    """``saturate=3, wrap=1`` (non-zero counters, sorted), or ``none``."""
    items = [f"{k}={v}" for k, v in sorted(counters.items()) if v]
    return ", ".join(items) if items else "none"


def _loihi2_run_cfg(tag: str):
    """``Loihi2HwCfg`` if lava-loihi is importable, else :class:`CliError` (no CPU fallback)."""
    from lava.utils import loihi

    if not loihi.is_installed():
        raise CliError(LOIHI_HINT)
    from lava.magma.core.run_configs import Loihi2HwCfg

    return Loihi2HwCfg(select_tag=tag)


def run_cli(argv: Optional[Sequence[str]] = None, check: Optional[Check] = None, prog: Optional[str] = None) -> int:
    """``silava run``: returns the exit status (:func:`silava.core.cliutil.run_command`)."""
    from silava.core.cliutil import command_name, run_command

    prog = command_name("run", prog)
    return run_command(prog, lambda: _run_cli(argv, check, prog), (CliError,),
                       interrupted="Lava processes stopped, no output written")


def _run_cli(argv: Optional[Sequence[str]], check: Optional[Check], prog: str) -> int:
    import math

    from silava.core.inputs import InputError, check_inputs
    from silava.core.cliutil import check_input_arguments, check_model_file, load_inputs

    args = _parser(check is not None, prog).parse_args(argv)
    check_input_arguments(args, CliError)
    if args.chunk is not None and args.chunk < 1:
        raise CliError(f"--chunk {args.chunk}: must be at least 1")
    if math.isnan(args.timeout) or not args.timeout > 0:
        raise CliError(f"--timeout {args.timeout:g}: must be a positive number of seconds (inf: no limit)")
    if args.backend == "loihi2" and args.tag != "fixed_pt":
        raise CliError("--backend loihi2 runs the fixed_pt models only; drop --tag floating_pt")
    json_path = check_writable_file(args.json, "--json", CliError) if args.json else None
    check_outputs({"--json": json_path}, {"network": args.model, "inputs": getattr(args, "inputs", None)}, CliError)
    model = check_model_file(args.model, CliError)

    from silava import lava_models
    try:
        lava_models.require_lava()
    except lava_models.LavaMissingError as exc:
        raise CliError(str(exc)) from None
    run_cfg = _loihi2_run_cfg(args.tag) if args.backend == "loihi2" else None

    from silava.core.netfile import NetFileError, read
    try:
        net = read(model)
    except NetFileError as exc:
        raise CliError(str(exc)) from None
    if args.tag == "floating_pt":
        missing = [i for i, layer in enumerate(net.layers) if not layer.float_params]
        if missing:
            raise CliError(f"--tag floating_pt: layer/{missing[0]}/float: missing (the file has no float "
                           "reference parameters); export with silava export or use --tag fixed_pt")
    x, y, source = load_inputs(args, net.meta, CliError)
    try:
        x = check_inputs(net, x).astype(np.int64)
    except InputError as exc:
        raise CliError(f"{source}: {exc}") from None
    if len(y) and int(y.max()) >= net.meta.n_classes:
        raise CliError(f"{source}: labels go up to {int(y.max())} but the network has {net.meta.n_classes} classes; "
                       f"pass the data the network was trained on")
    return _run(args, net, x, y, source, run_cfg, json_path,
                check if getattr(args, "compare_hwsim", False) else None, prog)


def _run(args, net, x: np.ndarray, y: np.ndarray, source: str, run_cfg, json_path: Optional[Path],
         check: Optional[Check], prog: str = PROG) -> int:
    from silava.core.cliutil import progress_enabled

    from silava.lava_models.builder import BuildError
    from silava.lava_models.network import run_samples
    from silava.lava_models.runner import LavaRunError

    layers = ", ".join(f"{layer.neuron_type} {layer.in_features}->{layer.out_features}" for layer in net.layers)
    print(f"{Path(args.model).name}: {len(net.layers)} layers ({layers}), T={net.meta.steps}")
    print(f"inputs: {source}, {len(y)} samples; backend {args.backend}, {args.tag}")
    try:
        res = run_samples(net, x, tag=args.tag, chunk=args.chunk, timeout_s=args.timeout,
                          progress=progress_enabled(False if args.no_progress else None), run_cfg=run_cfg)
    except BuildError as exc:
        raise CliError(str(exc)) from None
    except LavaRunError as exc:
        print(f"{prog}: Lava run failed: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    acc = float(np.mean(res["predictions"] == y))
    acc_sum_v = float(np.mean(res["predictions_sum_v"] == y))
    print(f"accuracy: {acc:.4f} ({res['decision']})   sum_v: {acc_sum_v:.4f}")
    counters = res.get("counters") or {}
    if args.tag == "fixed_pt":
        print(f"Lava counters: {format_counters(counters.get('total', {}))}")
    if np.isfinite(net.meta.float_accuracy):
        print(f"float model accuracy at export: {net.meta.float_accuracy:.4f}")
    payload = {"model": str(args.model), "inputs": source, "backend": args.backend, "tag": args.tag,
               "samples": int(len(y)), "steps": int(net.meta.steps), "decision": res["decision"],
               "accuracy": acc, "accuracy_sum_v": acc_sum_v, "counters": counters}
    if check is not None:
        payload.update(check(net, x, y, args.tag, res))
    print(f"time: {res['wall_s']:.2f} s ({res['sample_steps_per_s']:,.0f} sample-steps/s, "
          f"{res['global_steps']} Lava steps)")
    payload.update(wall_s=res["wall_s"], sample_steps_per_s=res["sample_steps_per_s"],
                   predictions=res["predictions"].tolist(), predictions_sum_v=res["predictions_sum_v"].tolist(),
                   labels=y.tolist())
    if json_path is not None:
        write_json_atomic(json_path, payload)
        print(f"wrote {json_path}")
    return 0


def main(argv: Optional[Sequence[str]] = None, prog: Optional[str] = None) -> int:
    """CLI entry point of ``python lava_models/run.py`` (``silava run`` adds ``--compare-hwsim``)."""
    return run_cli(argv, prog=prog)


if __name__ == "__main__":
    from silava.lava_models.run import main as _main  # the package's module, not this file's __main__ copy

    sys.exit(_main())
