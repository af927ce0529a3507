"""Kaldi-compatible log-mel filterbank against a per-frame reference and physical checks."""

import math

import numpy as np
import pytest

from silava.core.data.fbank import fbank, inverse_mel_scale, mel_banks, mel_scale

SR = 16000


def reference_fbank(x, num_bins=40):
    """Frame-by-frame restatement of Kaldi's compute-fbank-feats defaults (torchaudio's fbank)."""
    win, shift, n_fft = 400, 160, 512
    n_frames = 1 + (len(x) - win) // shift if len(x) >= win else 0
    lo, hi = 20.0, SR / 2
    mel = lambda f: 1127.0 * math.log(1.0 + f / 700.0)
    m_lo, m_hi = mel(lo), mel(hi)
    delta = (m_hi - m_lo) / (num_bins + 1)
    banks = np.zeros((num_bins, n_fft // 2 + 1))
    for b in range(num_bins):
        left, center, right = m_lo + b * delta, m_lo + (b + 1) * delta, m_lo + (b + 2) * delta
        for i in range(n_fft // 2):
            m = mel(SR / n_fft * i)
            if left < m < right:
                banks[b, i] = (m - left) / (center - left) if m <= center else (right - m) / (right - center)
    window = [(0.5 - 0.5 * math.cos(2 * math.pi * n / (win - 1))) ** 0.85 for n in range(win)]
    out = np.zeros((n_frames, num_bins))
    for f in range(n_frames):
        frame = [float(v) for v in x[f * shift:f * shift + win]]
        mean = sum(frame) / win
        frame = [v - mean for v in frame]
        emph = [frame[0] - 0.97 * frame[0]] + [frame[n] - 0.97 * frame[n - 1] for n in range(1, win)]
        padded = np.zeros(n_fft)
        padded[:win] = [e * w for e, w in zip(emph, window)]
        power = np.abs(np.fft.fft(padded)[:n_fft // 2 + 1]) ** 2
        out[f] = [math.log(max(float(banks[b] @ power), np.finfo(np.float32).eps)) for b in range(num_bins)]
    return out


def tone(freq, seconds, amp=0.3, noise=0.0, seed=0):
    t = np.arange(int(seconds * SR)) / SR
    x = amp * np.sin(2 * np.pi * freq * t)
    return x + noise * np.random.default_rng(seed).standard_normal(len(t))


def test_matches_per_frame_reference():
    x = tone(1000, 0.2, noise=0.01) + tone(3100, 0.2, amp=0.05) + 0.1  # DC offset too
    got = fbank(x)
    ref = reference_fbank(x)
    assert got.shape == ref.shape == (18, 40) and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)


def test_frame_count_snip_edges():
    assert fbank(np.zeros(SR)).shape == (98, 40)  # 1 s -> 98 frames
    assert fbank(np.zeros(399)).shape == (0, 40)
    assert fbank(np.zeros(400)).shape == (1, 40)
    assert fbank(np.zeros(560)).shape == (2, 40)
    assert fbank(np.zeros((2, SR))).shape == (98, 40)  # [channels, samples]: channel 0


def test_tone_peaks_in_its_mel_bin():
    banks = mel_banks(40, 512, float(SR))
    for f0 in (300.0, 1000.0, 4000.0):
        feats = fbank(tone(f0, 1.0))
        peak = int(np.argmax(feats.mean(0)))
        step = (mel_scale(8000.0) - mel_scale(20.0)) / 41
        m = mel_scale(20.0) + step * np.array([peak, peak + 1, peak + 2])
        left, center, right = inverse_mel_scale(m)
        assert left < f0 < right, (f0, peak, left, right)
        assert abs(center - f0) < (right - left) / 2
    assert banks.shape == (40, 257) and np.all(banks[:, -1] == 0)


def test_silence_is_log_epsilon_and_dc_is_removed():
    np.testing.assert_allclose(fbank(np.zeros(SR)), np.log(np.finfo(np.float32).eps), rtol=1e-6)
    x = tone(500, 0.5, noise=0.01)
    np.testing.assert_allclose(fbank(x + 0.25), fbank(x), atol=1e-4)


def test_mel_scale_round_trip():
    f = np.array([0.0, 20.0, 700.0, 8000.0])
    np.testing.assert_allclose(inverse_mel_scale(mel_scale(f)), f, atol=1e-9)
    assert mel_scale(700.0) == pytest.approx(1127.0 * math.log(2.0))
