"""Randman: random smooth manifolds turned into a spike-timing classification task (numpy only).

Follows the reference generator exactly (Zenke & Vogels 2021; spec
``neurons.md`` §7.5, [RANDMAN] ``torch_randman.py`` and the notebook
``make_spiking_dataset``):

* one random manifold per (class, spike index), parameters
  ``theta ~ U[0,1)^(E, D, 3, F)`` drawn from the torch generator stream seeded with a
  per-manifold integer seed, zero-frequency amplitude set to 0;
* torch-version spectrum ``sigma_i = 1 / ((i+1)^alpha + 1)``;
* ``f_{e,d}(xi) = sum_i theta0 sigma_i sin(2 pi (i xi theta1 + theta2))``,
  ``y_e = prod_d f_{e,d}(xi_d)``;
* per class: ``xi ~ U[0,1)^(n, D)`` (numpy), per-unit min-max standardisation
  over that class's samples, one spike per unit per manifold at time
  ``y * n_steps * step_frac``; classes concatenated, then shuffled.

Random streams without torch. The numpy stream is the legacy ``RandomState(seed)``
(identical to the reference's ``np.random.seed(seed)``). The reference draws ``theta`` with
``torch.manual_seed(seed); torch.rand(...)`` in float32; on the CPU that is MT19937 seeded
with the low 32 bits of the seed (``init_genrand``), one 32-bit draw per number, kept as
``(r & (2^24 - 1)) / 2^24`` (PyTorch ``uniform_real_distribution<float>``).
:func:`torch_rand` reproduces that stream with numpy's MT19937 bit for bit
(tests/test_data_randman.py checks it against ``torch.rand``). The manifold is evaluated in
float32 with the same term order as the reference; numpy's ``sin`` may differ from torch's
vectorised ``sin`` in the last bit, which the tests show leaves the spike rasters identical.
No global RNG is touched.

Raster conversion follows [DARWIN]: ``step = floor(time)``, clipped to
``n_steps - 1``.
"""

from __future__ import annotations

import functools
import math

import numpy as np

PREC = 1e-3
MAX_F_CUTOFF = 1000


def frequency_cutoff(alpha: float, prec: float = PREC, max_f_cutoff: int = MAX_F_CUTOFF) -> int:
    """Number of Fourier terms ``F = min(ceil(prec^(-1/alpha)), max_f_cutoff)``."""
    return int(min(math.ceil(prec ** (-1.0 / alpha)), max_f_cutoff))


