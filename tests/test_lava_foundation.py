"""Real Lava on Python 3.11: the compat layer, the runner, and lava-dl's netx.

These run the actual Lava CPU simulator (multiprocessing backend).
"""
from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, needs_lava

pytestmark = [needs_lava, pytest.mark.lava]


def lif_reference(data: np.ndarray, weights: np.ndarray, du: int, dv: int, vth: int,
                  bias_mant: int, bias_exp: int) -> np.ndarray:
    """Expected spikes of source -> Dense -> LIF in Lava's fixed_pt semantics.

    Written here with plain numpy integer arithmetic from the Lava LIF definition:
    Dense delivers W @ s(t-1) at step t (one step of delay, zeros at t=1);
    u = trunc0(u * (4096 - (du + 1)) / 4096) + (a << 6), wrapped to 24 bits;
    v = trunc0(v * (4096 - dv) / 4096) + u + (bias_mant << bias_exp), saturated to 24 bits;
    spike if v > vth << 6, then v = 0.
    """
    n_out, steps = weights.shape[0], data.shape[1]
    u = np.zeros(n_out, dtype=np.int64)
    v = np.zeros(n_out, dtype=np.int64)
    prev_in = np.zeros(data.shape[0], dtype=np.int64)
    out = np.zeros((n_out, steps), dtype=np.int64)
    for t in range(steps):
        a = weights.astype(np.int64) @ prev_in
        prod = u * (4096 - (du + 1))
        u = np.sign(prod) * (np.abs(prod) >> 12) + (a << 6)
        u = np.where(u > 2**23, u - 2**24, u)
        u = np.where(u <= -(2**23), u + 2**24, u)
        prod = v * (4096 - dv)
        v = np.sign(prod) * (np.abs(prod) >> 12) + u + (bias_mant << bias_exp)
        v = np.clip(v, -(2**23 - 1), 2**23 - 1)
        s = v > (vth << 6)
        v[s] = 0
        out[:, t] = s
        prev_in = data[:, t].astype(np.int64)
    return out


def test_dense_lif_matches_numpy_integer_reference(shm_guard):
    from silava import lava_models  # noqa: F401  (installs the compat layer)
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF

    from silava.lava_models.runner import run_steps, sim_config

    rng = np.random.default_rng(7)
    steps, n_in, n_out = 60, 12, 8
    data = (rng.random((n_in, steps)) < 0.3).astype(np.int32)
    weights = (rng.integers(-128, 128, (n_out, n_in)) * 2).astype(np.int32)  # even: 8-bit mantissa
    params = dict(du=409, dv=205, vth=300, bias_mant=25, bias_exp=6)

    src = Source(data=data)
    dense = Dense(weights=weights)
    lif = LIF(shape=(n_out,), **params)
    sink = Sink(shape=(n_out,), buffer=steps)
    src.s_out.connect(dense.s_in)
    dense.a_out.connect(lif.a_in)
    lif.s_out.connect(sink.a_in)
    got = run_steps(lif, steps, sim_config("fixed_pt"), timeout_s=60, read=lambda: sink.data.get())

    expected = lif_reference(data, weights, **params)
    assert expected.sum() > 10, "test network should spike"
    np.testing.assert_array_equal(got.astype(np.int64), expected)


def test_lava_dl_netx_matches_slayer(tmp_path, shm_guard):
    """lava-dl's documented equivalence: slayer CUBA output == netx network in Lava fixed_pt."""
    import h5py
    import torch

    from silava import lava_models  # noqa: F401
    from lava.lib.dl import netx, slayer
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    from silava.lava_models.runner import run_steps, sim_config

    torch.manual_seed(0)
    params = {"threshold": 1.25, "current_decay": 0.25, "voltage_decay": 0.03, "requires_grad": False}
    blocks = torch.nn.ModuleList([
        slayer.block.cuba.Dense(params, 20, 16, weight_scale=2, weight_norm=False),
        slayer.block.cuba.Dense(params, 16, 4, weight_scale=2, weight_norm=False),
    ]).eval()
    steps = 100
    x = (torch.rand(1, 20, steps) < 0.2).float()
    with torch.no_grad():
        y = x
        for block in blocks:
            y = block(y)
    expected = y[0].numpy()

    path = tmp_path / "tiny.net"
    with h5py.File(path, "w") as h:
        layers = h.create_group("layer")
        for i, block in enumerate(blocks):
            block.export_hdf5(layers.create_group(str(i)))

    net = netx.hdf5.Network(net_config=str(path))
    src = Source(data=x[0].numpy().astype(np.int32))
    sink = Sink(shape=net.out.shape, buffer=steps)
    src.s_out.connect(net.inp)
    net.out.connect(sink.a_in)
    got = run_steps(net, steps, sim_config("fixed_pt"), timeout_s=60, read=lambda: sink.data.get())

    assert expected.sum() > 20
    np.testing.assert_array_equal(got, expected)


