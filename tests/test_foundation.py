"""Repository foundation: the umbrella CLI, the compat layer's no-op cases (import directions: test_layers.py)."""
from __future__ import annotations

import subprocess
import sys


from conftest import ROOT


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "silava", *args], capture_output=True, text=True, cwd=ROOT)


def test_cli_help_and_unknown_command():
    res = run_cli("--help")
    assert res.returncode == 0
    for name in ("train", "export", "sim", "run", "compare", "demo"):
        assert name in res.stdout
    res = run_cli("frobnicate")
    assert res.returncode == 2
    assert "unknown command" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_cli_unimplemented_subcommand_exits_2(monkeypatch, capsys):
    from silava.app import cli

    monkeypatch.setitem(cli.COMMANDS, "nothing", ("silava._no_such_module", "placeholder"))
    assert cli.main(["nothing"]) == 2
    err = capsys.readouterr().err
    assert "not implemented" in err and len(err.strip().splitlines()) == 1


def test_compat_bytencoder_fix_is_noop_before_python_311(monkeypatch):
    from silava.lava_models import compat

    monkeypatch.setattr(compat.sys, "version_info", (3, 10, 14))
    assert compat.needed() is False
    assert compat.LavaCompatFinder().find_spec(compat.VAR_MODEL, None) is None


def test_compat_leaves_hashable_byteencoder_alone(monkeypatch):
    """A fixed Lava (hashable ByteEncoder) is built exactly as written."""
    import dataclasses
    import types

    from silava.lava_models.compat import _HashableByteEncoderLoader

    class Inner:
        def create_module(self, spec):
            return None

        def exec_module(self, module):
            exec(
                "from dataclasses import dataclass\n"
                "@dataclass(frozen=True)\nclass ByteEncoder:\n    ptr: int = 0\n"
                "@dataclass\nclass Other:\n    x: int = 0\n",
                module.__dict__,
            )

    module = types.ModuleType("fake_var_model")
    monkeypatch.setitem(sys.modules, "fake_var_model", module)
    _HashableByteEncoderLoader(Inner()).exec_module(module)
    assert module.ByteEncoder.__dataclass_params__.frozen is True
    assert module.Other.__hash__ is None  # untouched
    assert dataclasses.dataclass.__module__ == "dataclasses"  # restored


def test_missing_lava_is_one_line_exit_2():
    """With lava hidden, require_lava raises LavaMissingError naming what to install."""
    code = (
        "import sys\n"
        "sys.modules['lava'] = None  # as if lava-nc were not installed\n"
        "import lava_models\n"
        "from lava_models import require_lava, LavaMissingError\n"
        "try:\n    require_lava()\nexcept LavaMissingError as e:\n    print(e); sys.exit(2)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 2, res.stderr
    assert "Lava is not installed" in res.stdout and "lava-nc" in res.stdout
