"""GSC folder loader on a tiny generated Speech Commands tree."""

import json
import wave

import numpy as np
import pytest
import torch

from silava.train.data import get_task
from silava.core.data.fbank import fbank
from silava.core.data.gsc import read_wav
from silava.core.data.task import MissingDataError

SR = 16000


def write_wav(path, x, rate=SR, width=2):
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(width)
        w.setframerate(rate)
        if width == 2:
            w.writeframes((np.clip(x, -1, 1 - 1 / 32768) * 32768).astype("<i2").tobytes())
        else:
            w.writeframes(((np.clip(x, -1, 1) * 127) + 128).astype(np.uint8).tobytes())


def make_gsc(root):
    rng = np.random.default_rng(0)
    classes = ["yes", "no", "up"]
    for k, c in enumerate(classes):
        for j in range(4):
            n = SR if j < 3 else SR // 2  # one short clip per class
            t = np.arange(n) / SR
            write_wav(root / c / f"spk{j}_nohash_0.wav", 0.3 * np.sin(2 * np.pi * 300 * (k + 1) * t)
                      + 0.01 * rng.standard_normal(n))
    write_wav(root / "_background_noise_" / "white_noise.wav", 0.1 * rng.standard_normal(SR))
    (root / "validation_list.txt").write_text("yes/spk0_nohash_0.wav\nno/spk0_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("up/spk1_nohash_0.wav\nyes/spk1_nohash_0.wav\n")
    (root / "README.md").write_text("not a class")
    return root


def test_gsc_task(tmp_path):
    root = make_gsc(tmp_path / "gsc")
    task = get_task("gsc", data_dir=str(root))
    assert task.class_names == ["no", "up", "yes"]  # sorted folder names, background noise excluded
    assert (task.n_classes, task.n_inputs, task.n_steps, task.encoding) == (3, 40, 98, "graded")
    assert task.dt == 0.01
    assert (len(task.train), len(task.valid), len(task.test)) == (8, 2, 2)
    assert "yes/spk0_nohash_0.wav" not in task.train.files
    assert sorted(task.test.files) == ["up/spk1_nohash_0.wav", "yes/spk1_nohash_0.wav"]
    x, y = task.valid[0]  # no/spk0
    assert y == 0 and x.shape == (98, 40) and x.dtype == torch.float32
    wav, _ = read_wav(root / "no" / "spk0_nohash_0.wav")
    np.testing.assert_array_equal(x.numpy(), fbank(wav))
    short = task.train.files.index("no/spk3_nohash_0.wav")
    assert task.train[short][0].shape == (48, 40)
    xb, yb = task.collate([task.train[0], task.train[short]])
    assert xb.shape == (2, 98, 40) and torch.all(xb[1, 48:] == 0)
    again = get_task(**json.loads(json.dumps(task.config)))
    assert again.train.files == task.train.files


def test_read_wav_scaling(tmp_path):
    x = np.array([0.0, 0.5, -0.5, -1.0])
    write_wav(tmp_path / "a.wav", x)
    got, rate = read_wav(tmp_path / "a.wav")
    assert rate == SR
    np.testing.assert_array_equal(got, np.array([0, 16384, -16384, -32768]) / 32768.0)
    write_wav(tmp_path / "b.wav", x, width=1)
    got8, _ = read_wav(tmp_path / "b.wav")
    np.testing.assert_allclose(got8, x, atol=0.01)


def test_wrong_rate_rejected(tmp_path):
    root = make_gsc(tmp_path / "gsc")
    write_wav(root / "up" / "spk0_nohash_0.wav", np.zeros(8000), rate=8000)
    task = get_task("gsc", data_dir=str(root))
    with pytest.raises(ValueError, match="16000"):
        task.train[task.train.files.index("up/spk0_nohash_0.wav")]


def test_missing_folder_and_lists(tmp_path):
    with pytest.raises(MissingDataError, match="speech_commands"):
        get_task("gsc", data_dir=str(tmp_path / "nowhere"))
    (tmp_path / "g" / "yes").mkdir(parents=True)
    with pytest.raises(MissingDataError, match="validation_list.txt"):
        get_task("gsc", data_dir=str(tmp_path / "g"))
