"""NIR both ways (silava.export.nir_io): our exports round-trip to the same integers, and a graph that
snnTorch itself writes runs in hwsim and Lava, compared with snnTorch's own simulation.

The snnTorch network: ``Linear → Leaky → Linear(bias=False) → Synaptic → Linear → Leaky`` with per-neuron
decays (snnTorch's NIR export needs per-neuron tensors), written by ``snntorch.export_nir.export_to_nir``
(with ``dt = 1e-4`` hard-coded in snnTorch). What we check, and why it is close but not equal:

* the imported *float* network (model.net's float group, run by tests/folded_reference.py) gives
  snnTorch's spikes exactly: the mapping (decays, gains, the 1/θ scale, the reset rules) is exact
  and the float32 → float64 difference never reaches a threshold here;
* the *fixed-point* network (hwsim) differs by quantization: 8-bit weights, 12-bit decays and the
  truncated products. In the first layer (identical inputs) the membrane error |V/S − v| stays
  within the bound accumulated from those three sources (``layer0_bound``) until a neuron's spike
  history first differs; spike agreement per layer is asserted above a floor and printed by
  ``bench``-style numbers in docs/interop.md.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import needs_lava
from folded_reference import simulate_folded

torch = pytest.importorskip("torch")
snn = pytest.importorskip("snntorch")
nir = pytest.importorskip("nir")
pytest.importorskip("nirtorch")

from silava.core import netfile  # noqa: E402
from silava.export import nir_io  # noqa: E402
from silava.export.fold import fold_model, folded_from_network  # noqa: E402
from silava.export.interop import export_to  # noqa: E402
from silava.export.quantize import QuantConfig, quantize_network  # noqa: E402
from silava.hwsim.simulate import simulate  # noqa: E402

SIZES = (40, 32, 24, 6)
STEPS = 50


# --------------------------------------------------------------------------- our own exports

def _quantized(neuron: str, seed: int, config: QuantConfig, encoding: str = "binary") -> netfile.Network:
    from conftest import active_batchnorm
    from silava.train.model import SpArchNet

    torch.manual_seed(seed)
    model = active_batchnorm(SpArchNet(12, [20, 14], 5, neuron), torch.Generator().manual_seed(seed + 1))
    meta = netfile.Meta(steps=40, n_inputs=12, n_classes=5, dt=2e-3, input_encoding=encoding,
                        source_neuron=neuron)
    net, _ = quantize_network(fold_model(model), config, input_message_bits=8 if encoding == "counts" else 0,
                              meta=meta)
    return net


def _same_integers(a: netfile.Network, b: netfile.Network) -> bool:
    return len(a.layers) == len(b.layers) and all(
        la.neuron_type == lb.neuron_type and la.weight_exp == lb.weight_exp
        and la.input_message_bits == lb.input_message_bits and np.array_equal(la.weight, lb.weight)
        and np.array_equal(la.bias, lb.bias) and netfile._values_equal(la.neuron, lb.neuron)
        for la, lb in zip(a.layers, b.layers))


@pytest.mark.parametrize("neuron,seed", [("silif", 0), ("csilif", 1), ("lif", 2), ("adlif", 3), ("cadlif", 4),
                                         ("silif", 5), ("csilif", 6), ("lif", 7)])
def test_round_trip_gives_the_same_integers(neuron, seed, tmp_path):
    config = QuantConfig(state_frac_bits=11, decay_bits=12 if neuron == "lif" else 14,
                         layer_state_frac_bits={1: 10}, weight_bits=7 if seed > 4 else 8)
    net = _quantized(neuron, seed, config, "counts" if seed % 2 else "binary")
    src = tmp_path / "model.net"
    netfile.write(src, net)
    path = export_to("nir", src, tmp_path / "model.nir")
    graph = nir.read(str(path))                      # a plain NIR file: other readers see the primitives
    types = [type(n).__name__ for n in graph.nodes.values()]
    assert types.count("Input") == types.count("Output") == 1
    back, info, _ = nir_io.import_nir(path)
    assert _same_integers(net, back)
    assert (back.meta.steps, back.meta.dt, back.meta.input_encoding) == (40, 2e-3, net.meta.input_encoding)
    assert [layer["rule"].startswith("silava metadata") for layer in info.layers] == [True] * 3


@pytest.mark.parametrize("seed", [0, 1])
def test_round_trip_through_the_nir_fields_alone(seed, tmp_path):
    """CUBA and LI are NIR primitives: without our metadata the CubaLIF / LI fields give the same integers
    (gains τ/dt · dt/τ within 1e-6 of 1 are exactly 1)."""
    net = _quantized("lif", seed, QuantConfig())
    path = tmp_path / "m.nir"
    nir_io.export_nir(folded_from_network(net), path, dt=net.meta.dt, steps=net.meta.steps)
    back, info, _ = nir_io.import_nir(path, use_metadata=False)
    assert [layer["nir_type"] for layer in info.layers] == ["CubaLIF", "CubaLIF", "LI"]
    assert _same_integers(net, back)


def test_silif_is_a_lif_for_other_readers(tmp_path):
    net = _quantized("silif", 0, QuantConfig())
    path = tmp_path / "m.nir"
    nir_io.export_nir(folded_from_network(net), path, dt=1e-3, steps=40)
    graph = nir.read(str(path))
    lif = graph.nodes["layer0_silif"]
    assert isinstance(lif, nir.LIF) and lif.metadata["silava"]["kind"] == "SILIF"
    alpha = net.layers[0].float_params["alpha"]
    np.testing.assert_allclose(lif.tau, 1e-3 / (1 - alpha))
    back, _, _ = nir_io.import_nir(path, use_metadata=False)          # read as a plain LIF: a CUBA layer
    assert [layer.neuron_type for layer in back.layers] == ["CUBA", "CUBA", "LI"]


# --------------------------------------------------------------------------- a graph snnTorch writes

def snntorch_net(seed: int, leaky_reset: str, leaky_delay: bool = True):
    """``Linear → Leaky → Linear(no bias) → Synaptic(zero, no delay) → Linear → Leaky(output)``."""
    torch.manual_seed(seed)
    f, h1, h2, c = SIZES

    def uniform(n, lo, hi):
        return torch.empty(n).uniform_(lo, hi)

    leaky = dict(init_hidden=True, reset_mechanism=leaky_reset, reset_delay=leaky_delay)
    net = torch.nn.Sequential(
        torch.nn.Linear(f, h1), snn.Leaky(beta=uniform(h1, 0.8, 0.95), threshold=uniform(h1, 0.8, 1.2), **leaky),
        torch.nn.Linear(h1, h2, bias=False),
        snn.Synaptic(alpha=uniform(h2, 0.5, 0.9), beta=uniform(h2, 0.7, 0.95), threshold=torch.ones(h2),
                     init_hidden=True, reset_mechanism="zero", reset_delay=False),
        torch.nn.Linear(h2, c), snn.Leaky(beta=uniform(c, 0.8, 0.95), threshold=torch.ones(c), output=True, **leaky))
    with torch.no_grad():
        for m in net:
            if isinstance(m, torch.nn.Linear):
                m.weight.mul_(2.0)
    return net


def snntorch_run(net, x: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """snnTorch's own simulation: spikes and membranes of every spiking layer, ``[B, T, n]``."""
    from snntorch import utils

    utils.reset(net)
    spikes: list[list] = [[], [], []]
    mems: list[list] = [[], [], []]
    xt = torch.tensor(x, dtype=torch.float32)
    with torch.no_grad():
        for t in range(xt.shape[1]):
            h, k = xt[:, t], 0
            for m in net:
                h = m(h)
                if isinstance(m, snn.SpikingNeuron):
                    h = h[0] if isinstance(h, tuple) else h
                    spikes[k].append(h.numpy().copy())
                    mems[k].append(m.mem.numpy().copy())
                    k += 1
    return [np.stack(s, 1) for s in spikes], [np.stack(m, 1) for m in mems]


