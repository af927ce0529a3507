"""The lava-dl netx bridge, both ways (issue 11; docs/fixed_point.md §7, docs/interfaces.md "lava-dl netx").

* Their files in hwsim: files written by lava-dl slayer's own ``export_hdf5`` (CUBA ``dense``,
  ``dense_rec`` (``cuba.Recurrent``), ``conv`` with slayer's ``input``/``flatten`` groups,
  sigma-delta networks (``Input``/``Dense``/``Conv``/``Output``), briefly trained with slayer) are
  read by ``silava.export.netx_import`` and run by hwsim exactly like lava-dl's
  ``netx.hdf5.Network`` on Lava fixed_pt, every layer, every step; ``silava sim their.net --report``
  gives the cost report; unsupported types give one line naming the type.
* Our files in netx: every exported kind loads through netx and runs with exactly hwsim's outputs:
  CUBA networks (the LI readout written as a CUBA that cannot spike) in plain netx, SiLIF /
  C-SiLIF / LI (and recurrent, conv, sigma-delta layers) through ``silava.lava_models.netx.Network``;
  random networks (CI set here, 20 per kind under ``slow``) and one tiny trained checkpoint per kind.

Samples run back to back in one network; hwsim starts each sample from a fresh state. Plain netx
does not reset a recurrent layer's Dense buffer nor sigma-delta states between samples, so plain
netx runs of those are compared on their first sample (silava's subclass adds the resets and is
compared on every sample). Each equivalence has a planted-bug twin that must fail.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest

from conftest import needs_lava
from netx_run import output_mismatches, run_netx, slayer_file

pytestmark = [needs_lava, pytest.mark.lava]

STEPS = 16
THEIRS = ["dense", "rec", "conv", "sdnn", "sdnn_conv"]


def their_inputs(net, n: int = 3, seed: int = 1) -> np.ndarray:
    from silava.export.synth import random_graded_inputs

    if int(net.layers[0].input_message_bits) > 0:
        return random_graded_inputs(net, n, seed=seed)
    rng = np.random.default_rng(seed)
    return (rng.random((n, STEPS, net.meta.n_inputs)) < 0.3).astype(np.int64)


@pytest.fixture(scope="module")
def their_files(tmp_path_factory):
    """One file per kind, written by slayer's export_hdf5 after 3 Adam steps (rec: untrained)."""
    root = tmp_path_factory.mktemp("slayer")
    return {kind: slayer_file(kind, root / f"{kind}.net", seed=3, train_steps=3) for kind in THEIRS}


def read_theirs(path):
    from silava.export.netx_import import read_netx

    net, _ = read_netx(path, steps=STEPS)
    return net


# ------------------------------------------------------------------ their files in hwsim

@pytest.mark.parametrize("kind", THEIRS)
def test_slayer_file_runs_in_hwsim_exactly_like_netx(kind, their_files, shm_guard):
    net = read_theirs(their_files[kind])
    x = their_inputs(net)
    from silava.hwsim.simulate import simulate

    assert all(np.count_nonzero(o) for o in simulate(net, x).outputs), "every layer should be active"
    # lava-dl's own netx: per-sample resets of the neurons only -> compare every sample where netx resets all
    resets_all = kind in ("dense", "conv")
    plain = run_netx(net, their_files[kind], x, plain=True)
    assert output_mismatches(net, x, plain, first_sample_only=not resets_all) == 0
    # silava's netx subclass: the recurrent buffer and sigma-delta states reset too -> every sample
    ours = run_netx(net, their_files[kind], x)
    assert output_mismatches(net, x, ours) == 0


def test_plain_netx_leaks_the_recurrent_buffer_between_samples(their_files, shm_guard):
    """The documented difference: without silava's reset of the recurrent Dense buffer, sample 2
    starts with sample 1's last spikes."""
    net = read_theirs(their_files["rec"])
    x = their_inputs(net, seed=5)
    assert output_mismatches(net, x, run_netx(net, their_files["rec"], x, plain=True)) > 0


@pytest.mark.parametrize("kind, plant", [
    ("conv", "flatten order"), ("rec", "recurrent weights transposed"), ("sdnn", "threshold off by one"),
    ("dense", "voltage decay read as a retention")])
def test_planted_reader_bug_is_caught(kind, plant, their_files, shm_guard):
    net = read_theirs(their_files[kind])
    x = their_inputs(net)
    got = run_netx(net, their_files[kind], x, plain=kind in ("conv", "dense"))
    bad = copy.deepcopy(net)
    if plant == "flatten order":        # reading netx's (W, H, C) flattening as if it were C-order
        dense = bad.layers[-1]
        c, h, w = bad.layers[-2].neuron_shape
        dense.weight = dense.weight.reshape(-1, c, h, w).transpose(0, 3, 2, 1).reshape(dense.weight.shape[0], -1)
    elif plant == "recurrent weights transposed":
        bad.layers[0].weight_rec = bad.layers[0].weight_rec.T.copy()
    elif plant == "threshold off by one":
        bad.layers[1].neuron["vThMant"] += 1
    else:                               # vDecay is the fraction lost per step, not kept
        bad.layers[0].neuron["vDecay"] = 4096 - bad.layers[0].neuron["vDecay"]
    assert output_mismatches(bad, x, got, first_sample_only=True) > 0