def _failing_net(kind: str, steps: int):
    from lava.proc.dense.process import Dense
    from lava.proc.io.source import RingBuffer as Source

    from lava_fixtures.failing import Failing, Hanging

    src = Source(data=np.ones((2, steps), np.int32))
    dense = Dense(weights=np.eye(2, dtype=np.int32))
    proc = Failing(shape=(2,), fail_at=3) if kind == "raise" else Hanging(shape=(2,), hang_at=3)
    src.s_out.connect(dense.s_in)
    dense.a_out.connect(proc.a_in)
    return proc


def _healthy_run() -> float:
    from lava.proc.dense.process import Dense
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF

    from silava.lava_models.runner import LavaSession

    src = Source(data=np.ones((2, 5), np.int32))
    dense = Dense(weights=np.eye(2, dtype=np.int32) * 10)
    lif = LIF(shape=(2,), vth=10_000, du=4095, dv=0)
    src.s_out.connect(dense.s_in)
    dense.a_out.connect(lif.a_in)
    with LavaSession(lif, timeout_s=60) as session:
        session.run(3)
        first = lif.v.get().copy()
        session.run(2)  # a second chunk on the same network
        return float(first[0]), float(lif.v.get()[0])


def test_process_model_exception_is_reported_and_next_run_works(shm_guard):
    from silava import lava_models  # noqa: F401
    from silava.lava_models.runner import LavaRunError, LavaTimeoutError, run_steps

    proc = _failing_net("raise", 10)
    start = time.monotonic()
    with pytest.raises(LavaRunError) as info:
        run_steps(proc, 10, timeout_s=30)
    assert not isinstance(info.value, LavaTimeoutError)
    assert "ValueError: boom at step 3" in str(info.value)
    assert "failing.py" in str(info.value)
    assert time.monotonic() - start < 30

    # du=4095 -> current u = a << 6 each step; v integrates it: v_t = t' * 640 after the 1-step delay
    assert _healthy_run() == (2 * 640.0, 4 * 640.0)


def test_hanging_process_model_times_out_and_next_run_works(shm_guard):
    from silava import lava_models  # noqa: F401
    from silava.lava_models.runner import LavaTimeoutError, run_steps

    proc = _failing_net("hang", 10)
    start = time.monotonic()
    with pytest.raises(LavaTimeoutError, match="did not finish within 2 s"):
        run_steps(proc, 10, timeout_s=2)
    assert time.monotonic() - start < 15
    assert _healthy_run() == (2 * 640.0, 4 * 640.0)


def test_compat_layer_is_what_makes_lava_import():
    """Without lava_models the 3.11 dataclass defect breaks `import lava`; with it, it works."""
    code_plain = "import lava.magma.compiler.var_model"
    code_fixed = (
        "import lava_models, dataclasses\n"
        "from lava.magma.compiler.var_model import ByteEncoder, CoreEncoder\n"
        "b = ByteEncoder(); b.ptr = 3\n"               # still mutable, as on Python 3.10
        "assert ByteEncoder(1, 2, 3) == ByteEncoder(1, 2, 3)\n"
        "assert CoreEncoder().x == ByteEncoder()\n"
        "from lava.lib.dl import netx\n"               # slayer without torchvision
        "import lava.lib.dl.slayer as s\n"
        "try:\n    s.obd.models\nexcept ImportError as e:\n    print('placeholder:', e)\n"
        "print('ok')\n"
    )
    plain = subprocess.run([sys.executable, "-c", code_plain], capture_output=True, text=True, cwd=ROOT)
    fixed = subprocess.run([sys.executable, "-c", code_fixed], capture_output=True, text=True, cwd=ROOT)
    if sys.version_info >= (3, 11):
        assert plain.returncode != 0 and "mutable default" in plain.stderr
    assert fixed.returncode == 0, fixed.stderr
    assert fixed.stdout.strip().endswith("ok")


def test_lava_imports_and_runs_after_a_progress_bar():
    """tqdm fixes multiprocessing's start method; Lava's import-time set_start_method('fork')
    would then raise 'context has already been set' without the compat layer."""
    code = (
        "import tqdm\n"
        "for _ in tqdm.tqdm(range(2), disable=True):\n    pass\n"
        "import lava_models, numpy as np\n"
        "from lava.proc.lif.process import LIF\n"
        "from lava.proc.io.source import RingBuffer\n"
        "from lava.proc.dense.process import Dense\n"
        "from lava_models.runner import run_steps\n"
        "src = RingBuffer(data=np.ones((2, 4), np.int32)); d = Dense(weights=np.eye(2, dtype=np.int32))\n"
        "lif = LIF(shape=(2,), vth=1000, du=4095, dv=0)\n"
        "src.s_out.connect(d.s_in); d.a_out.connect(lif.a_in)\n"
        "print(run_steps(lif, 4, read=lambda: lif.v.get().tolist()))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "[192.0, 192.0]"  # 3 delivered steps x (1 << 6)
