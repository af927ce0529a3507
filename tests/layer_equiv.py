"""Helpers: run a model.net with silava's Lava builder and compare every step with hwsim."""
from __future__ import annotations

import numpy as np

#: kinds whose states silava's builder resets with Lava ``Reset`` processes; a Monitor reading the
#: state in the same management phase may see it before or after the reset (race), so that one
#: step (the step before the reset step) is not compared for them; their outputs always are
RESET_BY_PROCESS = ("DELTA", "SIGMA_DELTA", "SIGMA")


def settled_shm(before: set, timeout_s: float = 15.0) -> None:
    """Wait until the shared-memory segments that appeared since ``before`` and no live process maps
    are gone. Lava's shared-memory manager unlinks them after ``stop()`` returns; a network with many
    processes (the Reset processes of recurrent and sigma-delta layers) on a loaded machine takes a
    few seconds, which ``shm_guard`` would otherwise report as a leak. A real leak outlasts the wait."""
    import os
    import time

    from conftest import _mapped_shm_names

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        new = {n for n in set(os.listdir("/dev/shm")) - before if n.startswith(("psm_", "wnsm_"))}
        if not new or not (new - _mapped_shm_names()):
            return
        time.sleep(0.25)


def shm_names() -> set:
    import os

    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


def lava_full(net, x: np.ndarray) -> tuple[list[np.ndarray], list[dict]]:
    """Lava fixed_pt over all periods: per layer outputs [N, P, n] and states {name: [N, P, n]}."""
    from silava import lava_models  # noqa: F401
    from silava.lava_models.builder import build_network

    before = shm_names()
    lnet = build_network(net, "fixed_pt", inputs=x, record_spikes=True, record_states=True)
    N, P = lnet.n_samples, lnet.period
    with lnet.session(timeout_s=300) as session:
        session.run(lnet.total_steps)
        last, outs = lnet.read(lnet.total_steps)
        states = lnet.read_states()
    settled_shm(before)
    outs = [o.astype(np.int64) for o in outs] + [last]
    outs = [o.reshape(N, P, -1) for o in outs]
    states = [{k: v.reshape(N, P, -1) for k, v in layer.items()} for layer in states]
    return outs, states


def mismatches(net, x: np.ndarray, outs: list, states: list) -> list[str]:
    """Every (layer, sample, output/state) where the Lava run differs from hwsim's lava timeline.

    Sample 0 is compared at every step; later samples from each layer's reset step on (before it
    the state carries over from the previous sample, by design).
    """
    from silava.hwsim.simulate import simulate

    ref = simulate(net, x, timeline="lava", record=True)
    delays = net.delays()
    bad = []
    for i, layer in enumerate(net.layers):
        for n in range(x.shape[0]):
            start = 0 if n == 0 else delays[i]
            where = f"layer {i} ({layer.layer_type} {layer.neuron_type}) sample {n}"
            got, want = outs[i][n, start:], ref.outputs[i][n, start:].astype(np.int64)
            if not np.array_equal(got, want):
                t = int(np.argwhere(got != want)[0][0]) + start
                bad.append(f"{where}: output differs first at step {t}")
            for name, arr in ref.states[i].items():
                got, want = states[i][name][n, start:].copy(), arr[n, start:].copy()
                skip = delays[i] - 1 - start
                if layer.neuron_type in RESET_BY_PROCESS and skip >= 0:
                    got[skip] = want[skip] = 0
                if not np.array_equal(got, want):
                    t = int(np.argwhere(got != want)[0][0]) + start
                    bad.append(f"{where}: state {name} differs first at step {t}")
    return bad


def activity(net, x: np.ndarray) -> list[int]:
    """Non-zero outputs per layer (hwsim, logical timeline): a test network must be active."""
    from silava.hwsim.simulate import simulate

    return [int(np.count_nonzero(o)) for o in simulate(net, x).outputs]
