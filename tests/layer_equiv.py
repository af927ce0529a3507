"""Helpers: run a model.net with silava's Lava builder and compare every step with hwsim."""
from __future__ import annotations

import numpy as np

#: kinds whose states silava's builder resets with Lava ``Reset`` processes; a Monitor reading the
#: state in the same management phase may see it before or after the reset (race), so that one
#: step (the step before the reset step) is not compared for them; their outputs always are
RESET_BY_PROCESS = ("DELTA", "SIGMA_DELTA", "SIGMA")


def lava_full(net, x: np.ndarray) -> tuple[list[np.ndarray], list[dict]]:
    """Lava fixed_pt over all periods: per layer outputs [N, P, n] and states {name: [N, P, n]}."""
    from silava import lava_models  # noqa: F401
    from silava.lava_models.builder import build_network

    lnet = build_network(net, "fixed_pt", inputs=x, record_spikes=True, record_states=True)
    N, P = lnet.n_samples, lnet.period
    with lnet.session(timeout_s=300) as session:
        session.run(lnet.total_steps)
        last, outs = lnet.read(lnet.total_steps)
        states = lnet.read_states()
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
