"""silava.core.netfile: round trips, file layout, and one rejection test per malformed case."""
from __future__ import annotations

import copy
import os

import h5py
import numpy as np
import pytest

from conftest import needs_lava
from silava.core import netfile
from silava.core.netfile import Layer, Meta, NetFileError, Network
from silava.export.synth import random_network


def _net(ntype: str = "SILIF", **kw) -> Network:
    return random_network(ntype, [12, 10, 8, 4], steps=20, seed=3, **kw)


def _visit_keys(path) -> list[str]:
    names: list[str] = []
    with h5py.File(path, "r") as f:
        f.visit(names.append)
    return names


# --------------------------------------------------------------------------- round trips

@pytest.mark.parametrize("ntype", ["CUBA", "SILIF", "CSILIF"])
@pytest.mark.parametrize("graded", [0, 8])
def test_round_trip(tmp_path, ntype, graded):
    net = _net(ntype, input_message_bits=graded)
    path = tmp_path / "model.net"
    netfile.write(path, net)
    back = netfile.read(path)
    assert netfile.networks_equal(net, back)
    assert [l.neuron_type for l in back.layers] == [ntype, ntype, "LI"]
    assert back.layers[0].input_message_bits == graded
    assert all(isinstance(l.weight, np.ndarray) and l.weight.dtype == np.int64 for l in back.layers)


def test_round_trip_single_li_no_bias_float_params_and_meta(tmp_path):
    net = random_network("LI", [5, 3], steps=7, seed=1, bias=False, decay_bits=16, state_frac_bits=14)
    layer = net.layers[0]
    layer.float_params = {"weight": np.linspace(-1, 1, 15).reshape(3, 5), "bias": np.zeros(3),
                          "alpha": np.array([0.5, 0.9, 0.99]), "threshold": np.float64(1.0)}
    net.meta = Meta(steps=7, n_inputs=5, n_classes=3, dt=4e-3, source_neuron="li", checkpoint_sha256="ab" * 32,
                    float_accuracy=0.875, task={"name": "randman", "nested": {"a": [1, 2]}},
                    quantization={"decay_bits": 16}, silava_version="0.1.0", created="2025-01-01T00:00:00Z")
    path = tmp_path / "li.net"
    netfile.write(path, net)
    back = netfile.read(path)
    assert netfile.networks_equal(net, back)
    assert back.layers[0].bias is None
    assert back.meta.task == {"name": "randman", "nested": {"a": [1, 2]}}
    assert back.meta.dt == 4e-3 and back.meta.float_accuracy == 0.875
    assert back.state_scale(0) == 2**14


def test_nan_float_accuracy_round_trips(tmp_path):
    net = _net()
    assert np.isnan(net.meta.float_accuracy)
    netfile.write(tmp_path / "a.net", net)
    assert np.isnan(netfile.read(tmp_path / "a.net").meta.float_accuracy)


def test_numeric_layer_order_0_to_10(tmp_path):
    sizes = [3] + list(range(20, 31))  # 11 layers with distinct widths 20..30
    net = random_network("CSILIF", sizes, steps=5, seed=0)
    assert len(net.layers) == 11
    path = tmp_path / "deep.net"
    netfile.write(path, net)
    back = netfile.read(path)
    assert [l.out_features for l in back.layers] == sizes[1:]
    with h5py.File(path, "r") as f:
        assert sorted(f["layer"].keys()) != [str(i) for i in range(11)]  # h5py order is lexicographic
    assert netfile.networks_equal(net, back)