def write_snntorch_nir(net, path) -> None:
    from snntorch.export_nir import export_to_nir

    nir.write(str(path), export_to_nir(net, torch.zeros(SIZES[0])))


def layer0_bound(layer: netfile.Layer, x: np.ndarray, v_float: np.ndarray, s: int) -> np.ndarray:
    """Per step and neuron, the bound on |V/S − v| of a CUBA layer with iDecay = 4096 (u = A) while
    its spikes agree with the float model:

        e_t = β_q e_{t−1} + |β_q − β| |v_{t−1}| + Σ_j x_j |w_j 64/S − W''_j| + |64 b/S − c''| + 1/S

    (the decay constant's rounding, the weights' and the bias's rounding, one truncated product);
    a spike resets both to 0, and so the error.
    """
    fp = layer.float_params
    S = 2.0**s
    beta_q = 1.0 - layer.neuron["vDecay"] / 4096.0
    beta = 1.0 - fp["vol_decay"]
    dw = np.abs(layer.weight * 64.0 / S - fp["weight"])               # [n, F]
    dc = np.abs(layer.bias * 64.0 / S - fp["bias"])
    per_step = (x != 0).astype(np.float64) @ dw.T + dc + 1.0 / S       # [B, T, n]
    bound = np.zeros_like(v_float)
    prev = np.zeros(v_float.shape[::2])
    for t in range(v_float.shape[1]):
        v_prev = v_float[:, t - 1] if t else np.zeros_like(prev)
        prev = beta_q * prev + np.abs(beta_q - beta) * np.abs(v_prev) + per_step[:, t]
        bound[:, t] = prev
        prev = np.where(v_float[:, t] == 0, 0.0, prev)                  # reset (float v is exactly 0)
    return bound


