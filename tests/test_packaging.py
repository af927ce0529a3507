"""The wheel: one top-level import name (``silava``), every package in it, and a user's script that
runs the pipeline through the public API from a folder holding its own train.py / export.py / hwsim.py.

The wheel is built from a copy of the sources (so the repository gets no build/ or egg-info), with
the environment's setuptools and no network (``pip wheel --no-deps --no-build-isolation``). It is
installed with ``--no-deps`` into a fresh virtual environment that reuses this environment's
packages through a ``.pth`` line (a directory appended to ``sys.path``; the editable install's own
``.pth`` hook in that directory is not executed), so ``silava`` comes from the wheel.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

from conftest import HAVE_LAVA, ROOT

#: repository folder -> import package (pyproject.toml [tool.setuptools] package-dir)
PACKAGE_DIRS = {"silava": "silava", "train": "silava/train", "export": "silava/export", "hwsim": "silava/hwsim",
                "lava_models": "silava/lava_models"}
SHADOWS = ("train", "export", "hwsim", "lava_models")     # the old top-level package names


def _run(cmd, **kwargs) -> subprocess.CompletedProcess:
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    assert res.returncode == 0, f"{' '.join(map(str, cmd))}\n{res.stdout[-3000:]}\n{res.stderr[-6000:]}"
    return res


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for folder in PACKAGE_DIRS:
        shutil.copytree(ROOT / folder, src / folder, ignore=ignore)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", base / "dist", src])
    wheels = list((base / "dist").glob("silava-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_has_one_top_level_name_and_every_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"silava"}, top
    missing = []
    for folder, package in PACKAGE_DIRS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).as_posix()
            inside = package if rel == "." else f"{package}/{rel}"
            if f"{inside}/__init__.py" not in names:
                missing.append(inside)
    assert not missing, f"packages missing from the wheel (add them to pyproject.toml): {missing}"
    for data in ("silava/train/configs/shd_csilif_128.yaml", "silava/hwsim/constants/davies2018.json",
                 "silava/app/api.py", "silava/core/data/folder.py"):
        assert data in names, data
    entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "silava = silava.app.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


USER_SCRIPT = '''
import os, sys
from pathlib import Path

import numpy as np
import silava

here = Path(__file__).resolve().parent
print("silava from", silava.__file__)
run = silava.fit("randman", here / "run", task_options={"n_classes": 3, "n_units": 10, "n_steps": 15,
                                                       "samples_per_class": 40},
                 hidden=8, epochs=1, batch_size=32, threads=1, quiet=True)
net = silava.quantize(run, here / "run" / "model.net")
x, y = silava.task_arrays(net, "test")
sim = silava.simulate(net, x)
lava_samples = int(os.environ["LAVA_SAMPLES"])
cmp = silava.compare(run, net=net, sim=sim, lava_samples=lava_samples, out=here / "run")
assert cmp.accuracy["hwsim"] == float(np.mean(sim.predictions == y))
if lava_samples:
    assert cmp.agreement["hwsim_lava"] == 1.0
print("pipeline ok", sorted(p.name for p in (here / "run").iterdir()))
'''


def test_installed_wheel_runs_a_user_script_beside_its_own_train_py(wheel, tmp_path, shm_guard):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel])
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (site / "zz_silava_test_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    user = tmp_path / "user"
    user.mkdir()
    for name in SHADOWS:
        (user / f"{name}.py").write_text(f"raise RuntimeError('the user\\'s own {name}.py was imported')\n")
    (user / "pipeline.py").write_text(textwrap.dedent(USER_SCRIPT))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(LAVA_SAMPLES="2" if HAVE_LAVA else "0", MPLBACKEND="Agg")
    res = _run([python, "pipeline.py"], cwd=user, env=env, timeout=600)
    origin = Path(res.stdout.split("silava from", 1)[1].split()[0])
    assert origin.is_relative_to(site), f"silava came from {origin}, not the fresh environment {site}"
    assert "pipeline ok" in res.stdout, res.stdout
    for name in ("ckpt.pt", "model.net", "compare.json", "compare.png"):
        assert (user / "run" / name).is_file(), name
    version = _run([venv / "bin" / "silava", "--version"], env=env)
    assert version.stdout.strip() == "silava 0.1.0"