def test_file_layout_matches_netx_conventions(tmp_path):
    net = _net("CUBA", readout=False)
    path = tmp_path / "cuba.net"
    netfile.write(path, net)
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "silava-net" and int(f.attrs["format_version"]) == 2
        for key in netfile.META_ATTRS:
            assert key in f["meta"].attrs
        g = f["layer/0"]
        assert g["type"].dtype == np.dtype("S10") and g["type"].shape == (1,) and g["type"][0] == b"dense"
        assert g["shape"].dtype == np.int64 and list(g["shape"][()]) == [10]
        assert int(g["inFeatures"][()]) == 12 and int(g["outFeatures"][()]) == 10
        assert g["weight"].dtype == np.float32 and g["weight"].shape == (10, 12)
        assert g["bias"].dtype == np.float32
        assert int(g["weightExp"][()]) == 0 and int(g["inputMessageBits"][()]) == 0
        n = g["neuron"]
        assert h5py.check_string_dtype(n["type"].dtype) is not None
        assert n["type"][()] in (b"CUBA", "CUBA")
        for key in ("iDecay", "vDecay", "vThMant", "refDelay"):
            assert n[key].dtype == np.int64
        assert n["gradedSpike"].dtype == np.bool_ and not n["gradedSpike"][()]
    assert not any(k.endswith("messageBits") and not k.endswith("inputMessageBits") for k in _visit_keys(path))


def test_no_message_bits_key_for_any_type(tmp_path):
    for ntype in ("CUBA", "SILIF", "CSILIF"):
        path = tmp_path / f"{ntype}.net"
        netfile.write(path, _net(ntype, input_message_bits=8))
        assert not [k for k in _visit_keys(path) if k.split("/")[-1] == "messageBits"]


# --------------------------------------------------------------------------- validate: malformed networks

def _mutations():
    def missing_key(n):
        del n.layers[1].neuron["alpha"]

    def wrong_shape(n):
        n.layers[1].neuron["alpha"] = n.layers[1].neuron["alpha"][:3]

    def float_weights(n):
        n.layers[0].weight = n.layers[0].weight.astype(np.float64)

    def odd_weight(n):
        n.layers[2].weight[1, 2] = 7

    def weight_too_big(n):
        n.layers[0].weight[0, 0] = 256

    def weight_too_small(n):
        n.layers[0].weight[0, 0] = -258

    def unknown_type(n):
        n.layers[1].neuron_type = "ALIF"

    def no_chain(n):
        n.layers[1].weight = np.zeros((8, 9), dtype=np.int64)

    def bias_shape(n):
        n.layers[0].bias = np.zeros(3, dtype=np.int64)

    def bias_range(n):
        n.layers[0].bias[0] = 5000

    def alpha_range(n):
        n.layers[1].neuron["alpha"][0] = 2**12 + 1

    def decay_bits(n):
        n.layers[1].neuron["decayBits"] = 30

    def state_bits_array(n):
        n.layers[1].neuron["stateFracBits"] = np.full(8, 12)

    def unexpected_key(n):
        n.layers[1].neuron["tau"] = 3

    def message_bits(n):
        n.layers[1].neuron["messageBits"] = 0

    def float_alpha(n):
        n.layers[1].neuron["alpha"] = n.layers[1].neuron["alpha"].astype(np.float64)

    def exp_range(n):
        n.layers[0].weight_exp = 9

    def graded_hidden(n):
        n.layers[1].input_message_bits = 8

    def li_hidden(n):
        n.layers[0].neuron_type = "LI"
        n.layers[0].neuron = {"alpha": np.zeros(10, np.int64), "decayBits": 12, "stateFracBits": 12}

    def meta_n_inputs(n):
        n.meta.n_inputs = 13

    def meta_classes(n):
        n.meta.n_classes = 5

    def meta_steps(n):
        n.meta.steps = 0

    def meta_encoding(n):
        n.meta.input_encoding = "counts"

    def meta_decision(n):
        n.meta.decision = "max"

    def meta_dt(n):
        n.meta.dt = float("nan")

    def meta_task(n):
        n.meta.task = {"x": object()}

    return [
        (missing_key, "layer/1/neuron/alpha: missing key"),
        (wrong_shape, "layer/1/neuron/alpha: expected shape (8,), got (3,)"),
        (float_weights, "layer/0/weight: expected an integer dtype"),
        (odd_weight, "layer/2/weight: odd value 7"),
        (weight_too_big, "layer/0/weight: value 256 out of range [-256, 254]"),
        (weight_too_small, "layer/0/weight: value -258 out of range"),
        (unknown_type, "layer/1/neuron/type: unknown neuron type 'ALIF'"),
        (no_chain, "layer/1"),
        (bias_shape, "layer/0/bias: expected shape (10,), got (3,)"),
        (bias_range, "layer/0/bias: value 5000 out of range [-4096, 4095]"),
        (alpha_range, "layer/1/neuron/alpha: value 4097 out of range [0, 4096]"),
        (decay_bits, "layer/1/neuron/decayBits: value 30 out of range [8, 24]"),
        (state_bits_array, "layer/1/neuron/stateFracBits: expected a scalar int"),
        (unexpected_key, "layer/1/neuron/tau: unexpected key"),
        (message_bits, "layer/1/neuron/messageBits: not allowed"),
        (float_alpha, "layer/1/neuron/alpha: expected an integer dtype"),
        (exp_range, "layer/0/weightExp: value 9 out of range [-8, 7]"),
        (graded_hidden, "layer/1/inputMessageBits"),
        (li_hidden, "layer/1/inputMessageBits: 0, but layer/0 (LI) sends graded values"),
        (meta_n_inputs, "meta/n_inputs"),
        (meta_classes, "meta/n_classes"),
        (meta_steps, "meta/steps"),
        (meta_encoding, "meta/input_encoding"),
        (meta_decision, "meta/decision"),
        (meta_dt, "meta/dt"),
        (meta_task, "meta/task: not JSON-serialisable"),
    ]


