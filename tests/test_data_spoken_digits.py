"""The offline spoken-digit task (espeak-ng + cochlea model, SHD format) and the cochlea model."""

import os
import shutil
import time

import numpy as np
import pytest
import torch

from silava.train.data import get_task
from silava.core.data import spoken_digits as sd
from silava.core.data.cochlea import CochleaParams, audio_to_spikes, erb_space, lif_spikes
from silava.core.data.shd import read_spike_h5
from silava.core.data.task import MissingToolError

no_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                               reason="needs espeak-ng (Debian package `espeak-ng`)")


def test_class_order_matches_shd():
    assert sd.N_CLASSES == 20
    assert sd.CLASS_NAMES[0] == "english zero" and sd.CLASS_NAMES[9] == "english nine"
    assert sd.CLASS_NAMES[10] == "german null" and sd.CLASS_NAMES[15] == "german fünf"
    specs = sd.sample_specs(40, seed=0, snr_db=(15, 35))
    assert [s.label for s in specs[:20]] == list(range(20))
    assert specs[13].word == "drei" and specs[13].voice.startswith("de+")
    assert specs[3].word == "three" and specs[3].voice.startswith("en+")
    assert specs == sd.sample_specs(40, seed=0, snr_db=(15, 35))
    assert specs != sd.sample_specs(40, seed=1, snr_db=(15, 35))


def test_stratified_split():
    labels = np.arange(200) % 20
    parts = sd.split_by_class(labels, (0.6, 0.2, 0.2), seed=0)
    assert [len(p) for p in parts] == [120, 40, 40]
    for p in parts[1:]:
        assert np.bincount(labels[p], minlength=20).tolist() == [2] * 20
    assert sorted(np.concatenate(parts).tolist()) == list(range(200))


def test_speaker_split_holds_out_voices():
    specs = sd.sample_specs(400, seed=0, snr_db=(15, 35))
    parts = sd.split_by_voice(specs, (0.6, 0.2, 0.2), seed=0)
    voices = [{specs[i].speaker % len(sd.VOICES) for i in p} for p in parts]
    assert voices[0].isdisjoint(voices[1]) and voices[0].isdisjoint(voices[2])
    assert voices[1].isdisjoint(voices[2])
    assert sum(len(p) for p in parts) == 400 and min(len(p) for p in parts) > 40


def test_missing_espeak_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(sd.shutil, "which", lambda name: None)
    with pytest.raises(MissingToolError) as err:
        get_task("spoken-digits", data_dir=str(tmp_path / "x"), n_samples=100, progress=False)
    assert "\n" not in str(err.value) and "espeak-ng" in str(err.value) and "apt-get" in str(err.value)
    assert isinstance(err.value, FileNotFoundError)


def test_bad_arguments(tmp_path):
    for bad in (dict(n_samples=10), dict(split=(0.5, 0.5, 0.5)), dict(snr_db=(30.0, 10.0)),
                dict(split_by="language")):
        with pytest.raises(ValueError):
            get_task("spoken-digits", data_dir=str(tmp_path), **bad)


def test_lif_threshold_rate_and_refractoriness():
    dt, tau, t_ref = 1e-3, 5e-3, 2e-3
    t, u = lif_spikes(np.full((1000, 3), [0.9, 2.0, 50.0]), dt, tau, t_ref)
    assert np.sum(u == 0) == 0  # drive below threshold never fires
    n2 = np.sum(u == 1)
    expected = 1.0 / (tau * np.log(2.0) + t_ref)  # continuous-time LIF rate for drive 2
    assert 0.6 * expected < n2 < 1.3 * expected
    isi = np.diff(t[u == 2])
    assert isi.min() >= t_ref - 1e-12  # refractory period respected even for huge drive


def test_cochlea_tonotopy():
    sr = 22050
    x = np.sin(2 * np.pi * 1000.0 * np.arange(int(0.3 * sr)) / sr)
    times, units = audio_to_spikes(x, sr)
    p = CochleaParams()
    fc = erb_space(p.f_low, p.f_high, p.n_channels)
    assert times.min() >= 0 and times.max() <= 0.31 and units.max() < 700
    best = np.bincount(units, minlength=700).argmax()
    assert 800 < fc[best] < 1250
    assert np.all(fc[np.unique(units)] < 4000)  # a 1 kHz tone does not excite high channels