@pytest.mark.parametrize("leaky_reset,reset_arg", [("zero", ["zero"]), ("subtract", ["subtract", "3=zero"])])
def test_snntorch_graph_against_snntorch(leaky_reset, reset_arg, tmp_path, capsys):
    from silava.app.cli import main

    net = snntorch_net(0, leaky_reset)
    write_snntorch_nir(net, tmp_path / "snn.nir")
    x = (np.random.default_rng(3).random((16, STEPS, SIZES[0])) < 0.2).astype(np.int64)
    ref_spikes, ref_mem = snntorch_run(net, x.astype(np.float32))
    assert main(["import", str(tmp_path / "snn.nir"), "-o", str(tmp_path / "snn.net"), "--dt", "1e-4",
                 "--steps", str(STEPS), "--reset", *reset_arg]) == 0
    assert "wrote" in capsys.readouterr().out
    q = netfile.read(tmp_path / "snn.net")
    kinds = [layer.neuron_type for layer in q.layers]
    assert kinds == (["CUBA"] * 3 if leaky_reset == "zero" else ["SILIF", "CUBA", "SILIF"])
    # the imported float network is snnTorch's network
    fl = simulate_folded(folded_from_network(q), x.astype(np.float64))
    for i in range(3):
        assert ref_spikes[i].sum() > 0
        np.testing.assert_array_equal(fl["spikes"][i], ref_spikes[i])
    # the fixed-point network: close, with the quantization error bounded in the first layer
    sim = simulate(q, x, record=True)
    agree = [float(np.mean(sim.spikes[i] == ref_spikes[i])) for i in range(3)]
    print(f"spike agreement with snnTorch per layer ({leaky_reset}): {agree}")
    assert agree[0] >= 0.97 and min(agree) >= 0.9, agree
    if leaky_reset == "zero":
        th = np.asarray(net[1].threshold)                     # snnTorch's θ: our layer is scaled by 1/θ
        s = int(q.layers[0].neuron["stateFracBits"])
        v_hw = sim.states[0]["V"] / 2.0**s
        v_fl = fl["states"][0]["v"]
        np.testing.assert_allclose(v_fl * th, np.where(ref_spikes[0] > 0, 0, ref_mem[0]), atol=2e-6)
        bound = layer0_bound(q.layers[0], x, v_fl, s)
        same_so_far = np.cumsum(sim.spikes[0] != ref_spikes[0], axis=1) == 0
        err = np.abs(v_hw - v_fl)
        assert np.all(err[same_so_far] <= bound[same_so_far] + 1e-12)
        print(f"layer 0 |V/S - v|: max {err[same_so_far].max():.4g}, mean {err[same_so_far].mean():.3g}; bound max "
              f"{bound[same_so_far].max():.4g}, mean {bound[same_so_far].mean():.3g}")
        assert 0 < err[same_so_far].max() < 0.1