@pytest.mark.parametrize("mutate,message", _mutations(), ids=[m.__name__ for m, _ in _mutations()])
def test_validate_rejects(tmp_path, mutate, message):
    net = copy.deepcopy(_net())
    netfile.validate(net)
    mutate(net)
    with pytest.raises(NetFileError) as info:
        netfile.validate(net)
    text = str(info.value)
    assert message in text
    assert "\n" not in text
    # write refuses too, and leaves nothing behind
    path = tmp_path / "bad.net"
    with pytest.raises(NetFileError):
        netfile.write(path, net)
    assert os.listdir(tmp_path) == []


def test_layers_that_do_not_chain_name_both_layers():
    net = copy.deepcopy(_net())
    net.layers[1].weight = np.zeros((8, 9), dtype=np.int64)
    with pytest.raises(NetFileError, match=r"layer/1/inFeatures: 9 does not match layer/0/outFeatures 10"):
        netfile.validate(net)


def test_cuba_rules():
    net = copy.deepcopy(_net("CUBA", readout=False))
    net.layers[1].weight[:] = 0
    with pytest.raises(NetFileError, match=r"layer/1/weight: all zero.*OverflowError"):
        netfile.validate(net)
    net = copy.deepcopy(_net("CUBA", readout=False))
    net.layers[0].weight_exp = -2
    with pytest.raises(NetFileError, match=r"layer/0/weightExp: CUBA layers must have weightExp 0"):
        netfile.validate(net)
    net = copy.deepcopy(_net("CUBA", readout=False))
    net.layers[0].neuron["iDecay"][0] = 0
    with pytest.raises(NetFileError, match=r"layer/0/neuron/iDecay: value 0 out of range \[1, 4096\]"):
        netfile.validate(net)
    net = copy.deepcopy(_net("CUBA", readout=False))
    net.layers[0].neuron["gradedSpike"] = True
    with pytest.raises(NetFileError, match=r"layer/0/neuron/gradedSpike"):
        netfile.validate(net)


# --------------------------------------------------------------------------- read: malformed files

@pytest.fixture
def good_file(tmp_path):
    path = tmp_path / "model.net"
    netfile.write(path, _net())
    return path


def _edit(path, fn):
    with h5py.File(path, "r+") as f:
        fn(f)


