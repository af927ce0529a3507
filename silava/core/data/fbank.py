"""Kaldi-compatible log-mel filterbank features in numpy.

Matches ``torchaudio.compliance.kaldi.fbank`` with its defaults (which are
Kaldi's ``compute-fbank-feats`` defaults, except ``num_mel_bins`` that we set):
25 ms frames every 10 ms at 16 kHz, ``snip_edges`` framing, dither 0, DC
(mean) removal per frame, pre-emphasis 0.97 (first sample against itself),
Povey window (symmetric Hann ** 0.85), zero padding to the next power of two,
power spectrum, triangular mel filters in Kaldi's mel scale
``1127 ln(1 + f/700)`` between 20 Hz and Nyquist, ``log(max(E, eps))`` with
float32 epsilon, no energy term. Input is a float waveform (e.g. int16 / 32768,
the scaling ``torchaudio.load`` uses).

Computed in float64 and returned as float32.
"""

from __future__ import annotations

import functools

import numpy as np

FLOAT32_EPS = float(np.finfo(np.float32).eps)


def mel_scale(freq: np.ndarray | float) -> np.ndarray:
    """Kaldi mel scale ``1127 ln(1 + f / 700)``."""
    return 1127.0 * np.log(1.0 + np.asarray(freq, dtype=np.float64) / 700.0)


def inverse_mel_scale(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`mel_scale`."""
    return 700.0 * (np.exp(np.asarray(mel, dtype=np.float64) / 1127.0) - 1.0)


def next_power_of_two(n: int) -> int:
    """Smallest power of two ``>= n``."""
    return 1 if n <= 1 else 1 << (int(n) - 1).bit_length()


@functools.lru_cache(maxsize=16)
def mel_banks(num_bins: int, n_fft: int, sample_rate: float, low_freq: float = 20.0,
              high_freq: float = 0.0) -> np.ndarray:
    """Triangular filters ``float64[num_bins, n_fft // 2 + 1]`` (Nyquist column zero).

    Filter ``m`` rises from ``left_m`` to ``center_m`` and falls to ``right_m``,
    linearly **in mel**, with edges equally spaced in mel between ``low_freq``
    and ``high_freq`` (``high_freq <= 0`` means Nyquist + high_freq).
    """
    nyquist = 0.5 * sample_rate
    if high_freq <= 0.0:
        high_freq += nyquist
    if not 0.0 <= low_freq < high_freq <= nyquist:
        raise ValueError(f"need 0 <= low_freq < high_freq <= Nyquist, got {low_freq}, {high_freq}")
    n_half = n_fft // 2
    mel_low, mel_high = mel_scale(low_freq), mel_scale(high_freq)
    delta = (mel_high - mel_low) / (num_bins + 1)
    m = np.arange(num_bins, dtype=np.float64)[:, None]
    left = mel_low + m * delta
    center = mel_low + (m + 1.0) * delta
    right = mel_low + (m + 2.0) * delta
    mel = mel_scale(sample_rate / n_fft * np.arange(n_half, dtype=np.float64))[None, :]
    up = (mel - left) / (center - left)
    down = (right - mel) / (right - center)
    banks = np.maximum(0.0, np.minimum(up, down))
    out = np.zeros((num_bins, n_half + 1), dtype=np.float64)
    out[:, :n_half] = banks
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=16)
def povey_window(size: int) -> np.ndarray:
    """Kaldi's Povey window: symmetric Hann raised to 0.85."""
    n = np.arange(size, dtype=np.float64)
    w = (0.5 - 0.5 * np.cos(2.0 * np.pi * n / (size - 1))) ** 0.85
    w.setflags(write=False)
    return w


def frame_signal(x: np.ndarray, frame_length: int, frame_shift: int) -> np.ndarray:
    """``snip_edges`` framing: ``1 + (N - L) // S`` full frames (0 if ``N < L``)."""
    n_frames = 0 if len(x) < frame_length else 1 + (len(x) - frame_length) // frame_shift
    if n_frames == 0:
        return np.zeros((0, frame_length), dtype=np.float64)
    idx = np.arange(frame_length)[None, :] + frame_shift * np.arange(n_frames)[:, None]
    return x[idx]


def fbank(waveform: np.ndarray, num_mel_bins: int = 40, sample_rate: float = 16000.0,
          frame_length_ms: float = 25.0, frame_shift_ms: float = 10.0,
          preemphasis: float = 0.97, low_freq: float = 20.0, high_freq: float = 0.0) -> np.ndarray:
    """Log-mel filterbank ``float32[n_frames, num_mel_bins]`` of a mono waveform.

    A 2-D input ``[channels, samples]`` uses channel 0 (as torchaudio does).
    A 1 s clip at 16 kHz gives 98 frames.
    """
    x = np.asarray(waveform, dtype=np.float64)
    if x.ndim == 2:
        x = x[0]
    if x.ndim != 1:
        raise ValueError(f"waveform must be 1-D or [channels, samples], got shape {np.shape(waveform)}")
    frame_length = int(sample_rate * frame_length_ms * 0.001)
    frame_shift = int(sample_rate * frame_shift_ms * 0.001)
    n_fft = next_power_of_two(frame_length)
    frames = frame_signal(x, frame_length, frame_shift)
    frames = frames - frames.mean(axis=1, keepdims=True)
    previous = np.concatenate([frames[:, :1], frames[:, :-1]], axis=1)
    frames = frames - preemphasis * previous
    frames = frames * povey_window(frame_length)
    power = np.abs(np.fft.rfft(frames, n=n_fft, axis=1)) ** 2
    energies = power @ mel_banks(num_mel_bins, n_fft, float(sample_rate), low_freq, high_freq).T
    return np.log(np.maximum(energies, FLOAT32_EPS)).astype(np.float32)