@pytest.mark.espeak
@no_espeak
def test_synthesis_is_the_same_every_call():
    """espeak-ng's waveform (written with -w, read back) is identical across calls."""
    spec = sd.sample_specs(3, seed=5, snr_db=(15, 35))[2]
    waves = [sd.synthesize(spec.word, spec.voice, spec.speed, spec.pitch) for _ in range(3)]
    assert waves[0][1] == 22050 and len(waves[0][0]) > 5000
    for x, rate in waves[1:]:
        np.testing.assert_array_equal(x, waves[0][0])


@pytest.mark.espeak
@no_espeak
def test_render_is_deterministic():
    spec = sd.sample_specs(3, seed=5, snr_db=(15, 35))[2]
    a = sd.render(spec, seed=5)
    b = sd.render(spec, seed=5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[0].dtype == np.float32 and a[1].dtype == np.uint16
    assert len(a[0]) > 200 and a[0].max() < sd.CLIP_S and a[1].max() < 700
    assert np.all(np.diff(a[0]) >= 0)
    c = sd.render(spec, seed=6)  # other noise
    assert len(c[0]) != len(a[0]) or not np.array_equal(c[0], a[0])


@pytest.mark.espeak
@no_espeak
def test_generate_cache_and_read(tmp_path, monkeypatch):
    monkeypatch.setenv("SILAVA_CACHE", str(tmp_path / "cache"))
    task = get_task("spoken-digits", n_samples=100, seed=3, n_workers=2, progress=False)
    folders = os.listdir(tmp_path / "cache" / "spoken_digits")
    assert len(folders) == 1 and len(folders[0]) == 12
    folder = tmp_path / "cache" / "spoken_digits" / folders[0]
    assert (task.n_inputs, task.n_classes, task.n_steps, task.encoding) == (140, 20, 250, "counts")
    assert (len(task.train), len(task.valid), len(task.test)) == (60, 20, 20)
    d = read_spike_h5(folder / "spoken_digits_test.h5")
    assert d["keys"] == sd.CLASS_NAMES
    assert sorted(d["labels"].tolist()) == list(range(20))
    assert d["speaker"].max() < 2 * len(sd.VOICES)
    assert len(d["meta_info"]["gender"]) == 2 * len(sd.VOICES)
    x, y = task.test[0]
    assert x.shape == (250, 140) and x.sum() > 100 and y == d["labels"][0]
    assert x[0].sum() == 0  # SHD binning: bin 0 empty
    t0 = time.perf_counter()
    again = get_task(**task.config)
    assert time.perf_counter() - t0 < 2.0  # cached
    assert torch.equal(again.train[7][0], task.train[7][0])
    with pytest.raises(ValueError, match="other settings"):
        get_task("spoken-digits", data_dir=str(folder), n_samples=120, seed=3, progress=False)
    # learnable: logistic regression on 60 training samples (3 per class) beats chance (5 %) clearly
    assert logistic_regression_accuracy(task, max_iter=100) > 0.25


def logistic_regression_accuracy(task, max_iter=200):
    """Test accuracy of L2 logistic regression on log counts in 100 ms x 50-channel cells."""

    def features(ds):
        x = torch.stack([ds[i][0] for i in range(len(ds))])
        y = torch.tensor([ds[i][1] for i in range(len(ds))])
        b = x.shape[0]
        x = x[:, :250].reshape(b, 10, 25, 14, 10).sum((2, 4)).reshape(b, -1)
        return torch.log1p(x), y

    xtr, ytr = features(task.train)
    xte, yte = features(task.test)
    mu, sdv = xtr.mean(0), xtr.std(0) + 1e-3
    xtr, xte = (xtr - mu) / sdv, (xte - mu) / sdv
    w = torch.zeros(xtr.shape[1], task.n_classes, requires_grad=True)
    b = torch.zeros(task.n_classes, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=max_iter)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xtr @ w + b, ytr) + 1e-2 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return ((xte @ w + b).argmax(1) == yte).float().mean().item()


@pytest.mark.slow
@pytest.mark.espeak
@no_espeak
def test_learnable_by_logistic_regression(tmp_path):
    task = get_task("spoken-digits", data_dir=str(tmp_path / "d"), n_samples=400, progress=False)
    assert logistic_regression_accuracy(task) > 0.5  # measured 0.85; chance is 0.05