@pytest.mark.parametrize("edit,message", [
    (lambda f: f.attrs.__setitem__("format", "other"), "format: expected 'silava-net', got 'other'"),
    (lambda f: f.attrs.__delitem__("format"), "format: expected 'silava-net', got None"),
    (lambda f: f.attrs.__setitem__("format_version", 3), "format_version: expected 1 or 2, got 3 (written by a newer silava"),
    (lambda f: f["meta"].attrs.__delitem__("steps"), "meta/steps: missing attribute"),
    (lambda f: f["meta"].attrs.__delitem__("checkpoint_sha256"), "meta/checkpoint_sha256: missing attribute"),
    (lambda f: f["meta"].attrs.__setitem__("task", "{not json"), "meta/task: not valid JSON"),
    (lambda f: f.__delitem__("meta"), "meta: missing group"),
    (lambda f: f["layer/1/neuron"].__delitem__("beta"), "layer/1/neuron/beta: missing key"),
    (lambda f: f["layer/1"].__delitem__("neuron"), "layer/1/neuron: missing group"),
    (lambda f: f["layer/0"].__delitem__("weight"), "layer/0/weight: missing key"),
    (lambda f: f.__delitem__("layer/1"), "layer/1: missing layer"),
    (lambda f: f["layer"].move("2", "x"), "layer/x: layer groups must be named 0, 1, 2"),
    (lambda f: f["layer/1/neuron"].create_dataset("messageBits", data=0), "layer/1/neuron/messageBits: not allowed"),
    (lambda f: (f["layer/1/neuron"].__delitem__("alpha"),
                f["layer/1/neuron"].create_dataset("alpha", data=np.full(8, 0.5))),
     "layer/1/neuron/alpha: expected int64, got float64"),
    (lambda f: (f["layer/0"].__delitem__("weight"),
                f["layer/0"].create_dataset("weight", data=np.full((10, 12), 1.5, np.float32))),
     "layer/0/weight: non-integer value"),
    (lambda f: (f["layer/0"].__delitem__("weight"),
                f["layer/0"].create_dataset("weight", data=np.full((10, 12), 3, np.float32))),
     "layer/0/weight: odd value 3"),
    (lambda f: (f["layer/1/neuron"].__delitem__("type"),
                f["layer/1/neuron"].create_dataset("type", data="ADRF", dtype=h5py.string_dtype())),
     "layer/1/neuron/type: unknown neuron type 'ADRF'"),
    (lambda f: (f["layer/1"].__delitem__("type"), f["layer/1"].create_dataset("type", data=np.array([b"pool"], "S10"))),
     "layer/1/type: unsupported layer type 'pool'"),
    (lambda f: (f["layer/1"].__delitem__("inFeatures"), f["layer/1"].create_dataset("inFeatures", data=11)),
     "layer/1/weight: expected shape (8, 11)"),
])
def test_read_rejects_malformed_file(good_file, edit, message):
    _edit(good_file, edit)
    with pytest.raises(NetFileError) as info:
        netfile.read(good_file)
    text = str(info.value)
    assert text.startswith("model.net: ")
    assert message in text
    assert "\n" not in text


