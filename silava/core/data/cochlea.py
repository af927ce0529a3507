"""A small cochlea-like audio-to-spike converter (numpy only).

Pipeline for one waveform:

1. pre-emphasis ``y[n] = x[n] - preemphasis * x[n-1]`` (a crude outer/middle-ear tilt);
2. short-time power spectrum (Hann window, ``win_s`` long, hop ``hop_s``,
   frames centred on ``k * hop``);
3. ``n_channels`` band-pass channels with centre frequencies equally spaced
   on the ERB-rate scale; channel power = spectrum weighted by a 4th-order
   gammatone-like magnitude response ``(1 + ((f - fc) / (1.019 ERB(fc)))^2)^-4``
   (rows normalised to unit sum);
4. compression: level in dB relative to the loudest channel/frame of the
   utterance (an automatic gain control), mapped linearly from
   ``[-dynamic_range_db, 0]`` onto a drive ``[0, max_drive]``, times a fixed
   per-unit gain (heterogeneity, lognormal, drawn from a fixed seed);
5. one leaky integrate-and-fire unit per channel (``tau``, threshold 1, reset
   to 0, absolute refractory period ``t_ref``): spikes where the drive stays
   above threshold, at rates that grow with the level; spike times are
   interpolated linearly inside the frame.

Returns spike times in seconds and unit ids ``0..n_channels-1`` (SHD style:
unit 0 = lowest frequency).
"""

from __future__ import annotations

import functools
from collections import deque
from dataclasses import dataclass

import numpy as np


def erb(freq: np.ndarray | float) -> np.ndarray:
    """Equivalent rectangular bandwidth (Glasberg & Moore 1990), Hz."""
    return 24.7 * (4.37e-3 * np.asarray(freq, dtype=np.float64) + 1.0)


def erb_space(f_low: float, f_high: float, n: int) -> np.ndarray:
    """``n`` frequencies equally spaced on the ERB-rate scale ``21.4 log10(1 + 4.37e-3 f)``."""
    lo, hi = (21.4 * np.log10(1.0 + 4.37e-3 * f) for f in (f_low, f_high))
    e = np.linspace(lo, hi, n)
    return (10.0 ** (e / 21.4) - 1.0) / 4.37e-3


@dataclass(frozen=True)
class CochleaParams:
    """Settings of :func:`audio_to_spikes` (all times in seconds)."""

    n_channels: int = 700
    f_low: float = 80.0
    f_high: float = 8000.0
    win_s: float = 0.016
    hop_s: float = 0.001
    preemphasis: float = 0.9
    dynamic_range_db: float = 40.0
    max_drive: float = 2.0
    tau: float = 0.005
    t_ref: float = 0.002
    gain_spread: float = 0.15
    unit_seed: int = 1234


@functools.lru_cache(maxsize=8)
def channel_weights(n_channels: int, f_low: float, f_high: float, n_fft: int, sample_rate: int) -> np.ndarray:
    """Gammatone-like power weights ``float64[n_channels, n_fft // 2 + 1]`` (rows sum to 1)."""
    fc = erb_space(f_low, f_high, n_channels)[:, None]
    f = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)[None, :]
    w = (1.0 + ((f - fc) / (1.019 * erb(fc))) ** 2) ** -4
    w /= w.sum(axis=1, keepdims=True)
    w.setflags(write=False)
    return w


@functools.lru_cache(maxsize=8)
def unit_gains(n_channels: int, spread: float, seed: int) -> np.ndarray:
    """Fixed per-unit gain factors ``exp(N(0, spread^2))`` (the same for every utterance)."""
    g = np.exp(spread * np.random.default_rng(seed).standard_normal(n_channels))
    g.setflags(write=False)
    return g


def channel_power(x: np.ndarray, sample_rate: int, p: CochleaParams) -> tuple[np.ndarray, float]:
    """Per-frame channel power ``[n_frames, n_channels]`` and the frame period (s)."""
    hop = max(1, int(round(p.hop_s * sample_rate)))
    win = max(2, int(round(p.win_s * sample_rate)))
    n_fft = 1 << (win - 1).bit_length()
    y = np.empty_like(x)
    y[0] = x[0]
    y[1:] = x[1:] - p.preemphasis * x[:-1]
    y = np.pad(y, (win // 2, win - win // 2))
    n_frames = 1 + (len(y) - win) // hop
    idx = np.arange(win)[None, :] + hop * np.arange(n_frames)[:, None]
    frames = y[idx] * np.hanning(win)
    spec = np.abs(np.fft.rfft(frames, n=n_fft, axis=1)) ** 2
    w = channel_weights(p.n_channels, p.f_low, p.f_high, n_fft, int(sample_rate))
    return spec @ w.T, hop / sample_rate


def lif_spikes(drive: np.ndarray, dt: float, tau: float, t_ref: float,
               v0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Leaky integrate-and-fire over ``drive[n_steps, n_units]`` (Euler, step ``dt``).

    ``v += dt / tau * (drive - v)``; a unit spikes when ``v >= 1`` (time
    interpolated linearly inside the step), resets to 0 and is held at 0 for
    the next ``ceil(t_ref / dt)`` steps (absolute refractory period).
    Returns ``(times, units)`` in step order.
    """
    n_steps, n_units = drive.shape
    v = np.zeros(n_units) if v0 is None else np.array(v0, dtype=np.float64)
    k = dt / tau
    n_ref = int(np.ceil(t_ref / dt - 1e-9))
    free = np.ones(n_units)
    pending: deque[tuple[int, np.ndarray]] = deque()
    times, units = [], []
    for j in range(n_steps):
        while pending and pending[0][0] == j:
            free[pending.popleft()[1]] = 1.0
        v_new = v + k * (drive[j] - v)
        v_new *= free
        fired = np.flatnonzero(v_new >= 1.0)
        if fired.size:
            before = v[fired]
            frac = (1.0 - before) / np.maximum(v_new[fired] - before, 1e-12)
            times.append((j + np.clip(frac, 0.0, 1.0)) * dt)
            units.append(fired)
            v_new[fired] = 0.0
            if n_ref:
                free[fired] = 0.0
                pending.append((j + n_ref + 1, fired))
        v = v_new
    if not times:
        return np.zeros(0, dtype=np.float64), np.zeros(0, dtype=np.int64)
    return np.concatenate(times), np.concatenate(units)


def audio_to_spikes(x: np.ndarray, sample_rate: int, p: CochleaParams = CochleaParams(),
                    rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Spike ``(times [s] float64, units int64)`` of a mono waveform (see module docstring).

    ``rng`` draws the initial membrane potentials (uniform in [0, 1)); without
    it they start at 0.
    """
    power, dt = channel_power(np.asarray(x, dtype=np.float64), sample_rate, p)
    level = 10.0 * np.log10(power + 1e-20)
    level -= level.max()
    drive = np.clip(1.0 + level / p.dynamic_range_db, 0.0, None) * p.max_drive
    drive *= unit_gains(p.n_channels, p.gain_spread, p.unit_seed)
    v0 = None if rng is None else rng.random(p.n_channels)
    return lif_spikes(drive, dt, p.tau, p.t_ref, v0)