def test_silava_sim_reads_their_file_into_the_cost_report(their_files, tmp_path, capsys):
    """``silava sim their.net --inputs x.npz --report DIR`` on a slayer-trained file."""
    from silava.app.cli import main

    net = read_theirs(their_files["conv"])
    x = their_inputs(net, n=4)
    np.savez(tmp_path / "x.npz", x=x, y=np.arange(4) % 3)
    rc = main(["sim", str(their_files["conv"]), "--inputs", str(tmp_path / "x.npz"), "--report", str(tmp_path / "r"),
               "--json", str(tmp_path / "sim.json")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "conv.net: 3 layers" in out and "hardware report:" in out
    text = (tmp_path / "r" / "report.md").read_text()
    assert "conv" in text and "SOP" in text.upper()
    import json

    rep = json.loads((tmp_path / "r" / "report.json").read_text())
    assert [layer["layer_type"] for layer in rep["network"]["layers"]] == ["conv", "conv", "dense"]
    assert rep["network"]["source_neuron"] == "slayer" and rep["counts"]["total_per_sample"]["effective_sops"] > 0
    assert rep["mapping"]["cores_used"] >= 3


def test_silava_sim_refuses_unsupported_types_in_one_line(tmp_path, capsys):
    """Layer and neuron types silava cannot run: one line naming the type (API and CLI)."""
    import torch

    from silava import lava_models  # noqa: F401
    from lava.lib.dl import slayer

    from netx_run import cuba_params, slayer_export, slayer_forward
    from silava.app.cli import main
    from silava.export.netx_import import NetxImportError, read_netx

    p = cuba_params()
    alif = {**p, "threshold_step": 0.5, "refractory_decay": 0.5, "threshold_decay": 0.5}
    cases = {
        "pool": ([slayer.block.cuba.Pool(p, 2), slayer.block.cuba.Flatten(), slayer.block.cuba.Dense(p, 2 * 3 * 3, 4)],
                 (2, 6, 6), "unsupported layer type 'pool'"),
        "alif": ([slayer.block.alif.Dense(alif, 10, 4)], (10,), "unknown neuron type 'ALIF'"),
        "delay": ([slayer.block.cuba.Dense(p, 10, 4, delay=True)], (10,), "delay"),
        "rf": ([slayer.block.rf.Dense({"threshold": 1.0, "period": 10, "decay": 0.1}, 10, 4)], (10,),
               "complex"),
    }
    for name, (blocks, shape, needle) in cases.items():
        with torch.no_grad():
            slayer_forward(blocks, torch.rand((1,) + shape + (4,)))
        path = slayer_export(blocks, tmp_path / f"{name}.net")
        with pytest.raises(NetxImportError) as info:
            read_netx(path)
        assert needle in str(info.value) and "\n" not in str(info.value), str(info.value)
        np.savez(tmp_path / "x.npz", x=np.zeros((1, 4, int(np.prod(shape))), np.int64), y=np.zeros(1, np.int64))
        rc = main(["sim", str(path), "--inputs", str(tmp_path / "x.npz")])
        err = capsys.readouterr().err
        assert rc == 2 and needle in err and len(err.strip().splitlines()) == 1, err


# ------------------------------------------------------------------ our files in netx

def our_network(kind: str, seed: int):
    """A random network as we export them: ``kind`` hidden layers and an LI readout; ``seed`` picks
    sizes, graded or binary inputs, and (for some seeds) recurrent, conv or sigma-delta variants."""
    from silava.export.synth import (random_conv_network, random_graded_inputs, random_inputs, random_network,
                                     random_sdnn_network)

    rng = np.random.default_rng(seed)
    if kind == "SDNN":
        net = random_sdnn_network([int(rng.integers(4, 10)), int(rng.integers(4, 10)), 3], STEPS, seed=seed,
                                  recurrent=seed % 2 == 1)
        return net, random_graded_inputs(net, 3, seed=seed + 1)
    variant = seed % 4
    if kind == "MULTIOUT" and variant >= 2:      # dense layers only: no recurrent or conv form
        variant = seed % 2
    if variant == 3:
        net = random_conv_network(kind, (2, 5, 5), [3], STEPS, seed=seed, dense=[int(rng.integers(4, 9)), 3])
        return net, random_inputs(net, 3, seed=seed + 1, rate=0.3)
    sizes = [int(rng.integers(4, 13)), int(rng.integers(3, 11)), int(rng.integers(3, 9)), int(rng.integers(2, 5))]
    net = random_network(kind, sizes, STEPS, seed=seed, recurrent=variant == 2, input_message_bits=8 * (variant == 1))
    return net, random_inputs(net, 3, seed=seed + 1)


def check_ours(kind: str, seed: int, path) -> tuple[int, bool]:
    """Write the network, run it through netx (plain netx when every layer is netx-native); returns
    (mismatches, plain netx used)."""
    from silava.core import netfile

    net, x = our_network(kind, seed)
    netfile.write(path, net)
    native = all(f[0] is not None for f in netfile.native_forms(net))
    plain = native and not any(layer.recurrent for layer in net.layers) and kind != "SDNN"
    return output_mismatches(net, x, run_netx(net, path, x, plain=plain)), plain


@pytest.mark.parametrize("kind", ["CUBA", "SILIF", "CSILIF", "RF", "MULTIOUT", "SDNN"])
def test_our_random_networks_in_netx(kind, tmp_path, shm_guard):
    """CI set: 2 networks per kind (dense, graded input, recurrent or conv variants by seed)."""
    for seed in (1, 2):
        bad, plain = check_ours(kind, seed, tmp_path / f"{kind}{seed}.net")
        assert bad == 0, f"{kind} seed {seed}: {bad} values differ"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["CUBA", "SILIF", "CSILIF", "RF", "MULTIOUT", "SDNN"])
def test_our_random_networks_in_netx_many(kind, tmp_path, shm_guard):
    """Slow: 20 random networks per kind."""
    plain_runs = 0
    for seed in range(100, 120):
        bad, plain = check_ours(kind, seed, tmp_path / f"{kind}{seed}.net")
        assert bad == 0, f"{kind} seed {seed}: {bad} values differ"
        plain_runs += plain
    if kind == "CUBA":
        assert plain_runs >= 5, "feed-forward CUBA networks load in plain netx"


def test_our_kinds_need_the_extension(tmp_path):
    """Plain netx cannot build SiLIF (netx's own error); the LI readout of a CUBA network is native."""
    from silava import lava_models  # noqa: F401
    from lava.lib.dl import netx

    from silava.core import netfile
    from silava.export.synth import random_network

    net = random_network("SILIF", [6, 5, 3], STEPS, seed=1)
    netfile.write(tmp_path / "silif.net", net)
    with pytest.raises(AttributeError):
        netx.hdf5.Network(net_config=str(tmp_path / "silif.net"))
    net = random_network("CUBA", [6, 5, 3], STEPS, seed=1)
    assert [f[0] for f in netfile.native_forms(net)] == ["CUBA", "CUBA"]
    netfile.write(tmp_path / "cuba.net", net)
    assert len(netx.hdf5.Network(net_config=str(tmp_path / "cuba.net")).layers) == 2


def test_planted_extension_bug_is_caught(monkeypatch, tmp_path, shm_guard):
    """The subclass ignoring the file's weight exponent (as plain netx would) must be caught."""
    from silava.core import netfile
    from silava.lava_models import netx as ext

    net, x = our_network("SILIF", 1)
    assert any(int(layer.weight_exp) != 0 for layer in net.layers)
    netfile.write(tmp_path / "s.net", net)
    real = ext.DenseBlock

    def no_exponent(**params):
        return real(**{**params, "weight_exponent": 0})
    monkeypatch.setattr(ext, "DenseBlock", no_exponent)
    assert output_mismatches(net, x, run_netx(net, tmp_path / "s.net", x)) > 0


# ------------------------------------------------------------------ trained checkpoints

TINY = {"n_classes": 3, "n_units": 12, "n_steps": 20, "samples_per_class": 40}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny trained model per exported kind: lif (CUBA), silif and adlif (SILIF), csilif (CSILIF)."""
    import silava

    root = tmp_path_factory.mktemp("trained")
    out = {}
    for neuron in ("lif", "silif", "csilif"):
        run = silava.fit("randman", root / neuron, task_options=TINY, neuron=neuron, hidden=12, epochs=2, seed=4,
                         batch_size=32, threads=1, quiet=True, progress=False)
        net = silava.quantize(run)
        path = root / f"{neuron}.net"
        silava.save_net(net, path)
        x, _ = silava.task_arrays(net, samples=4)
        out[neuron] = (silava.load_net(path), path, np.asarray(x))
    return out


@pytest.mark.parametrize("neuron", ["lif", "silif", "csilif"])
def test_trained_checkpoint_in_netx(neuron, trained, shm_guard):
    """A lava-dl user loads our trained model.net with netx: plain netx for a CUBA network (its LI
    readout written natively), silava's subclass for SiLIF / C-SiLIF; 0 values differ from hwsim."""
    from silava.core import netfile

    net, path, x = trained[neuron]
    plain = neuron == "lif"
    if plain:
        assert all(f[0] == "CUBA" for f in netfile.native_forms(net)), netfile.native_forms(net)
    got = run_netx(net, path, x, plain=plain)
    assert output_mismatches(net, x, got) == 0
    if plain:    # and silava's subclass gives the readout values on its `out` port
        assert output_mismatches(net, x, run_netx(net, path, x)) == 0