def test_read_rejects_non_hdf5_and_truncated_files(tmp_path, good_file):
    text_file = tmp_path / "notes.net"
    text_file.write_text("hello, not hdf5\n")
    with pytest.raises(NetFileError, match=r"notes.net: not an HDF5 file"):
        netfile.read(text_file)
    data = good_file.read_bytes()
    for cut in (len(data) // 2, 600, 8):
        trunc = tmp_path / f"trunc{cut}.net"
        trunc.write_bytes(data[:cut])
        with pytest.raises(NetFileError) as info:
            netfile.read(trunc)
        assert f"trunc{cut}.net" in str(info.value)
    with pytest.raises(NetFileError, match="no such file"):
        netfile.read(tmp_path / "missing.net")


def test_write_is_atomic(tmp_path, good_file):
    before = good_file.read_bytes()
    bad = copy.deepcopy(_net())
    bad.layers[0].weight[0, 0] = 3
    with pytest.raises(NetFileError):
        netfile.write(good_file, bad)
    assert good_file.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.net"]
    with pytest.raises(OSError):
        netfile.write(tmp_path / "no_such_dir" / "m.net", _net())
    assert sorted(os.listdir(tmp_path)) == ["model.net"]


def test_state_scale():
    net = _net("CUBA")
    for i, layer in enumerate(net.layers):
        assert net.state_scale(i) == 2 ** layer.neuron["stateFracBits"]
    layer = net.layers[0]
    del layer.neuron["stateFracBits"]
    assert net.state_scale(0) == layer.neuron["vThMant"] << 6


def test_layer_properties():
    layer = Layer("LI", np.zeros((3, 5), np.int64), {"alpha": 1, "decayBits": 12, "stateFracBits": 12})
    assert (layer.in_features, layer.out_features) == (5, 3)
    net = Network([layer], Meta(steps=2, n_inputs=5, n_classes=3))
    netfile.validate(net)  # scalar per-neuron constants are allowed


# --------------------------------------------------------------------------- netx

_NETX_PROBE = r"""
import json, sys
import numpy as np
from silava import lava_models  # installs the Python 3.11 import fixes first
from lava.lib.dl import netx

out = []
for path, num_layers in json.loads(sys.argv[1]):
    net = netx.hdf5.Network(net_config=path, num_layers=num_layers)
    flat = lambda v: np.asarray(v).reshape(-1).astype(np.int64).tolist()
    out.append([{"du": flat(b.neuron.du.init), "dv": flat(b.neuron.dv.init), "vth": flat(b.neuron.vth.init),
                 "bias": flat(b.neuron.bias_mant.init)} for b in net.layers])
print(json.dumps(out))
"""


def netx_summary(specs: list[tuple[str, int | None]]) -> list[list[dict]]:
    """Build each file with lava-dl's ``netx.hdf5.Network`` and return its LIF parameters per layer.

    Runs in this process when Lava can be imported here; otherwise in a fresh interpreter
    (Lava 0.10 calls ``multiprocessing.set_start_method('fork')`` at import, which raises
    "context has already been set" once e.g. a tqdm bar has fixed the start method, unless
    lava_models.compat tolerates it).
    """
    import io
    import json
    import subprocess
    import sys
    from contextlib import redirect_stdout

    from conftest import ROOT

    try:
        from silava import lava_models  # noqa: F401
        from lava.lib.dl import netx  # noqa: F401
    except RuntimeError as exc:
        if "context has already been set" not in str(exc):
            raise
        proc = subprocess.run([sys.executable, "-c", _NETX_PROBE, json.dumps(specs)], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])
    buf = io.StringIO()
    argv = sys.argv
    sys.argv = ["probe", json.dumps(specs)]
    try:
        with redirect_stdout(buf):
            exec(compile(_NETX_PROBE, "<netx probe>", "exec"), {"__name__": "netx_probe"})
    finally:
        sys.argv = argv
    return json.loads(buf.getvalue())


@needs_lava
@pytest.mark.lava
def test_cuba_file_loads_in_lava_dl_netx(tmp_path):
    net = random_network("CUBA", [20, 16, 12, 6], steps=10, seed=5, readout=False)
    path = tmp_path / "cuba.net"
    netfile.write(path, net)
    (blocks,) = netx_summary([(str(path), None)])
    assert len(blocks) == 3
    for block, layer in zip(blocks, net.layers):
        np.testing.assert_array_equal(np.asarray(block["du"]) + 1, layer.neuron["iDecay"])
        np.testing.assert_array_equal(block["dv"], layer.neuron["vDecay"])
        assert block["vth"][0] == layer.neuron["vThMant"]
        np.testing.assert_array_equal(block["bias"], layer.bias)