def test_planted_gain_bug_is_caught(tmp_path, monkeypatch):
    """A wrong synaptic gain in the CubaLIF rule (w_in ignored) changes the imported float network."""
    net = snntorch_net(1, "zero")
    write_snntorch_nir(net, tmp_path / "snn.nir")
    x = (np.random.default_rng(4).random((8, STEPS, SIZES[0])) < 0.2).astype(np.int64)
    ref, _ = snntorch_run(net, x.astype(np.float32))
    real = nir_io._arr

    def bad_arr(node, key, n):
        return np.ones(n) if key == "w_in" else real(node, key, n)

    monkeypatch.setattr(nir_io, "_arr", bad_arr)
    q, _, _ = nir_io.import_nir(tmp_path / "snn.nir", dt=1e-4, steps=STEPS)
    fl = simulate_folded(folded_from_network(q), x.astype(np.float64))
    assert not np.array_equal(fl["spikes"][1], ref[1])


@needs_lava
@pytest.mark.lava
def test_snntorch_graph_runs_on_lava(tmp_path):
    """A snnTorch user's NIR file on our Lava processes: same outputs as hwsim (and close to snnTorch)."""
    from silava.lava_models.network import run_samples

    net = snntorch_net(2, "subtract")
    write_snntorch_nir(net, tmp_path / "snn.nir")
    q, _, _ = nir_io.import_nir(tmp_path / "snn.nir", dt=1e-4, steps=20, reset={"*": "subtract", "3": "zero"})
    x = (np.random.default_rng(5).random((3, 20, SIZES[0])) < 0.25).astype(np.int64)
    sim = simulate(q, x)
    lava = run_samples(q, x, record=True, progress=False, timeout_s=300)
    outs = [*lava["spikes"], lava["readout"]]               # the last layer spikes: its spikes are the readout
    mismatches = sum(int(np.sum(a != b)) for a, b in zip(outs, sim.spikes))
    ref, _ = snntorch_run(net, x.astype(np.float32))
    agree = [float(np.mean(a == r[:, :20])) for a, r in zip(outs, ref)]
    print(f"Lava vs hwsim: {mismatches} mismatching spikes of {sum(a.size for a in outs)}; "
          f"Lava vs snnTorch spike agreement per layer: {agree}")
    assert mismatches == 0 and min(agree) >= 0.9


# --------------------------------------------------------------------------- refusals

def _graph(*nodes, edges=None, metadata=None):
    names = [f"n{i}" for i in range(len(nodes))]
    edges = edges or list(zip(names[:-1], names[1:]))
    return nir.NIRGraph(nodes=dict(zip(names, nodes)), edges=edges, metadata=metadata or {}, type_check=False)


def _lif(n, **kw):
    return nir.LIF(tau=np.full(n, 1e-3), r=np.full(n, 10.0), v_leak=np.zeros(n), v_threshold=np.ones(n),
                   v_reset=np.zeros(n), **kw)


