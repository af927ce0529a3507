"""The ``silava`` umbrella command.

Each subcommand dispatches to the ``main(argv) -> int`` of a per-folder script, which
also runs on its own (e.g. ``python export/to_lava.py ckpt.pt``). A subcommand whose
module is not part of this version says so and exits 2.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Optional, Sequence

from silava import __version__

#: subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("silava.train.train", "train a spiking network, write ckpt.pt"),
    "export": ("silava.export.to_lava", "quantize ckpt.pt to Loihi fixed point, write model.net (--to nir|onnx|onnx-int)"),
    "import": ("silava.export.nir_io", "read a NIR graph (snnTorch, Norse, Rockpool, silava) into model.net"),
    "sim": ("silava.app.sim", "bit-exact simulation of model.net (or a lava-dl netx file) + hardware cost report"),
    "run": ("silava.app.run", "run model.net as Lava processes (CPU sim or Loihi 2)"),
    "compare": ("silava.app.compare", "float vs fixed point vs Lava: accuracy and agreement"),
    "demo": ("silava.app.demo", "end-to-end demo on a built-in dataset"),
    "fusion": ("silava.app.fusion", "HAS-8 ANN/SNN fusion networks: export, host + hwsim, host + Lava"),
    "sweep": ("silava.app.sweep", "a grid of training runs (params x seeds) in parallel, one results table"),
    "landscape": ("silava.app.landscape", "loss landscape of a checkpoint: surfaces, SAM sharpness, ELA"),
}


def _usage() -> str:
    lines = [f"usage: silava <command> [options]   (silava {__version__})", "", "commands:"]
    lines += [f"  {name:<8} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "`silava <command> --help` shows a command's options."]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if args else 2
    if args[0] in ("-V", "--version"):
        print(f"silava {__version__}")
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"silava: unknown command {name!r}; choose one of: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module_name = COMMANDS[name][0]
    if importlib.util.find_spec(module_name) is None:
        print(f"silava {name}: not implemented in this version ({module_name} is missing)", file=sys.stderr)
        return 2
    from silava.core.cliutil import run_command

    # the command's own main() reports its errors; this frame covers Ctrl-C / SIGTERM while importing it
    return run_command(f"silava {name}", lambda: int(importlib.import_module(module_name).main(rest) or 0))


if __name__ == "__main__":
    sys.exit(main())
