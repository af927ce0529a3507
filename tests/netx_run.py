"""Helpers: run a netx-layout file through lava-dl's ``netx.hdf5.Network`` (or silava's subclass) on
Lava fixed_pt, and write files with lava-dl slayer's own ``export_hdf5``."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def run_netx(net, path, x: np.ndarray, *, plain: bool = False, reset: bool = True) -> list[np.ndarray]:
    """Every layer's output per step, ``[N, P, n]`` (flat C order), of ``path`` built by netx.

    ``net``: the same network as silava reads it (for sizes, shapes and the timeline). ``plain``:
    lava-dl's own ``netx.hdf5.Network``, else ``silava.lava_models.netx.Network``. Samples run back
    to back, one per period ``P`` (``reset``: netx's ``reset_interval = P``, with the offset that
    makes layer i reset at its step ``d_i + 1``). The source feeds ``net.inp``, or an input layer's
    neuron directly (netx leaves ``Input.inp`` unconnected). With ``plain``, an LI readout written
    as CUBA is read from its ``v`` (a Monitor): netx's CUBA sends spikes (none), not the value.
    """
    from silava import lava_models  # noqa: F401
    from lava.lib.dl import netx
    from lava.proc.io.dataloader import SpikeDataloader
    from lava.proc.io.extractor import Extractor, PyLoihiExtractorModel

    from silava.lava_models.builder import SampleFeed, from_lava_order, period
    from silava.lava_models.netx import Network
    from silava.lava_models.runner import LavaSession, sim_config

    from layer_equiv import settled_shm, shm_names

    before = shm_names()
    N, P = len(x), period(net)
    first = net.layers[0]
    kw = dict(reset_interval=P, reset_offset=1 if first.synaptic else 0) if reset else {}
    if first.synaptic:            # netx's Network(input_message_bits=...): the first Dense's payload
        kw["input_message_bits"] = int(first.input_message_bits)
    lnet = (netx.hdf5.Network if plain else Network)(net_config=str(path), **kw)
    feed = SampleFeed(x, P, int(first.input_message_bits), shape=first.in_shape, binarize=not first.synaptic)
    source = SpikeDataloader(dataset=feed, interval=P, offset=P - 1)
    source.data.init = feed.sample(0)
    source.s_out.connect(lnet.inp if first.synaptic else lnet.layers[0].neuron.a_in)
    taps = []
    for block in lnet.layers:
        tap = Extractor(shape=block.out.shape, buffer_size=N * P)
        block.out.connect(tap.in_port)
        taps.append(tap)
    mon = None
    if plain and net.layers[-1].neuron_type == "LI":
        from lava.proc.monitor.process import Monitor

        mon = Monitor()
        mon.probe(lnet.layers[-1].neuron.v, N * P)
    with LavaSession(lnet, sim_config("fixed_pt", {Extractor: PyLoihiExtractorModel}), timeout_s=300) as s:
        s.run(N * P)
        got = [from_lava_order(np.stack([tap.receive() for _ in range(N * P)]), layer.neuron_shape)
               .reshape(N, P, -1).astype(np.int64) for tap, layer in zip(taps, net.layers)]
        if mon is not None:
            v = mon.get_data()[lnet.layers[-1].neuron.name]["v"]
            got[-1] = np.rint(v).astype(np.int64).reshape(N, P, -1)
    settled_shm(before)
    return got


def output_mismatches(net, x: np.ndarray, got: list[np.ndarray], *, first_sample_only: bool = False) -> int:
    """Values that differ from hwsim's lava timeline: every step of sample 0, then each later
    sample from every layer's reset step on (``first_sample_only``: sample 0 only)."""
    from silava.hwsim.simulate import simulate

    ref = simulate(net, x, timeline="lava")
    delays = net.delays()
    bad = 0
    for i, out in enumerate(ref.outputs):
        want = out.astype(np.int64)
        bad += int(np.count_nonzero(got[i][0] != want[0]))
        if not first_sample_only:
            bad += int(np.count_nonzero(got[i][1:, delays[i]:] != want[1:, delays[i]:]))
    return bad


# ------------------------------------------------------------------ files written by lava-dl slayer