@pytest.mark.parametrize("nodes,message", [
    ((nir.Input(np.array([3])), nir.Linear(np.ones((2, 3))), nir.Threshold(np.ones(2)), nir.Output(np.array([2]))),
     r"'n2' \(Threshold\) cannot be mapped"),
    ((nir.Input(np.array([3])), nir.Linear(np.ones((2, 3))), nir.Linear(np.ones((2, 2))), _lif(2),
      nir.Output(np.array([2]))), "follows another linear node"),
    ((nir.Input(np.array([3])), _lif(3), nir.Output(np.array([3]))), "has no Affine/Linear node before it"),
    ((nir.Input(np.array([3])), nir.Affine(np.ones((2, 3)), np.ones(2)),
      nir.CubaLIF(tau_syn=np.full(2, 2e-4), tau_mem=np.full(2, 1e-3), r=np.full(2, 10.0), v_leak=np.zeros(2),
                  v_threshold=np.ones(2)), nir.Output(np.array([2]))), "acts on the synaptic current"),
    ((nir.Input(np.array([3])), nir.Linear(np.ones((2, 3))),
      nir.LI(tau=np.full(2, 1e-3), r=np.full(2, 10.0), v_leak=np.zeros(2)), nir.Linear(np.ones((2, 2))), _lif(2),
      nir.Output(np.array([2]))), "only as the last one"),
    ((nir.Input(np.array([3])), nir.Linear(np.ones((2, 3))), _lif(2, ), nir.Output(np.array([2]))), None),
])
def test_unmappable_graphs_are_refused_in_one_line(nodes, message):
    graph = _graph(*nodes)
    if message is None:
        folded, info = nir_io.from_nir(graph, dt=1e-4)
        assert info.layers[0]["kind"] == "CUBA"
        with pytest.raises(nir_io.NirError, match="shorter than dt"):
            nir_io.from_nir(graph, dt=1e-2)
        return
    with pytest.raises(nir_io.NirError, match=message) as exc:
        nir_io.from_nir(graph, dt=1e-4)
    assert "\n" not in str(exc.value)


def test_recurrent_subgraph_and_missing_dt(tmp_path):
    sub = _graph(nir.Input(np.array([2])), _lif(2), nir.Output(np.array([2])))
    with pytest.raises(nir_io.NirError, match="subgraph"):
        nir_io.from_nir(_graph(nir.Input(np.array([3])), nir.Linear(np.ones((2, 3))), sub, nir.Output(np.array([2]))),
                        dt=1e-4)
    plain = _graph(nir.Input(np.array([3])), nir.Linear(np.ones((2, 3))), _lif(2), nir.Output(np.array([2])))
    with pytest.raises(nir_io.NirError, match="pass --dt"):
        nir_io.from_nir(plain)
    with pytest.raises(nir_io.NirError, match="CubaLIF.*reset by subtraction"):
        nir_io.from_nir(_graph(nir.Input(np.array([3])), nir.Linear(np.ones((2, 3))),
                               nir.CubaLIF(tau_syn=np.full(2, 2e-4), tau_mem=np.full(2, 1e-3), r=np.full(2, 10.0),
                                           v_leak=np.zeros(2), v_threshold=np.ones(2)), nir.Output(np.array([2]))),
                        dt=1e-4, reset="subtract")
    with pytest.raises(nir_io.NirError, match="no node 'x9'"):
        nir_io.from_nir(plain, dt=1e-4, reset={"x9": "zero"})


def test_cli_errors_are_one_line_and_write_nothing(tmp_path, capsys):
    from silava.app.cli import main

    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"not hdf5")
    assert main(["import", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not an HDF5 file" in err
    graph = _graph(nir.Input(np.array([3])), nir.Linear(np.ones((2, 3))), nir.Threshold(np.ones(2)),
                   nir.Output(np.array([2])))
    nir.write(str(tmp_path / "t.nir"), graph)
    assert main(["import", str(tmp_path / "t.nir"), "--dt", "1e-3", "--steps", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Threshold" in err
    assert main(["import", str(tmp_path / "t.nir"), "--reset", "sideways"]) == 2
    assert "choose one of" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.nir", "t.nir"]


def test_cli_settings_override_the_stored_ones(tmp_path, capsys):
    from silava.app.cli import main

    net = _quantized("silif", 0, QuantConfig(decay_bits=14, state_frac_bits=11))
    nir_io.export_nir(folded_from_network(net), tmp_path / "m.nir", dt=1e-3, steps=40,
                      quantization=net.meta.quantization)
    assert main(["import", str(tmp_path / "m.nir"), "--weight-bits", "6", "-q"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'm.net'}"
    q = netfile.read(tmp_path / "m.net").meta.quantization
    assert (q["weight_bits"], q["decay_bits"], q["state_frac_bits"]) == (6, 14, 11)
    assert main(["import", str(tmp_path / "m.nir"), "--weight-bits", "12", "-o", str(tmp_path / "x.net")]) == 2
    assert "weight bits 12" in capsys.readouterr().err and not (tmp_path / "x.net").exists()