def torch_rand(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """``torch.manual_seed(seed); torch.rand(shape)`` (CPU, float32), computed with numpy.

    MT19937 seeded with ``seed mod 2^32`` (``init_genrand``); each float takes one 32-bit
    draw ``r`` and is ``(r & (2^24 - 1)) * 2^-24``.
    """
    bits = np.random.MT19937()
    bits._legacy_seeding(int(seed) & 0xFFFFFFFF)
    raw = bits.random_raw(int(np.prod(shape)))
    return ((raw & ((1 << 24) - 1)).astype(np.float64) * 2.0**-24).astype(np.float32).reshape(shape)


class Randman:
    """A random smooth ``dim_manifold``-dimensional manifold embedded in ``dim_embedding`` dims.

    Equivalent to the reference ``TorchRandman(dim_embedding, dim_manifold,
    alpha, beta=0, use_bias=False, seed=seed)`` in float32.
    """

    def __init__(self, dim_embedding: int, dim_manifold: int, alpha: float = 2.0,
                 seed: int | None = None, use_bias: bool = False) -> None:
        self.dim_embedding = dim_embedding
        self.dim_manifold = dim_manifold
        self.alpha = alpha
        self.f_cutoff = frequency_cutoff(alpha)
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        self.params = torch_rand(int(seed), (dim_embedding, dim_manifold, 3, self.f_cutoff))
        if not use_bias:
            self.params[:, :, 0, 0] = 0
        r = np.arange(self.f_cutoff, dtype=np.float32) + np.float32(1)
        self.spect = (np.float32(1.0) / (np.abs(r) ** np.float32(alpha) + np.float32(1.0))).astype(np.float32)

    def eval_manifold(self, x: np.ndarray) -> np.ndarray:
        """Embedding coordinates ``y[n, E]`` of intrinsic points ``x[n, D]`` (float32)."""
        x = np.asarray(x, dtype=np.float32)
        y = np.ones((x.shape[0], self.dim_embedding), dtype=np.float32)
        two_pi = np.float32(2 * np.pi)
        for d in range(self.dim_manifold):
            theta = self.params[:, d]  # [E, 3, F]
            xd = x[:, d:d + 1]  # [n, 1]
            acc = np.zeros_like(y)
            # Same term order and float32 operations as the reference loop.
            for i in range(self.f_cutoff):
                phase = two_pi * (np.float32(i) * xd * theta[:, 1, i] + theta[:, 2, i])
                acc += theta[:, 0, i] * self.spect[i] * np.sin(phase)
            y *= acc
        return y


def standardize(y: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    """Per-column min-max scaling ``(y - min) / (max - min + eps)`` (float32)."""
    lo = y.min(0)
    hi = y.max(0)
    return (y - lo) / (hi - lo + np.float32(eps))


def make_spiking_dataset(n_classes: int = 10, n_units: int = 100, n_steps: int = 100,
                         step_frac: float = 1.0, dim_manifold: int = 2, n_spikes: int = 1,
                         samples_per_class: int = 1000, alpha: float = 2.0,
                         shuffle: bool = True, seed: int | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Event-based Randman classification data, as the reference notebook.

    Returns ``(events, labels)``: ``events[n, n_units * n_spikes, 2]`` holds
    (time in steps, unit id) per spike (float), ``labels[n]`` int64.
    """
    rs = np.random.RandomState(seed)
    seeds = rs.randint(np.iinfo(np.int64).max, size=(n_classes, n_spikes))
    data, labels = [], []
    for k in range(n_classes):
        x = rs.rand(samples_per_class, dim_manifold)
        times, units = [], []
        for i in range(n_spikes):
            rm = Randman(n_units, dim_manifold, alpha=alpha, seed=int(seeds[k, i]))
            times.append(standardize(rm.eval_manifold(x)))
            units.append(np.repeat(np.arange(n_units).reshape(1, -1), samples_per_class, axis=0))
        events = np.stack([np.concatenate(times, axis=1), np.concatenate(units, axis=1)], axis=2)
        data.append(events)
        labels.append(np.full(samples_per_class, k, dtype=np.int64))
    events = np.concatenate(data, axis=0)
    label_arr = np.concatenate(labels, axis=0)
    if shuffle:
        idx = np.arange(len(events))
        rs.shuffle(idx)
        events, label_arr = events[idx], label_arr[idx]
    events[:, :, 0] *= n_steps * step_frac
    return events, label_arr


def events_to_raster(events: np.ndarray, n_steps: int, n_units: int) -> np.ndarray:
    """Dense ``uint8[n, n_steps, n_units]`` raster: ``step = floor(time)`` clipped to ``n_steps-1``.

    A unit firing twice in one step (only possible with ``n_spikes > 1``)
    still reads 1: the encoding is binary.
    """
    n = events.shape[0]
    steps = np.clip(np.floor(events[:, :, 0]).astype(np.int64), 0, n_steps - 1)
    units = events[:, :, 1].astype(np.int64)
    raster = np.zeros((n, n_steps, n_units), dtype=np.uint8)
    rows = np.repeat(np.arange(n), events.shape[1])
    raster[rows, steps.ravel(), units.ravel()] = 1
    return raster


@functools.lru_cache(maxsize=4)
def randman_raster(n_classes: int, n_units: int, n_steps: int, step_frac: float,
                   dim_manifold: int, n_spikes: int, samples_per_class: int, alpha: float,
                   seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Cached ``(raster uint8[n, T, U], labels int64[n])`` for one configuration."""
    events, labels = make_spiking_dataset(
        n_classes=n_classes, n_units=n_units, n_steps=n_steps, step_frac=step_frac,
        dim_manifold=dim_manifold, n_spikes=n_spikes, samples_per_class=samples_per_class,
        alpha=alpha, shuffle=True, seed=seed)
    raster = events_to_raster(events, n_steps, n_units)
    raster.setflags(write=False)
    labels.setflags(write=False)
    return raster, labels


def randman_task(n_classes: int = 10, n_units: int = 40, n_steps: int = 50,
                 dim_manifold: int = 1, alpha: float = 3.0, samples_per_class: int = 1000,
                 n_spikes: int = 1, step_frac: float = 1.0, seed: int = 42,
                 split: tuple[float, float, float] = (0.6, 0.2, 0.2), dt: float = 1e-3):
    """The ``randman`` task: binary rasters ``[n_steps, n_units]``, ``n_classes`` classes.

    Default sizing (10 classes, 40 units, 50 steps, D=1, alpha=3, 1000
    samples per class): ``train/train.py --task randman --epochs 5`` (2x128
    C-SiLIF or adLIF) reaches 100 % validation accuracy by epoch 2-4 at about
    3 s per epoch on 2 idle CPU cores; see train/data/README.md.
    The generated set is shuffled by the generator, then split into
    consecutive train/valid/test chunks of the ``split`` fractions.
    Reference names: ``nb_classes, nb_units, nb_steps, nb_spikes, nb_samples``.
    """
    from .task import ArrayDataset, Task, split_indices

    for name, val in (("n_classes", n_classes), ("n_units", n_units), ("n_steps", n_steps),
                      ("dim_manifold", dim_manifold), ("samples_per_class", samples_per_class),
                      ("n_spikes", n_spikes)):
        if int(val) != val or val < 1:
            raise ValueError(f"randman: {name} must be a positive integer, got {val!r}")
    if not alpha > 0:
        raise ValueError(f"randman: alpha must be > 0, got {alpha!r}")
    if not 0 < step_frac <= 1:
        raise ValueError(f"randman: step_frac must be in (0, 1], got {step_frac!r}")
    split = tuple(float(f) for f in split)
    if len(split) != 3 or min(split) < 0 or abs(sum(split) - 1) > 1e-6:
        raise ValueError(f"randman: split must be 3 non-negative fractions summing to 1, got {split!r}")
    raster, labels = randman_raster(int(n_classes), int(n_units), int(n_steps), float(step_frac),
                                    int(dim_manifold), int(n_spikes), int(samples_per_class),
                                    float(alpha), int(seed))
    parts = split_indices(len(labels), split)
    sets = [ArrayDataset(raster[p], labels[p]) for p in parts]
    config = dict(name="randman", n_classes=int(n_classes), n_units=int(n_units), n_steps=int(n_steps),
                  dim_manifold=int(dim_manifold), alpha=float(alpha),
                  samples_per_class=int(samples_per_class), n_spikes=int(n_spikes),
                  step_frac=float(step_frac), seed=int(seed), split=list(split), dt=float(dt))
    return Task(name="randman", train=sets[0], valid=sets[1], test=sets[2], n_inputs=int(n_units),
                n_classes=int(n_classes), n_steps=int(n_steps), dt=float(dt), encoding="binary",
                config=config, class_names=[f"manifold {k}" for k in range(n_classes)],
                notes="Randman (Zenke & Vogels 2021): one spike per unit per manifold; "
                      "information only in relative spike timing.")