def cuba_params(**kw) -> dict:
    return {"threshold": 1.25, "current_decay": 0.25, "voltage_decay": 0.03, "requires_grad": False, **kw}


def slayer_blocks(kind: str, seed: int = 0) -> tuple[list, tuple]:
    """slayer blocks of a small network of ``kind`` and the input shape of one step (without N, T)."""
    import torch

    from silava import lava_models  # noqa: F401  (slayer imports through the compat layer)
    from lava.lib.dl import slayer

    torch.manual_seed(seed)
    p = cuba_params()
    if kind == "dense":
        return [slayer.block.cuba.Dense(p, 20, 16, weight_scale=2),
                slayer.block.cuba.Dense(p, 16, 6, weight_scale=2)], (20,)
    if kind == "rec":
        return [slayer.block.cuba.Recurrent(p, 20, 16, weight_scale=2),
                slayer.block.cuba.Dense(p, 16, 6, weight_scale=2)], (20,)
    if kind == "conv":
        return [slayer.block.cuba.Input(None, delay_shift=False), slayer.block.cuba.Conv(p, 2, 4, 3, padding=1, weight_scale=2),
                slayer.block.cuba.Conv(p, 4, 4, 3, padding=1, stride=2, weight_scale=2),
                slayer.block.cuba.Flatten(), slayer.block.cuba.Dense(p, 4 * 3 * 3, 6, weight_scale=2)], (2, 6, 6)
    if kind == "sdnn":
        sp = {"threshold": 0.1, "activation": torch.nn.functional.relu, "requires_grad": False}
        return [slayer.block.sigma_delta.Input(sp), slayer.block.sigma_delta.Dense(sp, 12, 10, weight_scale=2),
                slayer.block.sigma_delta.Dense(sp, 10, 8, weight_scale=2),
                slayer.block.sigma_delta.Output(sp, 8, 4)], (12,)
    if kind == "sdnn_conv":
        sp = {"threshold": 0.1, "activation": torch.nn.functional.relu, "requires_grad": False}
        return [slayer.block.sigma_delta.Input(sp), slayer.block.sigma_delta.Conv(sp, 2, 3, 3, padding=1,
                                                                                 weight_scale=2),
                slayer.block.sigma_delta.Flatten(), slayer.block.sigma_delta.Dense(sp, 3 * 5 * 5, 8, weight_scale=2),
                slayer.block.sigma_delta.Output(sp, 8, 3)], (2, 5, 5)
    raise ValueError(kind)


def slayer_forward(blocks: list, x):
    """Run the blocks on ``x`` (N, C..., T) in order (slayer infers the neuron shapes on the first pass)."""
    for block in blocks:
        x = block(x)
    return x


def slayer_export(blocks: list, path: Path) -> Path:
    """Write ``blocks`` as lava-dl's tutorials do: a ``layer`` group, one ``export_hdf5`` group per block."""
    import h5py

    with h5py.File(path, "w") as h:
        layers = h.create_group("layer")
        for i, block in enumerate(blocks):
            block.export_hdf5(layers.create_group(f"{i}"))
    return path


def slayer_file(kind: str, path: Path, *, seed: int = 0, train_steps: int = 0) -> Path:
    """A file of ``kind`` written by slayer's ``export_hdf5`` after a forward pass (shapes) and
    ``train_steps`` Adam steps on random data (a "slayer-trained" file; not for ``rec``: slayer's
    recurrent block keeps a persistent state that its own backward pass refuses)."""
    import torch

    blocks, shape = slayer_blocks(kind, seed)
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand((4,) + shape + (16,), generator=gen)
    if not kind.startswith("sdnn"):
        x = (x < 0.3).float()
    params = [p for b in blocks for p in b.parameters() if p.requires_grad]
    if train_steps and params and kind != "rec":
        opt = torch.optim.Adam(params, lr=0.01)
        target = torch.randint(0, 3, (4,), generator=gen)
        for _ in range(train_steps):
            opt.zero_grad()
            out = slayer_forward(blocks, x)
            loss = torch.nn.functional.cross_entropy(out.sum(-1)[:, :3], target)
            loss.backward()
            opt.step()
    with torch.no_grad():
        slayer_forward(blocks, x)
    return slayer_export(blocks, path)
