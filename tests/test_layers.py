"""Import directions between the layers (docs/interfaces.md, "Layers").

Every module of the package is parsed (not imported), and every import it makes, at the top
or inside a function, is checked against the allowed directions:

    core                      -> (nothing of ours)            numpy, h5py, stdlib; no torch, no lava
    train                     -> core                         torch; no lava
    export                    -> core, train                  no lava
    hwsim                     -> core                         no torch, no lava
    lava_models               -> core                         lava; no torch
    app (silava.app, the API) -> everything

The package root ``silava/__init__.py`` is the public API: it may name the application, but
only lazily (no module-level import of a stage), so that ``import silava.hwsim`` stays free of
torch. A second test imports the numpy-only layers in a fresh interpreter and checks that
neither torch nor lava was loaded.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

#: layer -> folder in the repository
FOLDERS = {
    "core": ROOT / "silava" / "core",
    "app": ROOT / "silava" / "app",
    "train": ROOT / "train",
    "export": ROOT / "export",
    "hwsim": ROOT / "hwsim",
    "lava_models": ROOT / "lava_models",
}
#: layer -> the layers of ours it may import (itself included)
ALLOWED = {
    "core": {"core"},
    "train": {"core", "train"},
    "export": {"core", "export", "train"},
    "hwsim": {"core", "hwsim"},
    "lava_models": {"core", "lava_models"},
    "app": set(FOLDERS),
}
#: third-party packages a layer must never import
FORBIDDEN = {
    "core": {"torch", "lava"},
    "train": {"lava"},
    "export": {"lava"},
    "hwsim": {"torch", "lava"},
    "lava_models": {"torch"},
    "app": set(),
}
#: old top-level names that must not come back (they shadowed users' own train.py / export.py)
OLD_TOP_LEVEL = {"train", "export", "hwsim", "lava_models"}


def layer_of_module(name: str) -> str | None:
    """``silava.hwsim.counts`` -> ``hwsim``; ``silava`` (the root) -> None."""
    parts = name.split(".")
    if parts[0] != "silava" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in FOLDERS else None


def module_name(layer: str, path: Path) -> str:
    rel = path.relative_to(FOLDERS[layer]).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    base = "silava." + layer
    return ".".join([base, *parts])


def imports_of(path: Path, name: str) -> list[tuple[int, str]]:
    """Every imported module name (absolute; relative imports resolved) with its line."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.append((node.lineno, mod))
            # `from silava import hwsim` imports the subpackage silava.hwsim
            if mod == "silava":
                found += [(node.lineno, f"silava.{alias.name}") for alias in node.names
                          if alias.name in FOLDERS]
    return found


def all_modules():
    for layer, folder in FOLDERS.items():
        for path in sorted(folder.rglob("*.py")):
            yield layer, path, module_name(layer, path)


def test_every_layer_folder_exists():
    for layer, folder in FOLDERS.items():
        assert (folder / "__init__.py").is_file(), f"{layer}: {folder} is not a package"


@pytest.mark.parametrize("layer", list(FOLDERS))
def test_import_directions(layer):
    problems = []
    for lay, path, name in all_modules():
        if lay != layer:
            continue
        for line, mod in imports_of(path, name):
            where = f"{path.relative_to(ROOT)}:{line}: imports {mod}"
            top = mod.split(".")[0]
            if top in OLD_TOP_LEVEL:
                problems.append(f"{where} (old top-level name; use silava.{mod})")
            elif top in FORBIDDEN[layer]:
                problems.append(f"{where} ({layer} must not import {top})")
            target = layer_of_module(mod)
            if target is not None and target not in ALLOWED[layer]:
                problems.append(f"{where} ({layer} may import only {', '.join(sorted(ALLOWED[layer]))})")
    assert not problems, "\n".join(problems)


def test_package_root_imports_no_stage_at_load():
    """``silava/__init__.py`` names the API lazily: importing it loads no stage and no torch."""
    tree = ast.parse((ROOT / "silava" / "__init__.py").read_text())
    for node in tree.body:  # module level only; function bodies are lazy
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for mod in mods:
                assert mod.split(".")[0] not in {"torch", "lava"} and layer_of_module(mod) in (None, "core"), \
                    f"silava/__init__.py imports {mod} at load time"


def test_the_checker_catches_a_wrong_direction(tmp_path):
    """Plant a hwsim module importing torch and the export stage: both are found."""
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy\nfrom silava.export import fold\n\ndef f():\n    import torch\n")
    found = [mod for _, mod in imports_of(bad, "silava.hwsim.bad")]
    assert "silava.export" in found and "torch" in found
    assert layer_of_module("silava.export.fold") not in ALLOWED["hwsim"]


def test_numpy_layers_load_neither_torch_nor_lava():
    """Import every module of core and hwsim (and the package root) in a fresh interpreter."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import silava, silava.core, silava.hwsim\n"
        "for pkg in (silava.core, silava.hwsim):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "dir(silava)\n"
        "bad = sorted(k for k in sys.modules if k.split('.')[0] in ('torch', 'lava'))\n"
        "print(bad[:5])\n"
        "sys.exit(1 if bad else 0)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr[-2000:]


def test_train_and_export_do_not_load_lava():
    code = (
        "import importlib, pkgutil, sys\n"
        "import silava.train, silava.export\n"
        "for pkg in (silava.train, silava.export):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "bad = sorted(k for k in sys.modules if k.split('.')[0] == 'lava')\n"
        "print(bad[:5])\n"
        "sys.exit(1 if bad else 0)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr[-2000:]
