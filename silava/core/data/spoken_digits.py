"""``spoken-digits``: an offline, SHD-like task synthesised with espeak-ng.

Digits 0-9 in English and German (20 classes). Class ``k`` is digit ``k % 10``
in language ``k // 10`` (0 = English, 1 = German), the order of SHD's labels
(English zero..nine, then German null..neun). Each sample is one word spoken by
espeak-ng with a random voice variant (12 male, 12 female; the speaker id is
(language, variant)), speed and pitch, trimmed, placed at a random onset,
mixed with pink noise at a random SNR, and converted to spikes on 700 units
by :mod:`silava.core.data.cochlea`. The samples are written in the SHD HDF5 format
(``spoken_digits_{train,valid,test}.h5`` with ``extra/keys`` and
``extra/speaker``) and read back with the SHD binning of :mod:`silava.core.data.shd`.

Everything is derived from ``seed`` (per-sample ``numpy.random.default_rng([seed, i])``),
so the data is reproducible for a given espeak-ng version. Files are cached
in ``data_dir`` (default ``$SILAVA_CACHE`` or ``~/.cache/silava``, then
``spoken_digits/<config-hash>/``); a second call only opens them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from silava.core.fileio import write_json_atomic

from .cochlea import CochleaParams, audio_to_spikes
from .shd import spike_files_task, write_spike_h5
from .task import MissingToolError, Task

GENERATOR_VERSION = 1
LANGUAGES = (("english", "en"), ("german", "de"))
WORDS = {
    "english": ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    "german": ("null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun"),
}
CLASS_NAMES = [f"{lang} {w}" for lang, _ in LANGUAGES for w in WORDS[lang]]
N_CLASSES = len(CLASS_NAMES)
# espeak-ng voice variants (name, gender); the speaker id is language * len(VOICES) + index.
VOICES = (
    ("m1", "male"), ("m2", "male"), ("m3", "male"), ("m4", "male"), ("m5", "male"), ("m6", "male"),
    ("m7", "male"), ("m8", "male"), ("croak", "male"), ("Hugo", "male"), ("Denis", "male"),
    ("Andy", "male"),
    ("f1", "female"), ("f2", "female"), ("f3", "female"), ("f4", "female"), ("f5", "female"),
    ("Annie", "female"), ("Andrea", "female"), ("Alicia", "female"), ("belinda", "female"),
    ("linda", "female"), ("steph", "female"), ("aunty", "female"),
)
SPEED_RANGE = (120, 220)  # words per minute (espeak -s)
PITCH_RANGE = (20, 80)  # espeak -p, 0..99
ONSET_RANGE = (0.0, 0.1)  # s of silence before the word
TAIL_S = 0.05  # s of noise after the word
CLIP_S = 1.0  # longest clip (s)
SPLITS = ("train", "valid", "test")
FILE_PREFIX = "spoken_digits"
ESPEAK_HINT = ("espeak-ng not found: install the Debian/Ubuntu package `espeak-ng` "
               "(apt-get install espeak-ng) to generate the spoken-digits task")


@dataclass(frozen=True)
class SampleSpec:
    """Everything that defines one utterance."""

    index: int
    label: int
    word: str
    voice: str
    speaker: int
    speed: int
    pitch: int
    onset_s: float
    snr_db: float


def espeak_binary() -> str:
    """Path of ``espeak-ng``; :class:`MissingToolError` if it is not installed."""
    path = shutil.which("espeak-ng")
    if path is None:
        raise MissingToolError(ESPEAK_HINT)
    return path


def espeak_version() -> str:
    """``espeak-ng --version`` first line (e.g. 'eSpeak NG text-to-speech: 1.51 ...')."""
    out = subprocess.run([espeak_binary(), "--version"], capture_output=True, text=True, check=True)
    return " ".join(out.stdout.split()[:4])


def synthesize(word: str, voice: str, speed: int, pitch: int) -> tuple[np.ndarray, int]:
    """Speak ``word`` with espeak-ng: float waveform in [-1, 1) and sample rate.

    espeak-ng writes a WAV file (``-w``) in a private temporary folder, read back with the
    standard library. Not ``--stdout``: its streamed output (a RIFF header with placeholder
    sizes, written while synthesising) once gave a different waveform on the first call on a
    fresh machine (issue 15, item 15), while files written with ``-w`` were the same every time.
    """
    import tempfile
    import wave

    with tempfile.TemporaryDirectory(prefix="silava-espeak-") as tmp:
        path = os.path.join(tmp, "word.wav")
        cmd = [espeak_binary(), "-v", voice, "-s", str(int(speed)), "-p", str(int(pitch)), "-w", path, word]
        res = subprocess.run(cmd, capture_output=True)
        if res.returncode != 0 or not os.path.isfile(path):
            err = res.stderr.decode("utf-8", "replace").strip().splitlines()
            raise RuntimeError(f"espeak-ng failed ({' '.join(cmd)}): {err[-1] if err else 'no output'}")
        with wave.open(path, "rb") as f:
            if f.getsampwidth() != 2 or f.getnchannels() != 1:
                raise RuntimeError(f"espeak-ng wrote {f.getnchannels()} channel(s) of {8 * f.getsampwidth()} "
                                   f"bits; expected 16-bit mono")
            rate = f.getframerate()
            data = f.readframes(f.getnframes())
    return np.frombuffer(data, dtype="<i2").astype(np.float64) / 32768.0, rate


def sample_specs(n_samples: int, seed: int, snr_db: tuple[float, float]) -> list[SampleSpec]:
    """Balanced labels (``i % 20``) with per-sample random voice, speed, pitch, onset and SNR."""
    specs = []
    for i in range(n_samples):
        rng = np.random.default_rng([seed, i])
        label = i % N_CLASSES
        lang_idx, digit = divmod(label, 10)
        lang, code = LANGUAGES[lang_idx]
        v = int(rng.integers(len(VOICES)))
        specs.append(SampleSpec(
            index=i, label=label, word=WORDS[lang][digit], voice=f"{code}+{VOICES[v][0]}",
            speaker=lang_idx * len(VOICES) + v,
            speed=int(rng.integers(SPEED_RANGE[0], SPEED_RANGE[1] + 1)),
            pitch=int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1)),
            onset_s=float(rng.uniform(*ONSET_RANGE)), snr_db=float(rng.uniform(*snr_db))))
    return specs


def render(spec: SampleSpec, seed: int, cochlea: CochleaParams = CochleaParams()
           ) -> tuple[np.ndarray, np.ndarray]:
    """Synthesise, trim, place, add noise, encode: ``(times float32 [s], units uint16)``."""
    x, rate = synthesize(spec.word, spec.voice, spec.speed, spec.pitch)
    loud = np.nonzero(np.abs(x) > 0.01 * np.abs(x).max())[0] if x.size and np.abs(x).max() > 0 else []
    if len(loud) == 0:
        raise RuntimeError(f"espeak-ng produced silence for {spec}")
    margin = int(0.01 * rate)
    speech = x[max(0, loud[0] - margin):loud[-1] + margin]
    onset = int(spec.onset_s * rate)
    n = min(int(CLIP_S * rate), onset + len(speech) + int(TAIL_S * rate))
    clip = np.zeros(n)
    seg = speech[:max(0, n - onset)]
    clip[onset:onset + len(seg)] = seg
    rng = np.random.default_rng([seed, spec.index, 1])
    rms = np.sqrt(np.mean(speech ** 2))
    clip += rms * 10.0 ** (-spec.snr_db / 20.0) * pink_noise(n, rng)
    times, units = audio_to_spikes(clip, rate, cochlea, rng=rng)
    keep = times < n / rate
    order = np.lexsort((units[keep], times[keep]))
    return times[keep][order].astype(np.float32), units[keep][order].astype(np.uint16)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of unit-variance 1/f ("pink") noise, shaped in the frequency domain."""
    spec = np.fft.rfft(rng.standard_normal(n))
    spec[0] = 0.0
    spec[1:] /= np.sqrt(np.arange(1, len(spec)))
    x = np.fft.irfft(spec, n)
    std = x.std()
    return x / std if std > 0 else x


