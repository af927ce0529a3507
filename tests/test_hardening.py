"""Issue 15, items 10, 12 and 13: names and messages, export's QAT defaults, an informative walkthrough.

* every command calls itself ``silava <cmd>`` in ``--help`` and in errors, also when its folder's script runs;
* a model.net given where a ckpt.pt belongs (and the reverse) is named as such;
* ``--neuron-opt foo=1`` names the neuron's real options; the "<= 2 effective weight bits" warning says how
  many rows, what it means and the fix; the training log says why the deployed parameter count is smaller;
* tqdm bars never reach a redirected stderr (no ``\\r``);
* ``silava export`` / ``silava.quantize`` / ``silava compare`` default to a QAT checkpoint's settings;
* the README walkthrough trains the shipped ``randman_hard`` config, not the default Randman (solved to 100 %).
"""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from conftest import ROOT

SCRIPTS = {"train": "train/train.py", "export": "export/to_lava.py", "sim": "hwsim/simulate.py",
           "run": "lava_models/run.py"}


@pytest.mark.parametrize("cmd", ["train", "export", "sim", "run", "compare", "demo"])
def test_help_and_errors_name_the_silava_command(cmd, capsys):
    from silava.app.cli import main

    assert main([cmd, "--help"]) == 0
    assert capsys.readouterr().out.startswith(f"usage: silava {cmd} ")
    assert main([cmd, "--no-such-flag"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"silava {cmd}: error: ") and err.count("\n") == 1, err


@pytest.mark.parametrize("cmd", ["train", "sim"])
def test_folder_scripts_use_the_public_name(cmd):
    proc = subprocess.run([sys.executable, str(ROOT / SCRIPTS[cmd]), "--help"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith(f"usage: silava {cmd} ")


def _ckpt(path, qat=None):
    from silava.train.checkpoint import save_checkpoint
    from silava.train.model import SpArchNet

    torch.manual_seed(0)
    train_config = {"task": "randman", "task_facts": {"n_inputs": 16, "n_classes": 4, "n_steps": 30, "dt": 2e-3,
                                                      "encoding": "binary"}}
    if qat:
        train_config["qat"] = dict(qat)
    save_checkpoint(path, SpArchNet(16, [12, 10], 4, "csilif"),
                    data_config={"name": "randman", "n_units": 16, "n_classes": 4, "n_steps": 30},
                    train_config=train_config, metrics={"test_acc": 0.5, "history": []}, seed=1)
    return path


def test_model_net_and_checkpoint_are_told_apart(tmp_path, capsys):
    from silava.app.cli import main

    ckpt = _ckpt(tmp_path / "ckpt.pt")
    assert main(["export", str(ckpt), "-q"]) == 0
    capsys.readouterr()
    net = tmp_path / "model.net"
    for cmd in ("export", "compare"):
        assert main([cmd, str(net)]) == 2
        assert "is a model.net (an exported netx HDF5 network), not a training checkpoint" in capsys.readouterr().err
    x = tmp_path / "x.npz"
    import numpy as np

    np.savez(x, x=np.zeros((2, 30, 16), np.int64), y=np.zeros(2, np.int64))
    assert main(["sim", str(ckpt), "--inputs", str(x)]) == 2
    assert "is a training checkpoint (ckpt.pt), not a model.net: export it first" in capsys.readouterr().err


def test_neuron_options_are_named(tmp_path, capsys):
    from silava.app.cli import main

    rc = main(["train", "--task", "randman", "--neuron", "silif", "--neuron-opt", "foo=1", "--out",
               str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "--neuron-opt foo: the silif neuron has no option 'foo'; its options are" in err
    assert "surrogate" in err and "init_state" in err and "TypeError" not in err


def test_low_weight_bits_warning_explains_itself():
    from silava.export.report import _warnings

    r = {"shape": [12, 16], "weights": {"clipped": 0, "row_bits_min": 1, "rows_low_bits": 3},
         "bias": {"saturated": 0}, "collapses": {}, "constants_clipped": {}}
    (text,) = _warnings(r)
    assert text.startswith("3/12 neurons (weight rows) use <= 2 effective weight bits, the fewest 1")
    assert "takes one of 2 values" in text and "raise --weight-bits" in text
    r["weights"]["row_bits_min"] = 0
    assert "all their weights round to 0" in _warnings(r)[0]


def test_training_log_explains_the_parameter_count(tmp_path, capsys):
    from silava.app.cli import main

    assert main(["train", "--task", "randman", "--data-opt", "n_units=8", "--data-opt", "n_classes=2",
                 "--data-opt", "samples_per_class=8", "--data-opt", "n_steps=10", "--hidden", "4", "--epochs", "1",
                 "--threads", "1", "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert "trainable parameters (BatchNorm included; the exported model.net folds it" in err


def test_no_progress_bars_in_redirected_logs(tmp_path):
    import numpy as np

    ckpt = _ckpt(tmp_path / "ckpt.pt")
    x = tmp_path / "x.npz"
    np.savez(x, x=(np.random.default_rng(0).random((300, 30, 16)) < 0.2).astype(np.int64), y=np.zeros(300, int))
    log = tmp_path / "log.txt"
    with open(log, "w") as fh:
        for argv in (["export", str(ckpt), "-q"], ["sim", str(tmp_path / "model.net"), "--inputs", str(x),
                                                   "--batch-size", "8"]):
            assert subprocess.run([sys.executable, "-m", "silava", *argv], stdout=fh, stderr=fh,
                                  timeout=300).returncode == 0
    assert "\r" not in log.read_text()


def test_export_defaults_to_the_qat_settings(tmp_path, capsys):
    from silava.app.cli import main
    from silava.app.compare import quant_config_for
    from silava.core import netfile
    from silava.train.checkpoint import read_checkpoint

    qat = {"weight_bits": 6, "decay_bits": 10, "state_frac_bits": 10, "layer_decay_bits": {"2": 14}}
    ckpt = _ckpt(tmp_path / "ckpt.pt", qat)
    assert main(["export", str(ckpt), "-q", "-o", str(tmp_path / "a.net")]) == 0
    assert "warning" not in capsys.readouterr().err
    q = netfile.read(tmp_path / "a.net").meta.quantization
    assert (q["weight_bits"], q["decay_bits"], q["state_frac_bits"]) == (6, 10, 10)
    assert {int(k): v for k, v in q["layer_decay_bits"].items()} == {2: 14}
    assert main(["export", str(ckpt), "-q", "-o", str(tmp_path / "b.net"), "--weight-bits", "8"]) == 0
    assert "weight_bits 6 (QAT) vs 8" in capsys.readouterr().err            # a flag still wins, with a warning
    assert netfile.read(tmp_path / "b.net").meta.quantization["weight_bits"] == 8
    import silava

    net = silava.quantize(ckpt)
    assert net.meta.quantization["weight_bits"] == 6
    cfg = quant_config_for(read_checkpoint(ckpt))
    assert (cfg.weight_bits, cfg.decay_bits, cfg.state_frac_bits) == (6, 10, 10)


def test_walkthrough_uses_an_informative_task():
    from silava.core.data import task_arguments
    from silava.train.config import load_yaml

    readme = (ROOT / "README.md").read_text()
    walk = readme[readme.index("## Walkthrough"):readme.index("## Python API")]
    assert "silava train --config randman_hard" in walk and "silava train --task randman " not in walk
    cfg = load_yaml("randman_hard")
    defaults = task_arguments("randman")
    assert cfg["data"]["n_classes"] > defaults["n_classes"]                    # harder than the default task
    accuracies = walk.split("```")[3].split("prediction agreement")[0]
    assert "1.0000" not in accuracies                                         # the accuracies quoted are not all 1