def split_by_class(labels: np.ndarray, fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """Stratified, seeded split: each class's samples are permuted and cut by ``fractions``."""
    parts: list[list[int]] = [[] for _ in fractions]
    for k in np.unique(labels):
        idx = np.nonzero(labels == k)[0]
        idx = idx[np.random.default_rng([seed, int(k), 2]).permutation(len(idx))]
        bounds = np.round(np.cumsum(fractions) * len(idx)).astype(int)
        bounds[-1] = len(idx)
        start = 0
        for j, stop in enumerate(bounds):
            parts[j].extend(idx[start:stop].tolist())
            start = stop
    return [np.sort(np.array(p, dtype=np.int64)) for p in parts]


def split_by_voice(specs: Sequence[SampleSpec], fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """Speaker-independent split: whole voice variants (in both languages) go to one split.

    Variants are permuted with ``default_rng([seed, 3])`` and cut by
    ``fractions`` (at least one variant per split); split sizes then follow
    the random voice draw, so they match ``fractions`` only approximately.
    """
    n_v = len(VOICES)
    order = np.random.default_rng([seed, 3]).permutation(n_v)
    counts = [max(1, int(round(f * n_v))) for f in fractions[1:]]
    counts = [n_v - sum(counts)] + counts
    owner = np.empty(n_v, dtype=np.int64)
    start = 0
    for j, c in enumerate(counts):
        owner[order[start:start + c]] = j
        start += c
    split_of = np.array([owner[s.speaker % n_v] for s in specs])
    return [np.nonzero(split_of == j)[0] for j in range(len(fractions))]


def generation_config(n_samples: int, seed: int, split: Sequence[float], snr_db: Sequence[float],
                      split_by: str = "sample") -> dict:
    """The settings that determine the generated files (hashed into the cache folder name)."""
    return dict(generator_version=GENERATOR_VERSION, n_samples=int(n_samples), seed=int(seed),
                split=[float(f) for f in split], split_by=split_by, snr_db=[float(s) for s in snr_db],
                voices=[v for v, _ in VOICES], speed_range=list(SPEED_RANGE),
                pitch_range=list(PITCH_RANGE), onset_range=list(ONSET_RANGE), clip_s=CLIP_S, noise="pink",
                cochlea=asdict(CochleaParams()))


def config_hash(gen_config: dict) -> str:
    """Short stable hash of a generation config."""
    return hashlib.sha1(json.dumps(gen_config, sort_keys=True).encode()).hexdigest()[:12]


def default_cache_root() -> str:
    """``$SILAVA_CACHE`` or ``$XDG_CACHE_HOME/silava`` or ``~/.cache/silava``."""
    if os.environ.get("SILAVA_CACHE"):
        return os.path.expanduser(os.environ["SILAVA_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(xdg, "silava")


def split_files(data_dir: str) -> dict[str, str]:
    """``{split: path}`` of the generated files in ``data_dir``."""
    return {s: os.path.join(data_dir, f"{FILE_PREFIX}_{s}.h5") for s in SPLITS}


def generate(data_dir: str, gen_config: dict, n_workers: int = 0, progress: bool = True) -> None:
    """Generate all samples of ``gen_config`` and write the three HDF5 files + ``config.json``.

    ``n_workers`` threads (0: ``os.cpu_count()``) each run espeak-ng and the
    cochlea on one sample at a time. ``config.json`` is written last and marks
    a complete folder.
    """
    espeak_binary()
    from tqdm import tqdm

    os.makedirs(data_dir, exist_ok=True)
    seed = gen_config["seed"]
    specs = sample_specs(gen_config["n_samples"], seed, tuple(gen_config["snr_db"]))
    labels = np.array([s.label for s in specs])
    if gen_config["split_by"] == "speaker":
        parts = split_by_voice(specs, gen_config["split"], seed)
    else:
        parts = split_by_class(labels, gen_config["split"], seed)
    if min(len(p) for p in parts) == 0:
        raise ValueError(f"spoken-digits: a split is empty ({[len(p) for p in parts]}); use more samples")
    meta = {"gender": [g for _ in LANGUAGES for _, g in VOICES],
            "age": [0] * (len(LANGUAGES) * len(VOICES)),
            "body_height": [0] * (len(LANGUAGES) * len(VOICES))}
    workers = n_workers or os.cpu_count() or 1
    bar = tqdm(total=len(specs), desc=f"spoken-digits ({len(specs)} samples)", disable=not progress,
               unit="sample")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for split, idx in zip(SPLITS, parts):
            chosen = [specs[i] for i in idx]
            results = []
            for res in pool.map(lambda s: render(s, seed), chosen):
                results.append(res)
                bar.update(1)
            write_spike_h5(split_files(data_dir)[split], [r[0] for r in results], [r[1] for r in results],
                           [s.label for s in chosen], keys=CLASS_NAMES,
                           speakers=[s.speaker for s in chosen], meta_info=meta)
    bar.close()
    info = dict(gen_config, espeak_ng=espeak_version(), class_names=CLASS_NAMES,
                sizes={s: len(p) for s, p in zip(SPLITS, parts)})
    write_json_atomic(os.path.join(data_dir, "config.json"), info)


def ensure_generated(data_dir: str, gen_config: dict, n_workers: int = 0, progress: bool = True) -> None:
    """Reuse ``data_dir`` if it holds a complete generation of ``gen_config``, else generate.

    A complete folder made with a *different* config raises ValueError (never overwritten).
    """
    cfg_path = os.path.join(data_dir, "config.json")
    if os.path.isfile(cfg_path):
        with open(cfg_path, encoding="utf-8") as f:
            stored = json.load(f)
        if {k: stored.get(k) for k in gen_config} == gen_config and all(
                os.path.isfile(p) for p in split_files(data_dir).values()):
            return
        if any(stored.get(k) != v for k, v in gen_config.items()):
            raise ValueError(f"spoken-digits: {data_dir} holds data generated with other settings; "
                             "use another data_dir or delete that folder")
    generate(data_dir, gen_config, n_workers=n_workers, progress=progress)


def spoken_digits_task(data_dir: str | None = None, n_samples: int = 200, seed: int = 0,
                       split: tuple[float, float, float] = (0.6, 0.2, 0.2),
                       snr_db: tuple[float, float] = (15.0, 35.0), split_by: str = "sample",
                       n_steps: int = 250, max_time: float = 1.0, spatial_bin: int = 5,
                       n_workers: int = 0, progress: bool = True, binning: str = "sparch") -> Task:
    """The ``spoken-digits`` task: 20 classes, SHD binning (default 4 ms x 140 channels).

    ``n_samples`` is the total over the three splits (stratified by class):
    200 (default) is a quick test size (~10-20 s to generate on 2 cores);
    use ~5000 for benchmarks (a few minutes). ``data_dir`` is the exact
    folder of the files (default: ``<cache>/spoken_digits/<config-hash>``).
    ``split_by="speaker"`` keeps whole voice variants out of train (like
    SHD's unseen test speakers; split sizes then vary a little);
    the default ``"sample"`` splits each class's samples at random.
    ``n_workers``/``progress`` only affect generation speed and display. ``binning="frames"``:
    the hybrid work's tonic binning (:func:`silava.core.data.shd.bin_frames`).
    """
    if split_by not in ("sample", "speaker"):
        raise ValueError(f"spoken-digits: split_by must be 'sample' or 'speaker', got {split_by!r}")
    if int(n_samples) != n_samples or n_samples < 5 * N_CLASSES:
        raise ValueError(f"spoken-digits: n_samples must be an integer >= {5 * N_CLASSES}, got {n_samples!r}")
    split = tuple(float(f) for f in split)
    if len(split) != 3 or min(split) <= 0 or abs(sum(split) - 1) > 1e-6:
        raise ValueError(f"spoken-digits: split must be 3 positive fractions summing to 1, got {split!r}")
    snr_db = tuple(float(s) for s in snr_db)
    if len(snr_db) != 2 or snr_db[0] > snr_db[1]:
        raise ValueError(f"spoken-digits: snr_db must be (low, high) in dB, got {snr_db!r}")
    gen_config = generation_config(int(n_samples), int(seed), split, snr_db, split_by)
    folder = (os.path.abspath(os.path.expanduser(data_dir)) if data_dir else
              os.path.join(default_cache_root(), "spoken_digits", config_hash(gen_config)))
    ensure_generated(folder, gen_config, n_workers=int(n_workers), progress=bool(progress))
    config = dict(name="spoken-digits", data_dir=data_dir, n_samples=int(n_samples), seed=int(seed),
                  split=list(split), snr_db=list(snr_db), split_by=split_by, n_steps=int(n_steps),
                  max_time=float(max_time), spatial_bin=int(spatial_bin), binning=binning)
    return spike_files_task("spoken-digits", split_files(folder), config, n_steps, max_time, spatial_bin,
                            n_classes=N_CLASSES, binning=binning,
                            notes=f"espeak-ng spoken digits (English 0-9, German 10-19) in {folder}.")
