"""The fault corpus (issue 15, items 1-5): every command, every kind of bad input, one contract.

Each case (tests/faults.py) breaks one input of one command and checks: the documented exit code
(2), exactly one line ``silava <cmd>: ...`` on stderr naming the problem, no traceback, every file of
the workspace unchanged, nothing left behind. Groups: checkpoints, model.net files, data sets
(SHD-format h5, the folder task's npz/h5), ``--inputs`` npz, YAML configs, constants JSON, command-line
options, outputs that are inputs or special files, full disks and read-only file systems (an
``OSError`` injected at write time). Signals, a real full tmpfs and concurrent exports are in
tests/test_faults_processes.py; the mutation checks (each protection matters) at the end.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from conftest import HAVE_LAVA
from faults import Case, build_workspace, constants_with, npz, problems, put, run_case, shd_files, yaml_bomb

#: a tiny training run (fails or finishes in seconds)
TRAIN = ["--task", "randman", "--data-opt", "n_units=8", "--data-opt", "n_classes=2", "--data-opt",
         "samples_per_class=10", "--data-opt", "n_steps=10", "--hidden", "4", "--epochs", "1", "--threads", "1",
         "--quiet"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return build_workspace(tmp_path_factory.mktemp("faults") / "base")


def _ckpt_kind(kind: str):
    def setup(ws: Path) -> Path:
        from test_checkpoint import make_bad

        (ws / "bad").mkdir(exist_ok=True)
        return make_bad(kind, ws / "bad")
    return setup


def _ws(ws: Path, name: str) -> str:
    return str(ws / name)


CASES: list[Case] = []


def case(id: str, cmd: str, setup, phrase: str, **kw) -> None:
    CASES.append(Case(id=id, cmd=cmd, setup=setup, phrase=phrase, **kw))


# --------------------------------------------------------------------------- checkpoints (export, compare)
CKPT_FAULTS = {
    "missing": "not found", "truncated": "corrupt or truncated", "not_zip": "corrupt or truncated",
    "empty": "corrupt or truncated", "bad_zip_member": "corrupt", "python_object": "not a silava checkpoint",
    "not_dict": "not a silava checkpoint", "plain_state_dict": "not a silava checkpoint",
    "wrong_tag": "not a silava checkpoint", "missing_keys": "lacks key(s)", "version": "format_version 99",
    "unknown_neuron": "unknown neuron type", "shape": "shape mismatch", "missing_param": "state_dict mismatch",
    "nan": "non-finite values", "inf": "non-finite values",
}
for _kind, _phrase in CKPT_FAULTS.items():
    case(f"export-ckpt-{_kind}", "export", lambda ws, k=_kind: [str(_ckpt_kind(k)(ws)), "-q"], _phrase)
    case(f"compare-ckpt-{_kind}", "compare", lambda ws, k=_kind: [str(_ckpt_kind(k)(ws)), "--lava-samples", "0"],
         _phrase)
case("export-model-net-as-ckpt", "export", lambda ws: [_ws(ws, "run/model.net")], "is a model.net")
case("compare-model-net-as-ckpt", "compare", lambda ws: [_ws(ws, "run/model.net"), "--lava-samples", "0"],
     "is a model.net")
case("export-folder-without-ckpt", "export", lambda ws: [str((ws / "empty").mkdir() or ws / "empty")],
     "no ckpt.pt in directory")
case("train-eval-only-truncated", "train", lambda ws: ["--eval-only", str(_ckpt_kind("truncated")(ws))],
     "corrupt or truncated")
case("train-qat-from-nan", "train",
     lambda ws: ["--qat", "--from", str(_ckpt_kind("nan")(ws)), "--out", _ws(ws, "q")], "non-finite values")


# --------------------------------------------------------------------------- model.net (sim, run)
def _netfile_bad(kind: str):
    def setup(ws: Path) -> str:
        import h5py

        good = (ws / "run" / "model.net").read_bytes()
        path = ws / "bad.net"
        if kind == "random":
            path.write_bytes(os.urandom(4096))
        elif kind == "empty":
            path.write_bytes(b"")
        elif kind == "truncated":
            path.write_bytes(good[: len(good) // 2])
        elif kind == "no_layers":
            with h5py.File(path, "w") as f:
                f.attrs["format"] = "silava-net"
                f.create_group("meta")
        elif kind == "version":
            path.write_bytes(good)
            with h5py.File(path, "r+") as f:
                f.attrs["format_version"] = np.int64(99)
        return str(path)
    return setup


NET_FAULTS = {"random": "not an HDF5 file", "empty": "not an HDF5 file", "truncated": "truncated or corrupt",
              "no_layers": "bad.net", "version": "99"}
for _cmd in ("sim", "run"):
    _lava = _cmd == "run"
    for _kind, _phrase in NET_FAULTS.items():
        case(f"{_cmd}-net-{_kind}", _cmd, lambda ws, k=_kind: [_netfile_bad(k)(ws), "--inputs", _ws(ws, "in.npz")],
             _phrase, needs_lava=_lava)
    case(f"{_cmd}-net-missing", _cmd, lambda ws: [_ws(ws, "nothere.net"), "--inputs", _ws(ws, "in.npz")],
         "no such file", needs_lava=_lava)
    case(f"{_cmd}-net-is-ckpt", _cmd, lambda ws: [_ws(ws, "run/ckpt.pt"), "--inputs", _ws(ws, "in.npz")],
         "is a training checkpoint (ckpt.pt), not a model.net", needs_lava=_lava)
    case(f"{_cmd}-net-is-folder", _cmd, lambda ws: [str(ws), "--inputs", _ws(ws, "in.npz")],
         "is a folder without a model.net", needs_lava=_lava)


# --------------------------------------------------------------------------- data sets (train)
def _t(n, k=20, seed=3):
    rng = np.random.default_rng(seed)
    return [np.sort(rng.random(k)).astype(np.float32) for _ in range(n)]


def _u(n, k=20, top=700, seed=4):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, top, k) for _ in range(n)]


SHD_FAULTS = {
    "unit_700": (dict(units=[np.r_[u[:-1], 700] for u in _u(6)]), "unit id 700 but the task has 700 channels"),
    "unit_negative": (dict(units=[np.r_[u[:-1], -3] for u in _u(6)]), "unit id -3"),
    "label_out_of_range": (dict(labels=[0, 1, 2, 25, 4, 5]), "label 25 but the task has 20 classes"),
    "label_negative": (dict(labels=[0, 1, -1, 3, 4, 5]), "label -1"),
    "label_fraction": (dict(labels=[0.0, 1.5, 2.0, 3.0, 4.0, 5.0]), "labels must be integer classes"),
    "lengths_differ": (dict(labels=[0, 1, 2, 3, 4]), "hold 6, 6 and 5 samples"),
    "sample_lengths_differ": (dict(units=[u[:10] for u in _u(6)]), "20 spike times but 10 unit ids"),
    "zero_samples": (dict(times=[], units=[], labels=[]), "holds no samples"),
    "no_labels": (dict(drop="labels"), "no dataset 'labels'"),
}
for _kind, (_kw, _phrase) in SHD_FAULTS.items():
    case(f"train-shd-{_kind}", "train",
         lambda ws, kw=_kw: ["--task", "shd", "--data-dir", shd_files(ws, "data", **kw), "--out", _ws(ws, "o"),
                             "--epochs", "1"], _phrase)
case("train-shd-train-not-hdf5", "train",
     lambda ws: ["--task", "shd", "--data-dir", (shd_files(ws, "data"), put(ws, "data/shd_train.h5", "junk"))[0],
                 "--out", _ws(ws, "o")], "not a readable HDF5 file")


def _folder_h5(kind: str):
    def setup(ws: Path) -> list[str]:
        import h5py

        d = ws / "mine"
        d.mkdir()
        times, units, labels = _t(6), _u(6, top=50), [0, 1, 0, 1, 0, 1]
        if kind == "unit_negative":
            units[2] = np.r_[units[2][:-1], -1]
        elif kind == "label_negative":
            labels[3] = -2
        elif kind == "zero_samples":
            times, units, labels = [], [], []
        elif kind == "sample_lengths_differ":
            units[1] = units[1][:5]
        with h5py.File(d / "train.h5", "w") as f:
            for key, vals, dt in (("spikes/times", times, np.float32), ("spikes/units", units, np.int32)):
                ds = f.create_dataset(key, (len(vals),), dtype=h5py.vlen_dtype(dt))
                for i, v in enumerate(vals):
                    ds[i] = np.asarray(v, dt)
            f.create_dataset("labels", data=np.asarray(labels, np.int64))
        return ["--task", "folder", "--data-dir", str(d), "--out", _ws(ws, "o"), "--epochs", "1"]
    return setup


for _kind, _phrase in {"unit_negative": "unit id -1", "label_negative": "label -2",
                       "zero_samples": "holds no samples", "sample_lengths_differ": "20 spike times but 5"}.items():
    case(f"train-folder-h5-{_kind}", "train", _folder_h5(_kind), _phrase)


def _folder_npz(kind: str):
    def setup(ws: Path) -> list[str]:
        d = ws / "mine"
        d.mkdir()
        x, y = np.zeros((10, 5, 3), np.uint8), np.arange(10) % 2
        arrays = {"x": x, "y": y}
        if kind == "empty_file":
            (d / "train.npz").write_bytes(b"")
            return ["--task", "folder", "--data-dir", str(d), "--out", _ws(ws, "o")]
        if kind == "rank2":
            arrays["x"] = np.zeros((10, 5))
        elif kind == "rank4":
            arrays["x"] = np.zeros((10, 5, 3, 2))
        elif kind == "string_labels":
            arrays["y"] = np.array(["a", "b"] * 5)
        elif kind == "nan":
            arrays["x"] = np.full((10, 5, 3), np.nan)
        elif kind == "no_samples":
            arrays = {"x": np.zeros((0, 5, 3)), "y": np.zeros(0, np.int64)}
        elif kind == "no_y":
            arrays = {"x": x}
        elif kind == "negative_labels":
            arrays["y"] = -np.arange(10)
        elif kind == "y_length":
            arrays["y"] = np.arange(7) % 2
        np.savez(d / "train.npz", **arrays)
        return ["--task", "folder", "--data-dir", str(d), "--out", _ws(ws, "o")]
    return setup


for _kind, _phrase in {"empty_file": "not a readable .npz", "rank2": "x has shape (10, 5)",
                       "rank4": "x has shape (10, 5, 3, 2)", "string_labels": "y must be integer labels",
                       "nan": "NaN or infinite", "no_samples": "holds no samples", "no_y": "lacks array(s) y",
                       "negative_labels": "negative labels", "y_length": "y must be integer labels"}.items():
    case(f"train-folder-npz-{_kind}", "train", _folder_npz(_kind), _phrase)


# --------------------------------------------------------------------------- --inputs npz (sim, run)
def _inputs(kind: str):
    def setup(ws: Path) -> str:
        x, y = (np.random.default_rng(0).random((5, 30, 16)) < 0.2).astype(np.int64), np.arange(5) % 4
        if kind == "empty_file":
            return str(put(ws, "bad.npz", b""))
        if kind == "not_zip":
            return str(put(ws, "bad.npz", "x,y\n1,2\n"))
        if kind == "npy":
            np.save(ws / "bad.npy", x)
            os.replace(ws / "bad.npy", ws / "bad.npz")
            return str(ws / "bad.npz")
        arrays = {"x": x, "y": y}
        if kind == "no_y":
            arrays = {"x": x}
        elif kind == "rank2":
            arrays["x"] = x[:, :, 0]
        elif kind == "rank4":
            arrays["x"] = x[..., None]
        elif kind == "string_labels":
            arrays["y"] = np.array(list("abcde"))
        elif kind == "y_length":
            arrays["y"] = y[:3]
        elif kind == "negative":
            arrays["x"] = x.copy()
            arrays["x"][0, 0, 0] = -3
        elif kind == "zero_steps":
            arrays["x"] = x[:, :0]
        elif kind == "zero_samples":
            arrays = {"x": x[:0], "y": y[:0]}
        elif kind == "huge":
            arrays["x"] = x.astype(np.float64)
            arrays["x"][0, 0, 0] = 1e300
        elif kind == "nan":
            arrays["x"] = x.astype(np.float64)
            arrays["x"][1, 2, 3] = np.nan
        elif kind == "fraction":
            arrays["x"] = x + 0.5
        elif kind == "labels_beyond_classes":
            arrays["y"] = np.array([0, 1, 2, 3, 9])
        elif kind == "features":
            arrays["x"] = x[:, :, :15]
        elif kind == "steps":
            arrays["x"] = np.concatenate([x, x[:, :1]], axis=1)
        return npz(ws, "bad.npz", **arrays)
    return setup


INPUT_FAULTS = {
    "empty_file": "not a readable .npz", "not_zip": "not a readable .npz", "npy": "a single .npy array",
    "no_y": "needs arrays 'x' [N, T, F] and 'y' [N]", "rank2": "x has shape (5, 30)",
    "rank4": "x has shape (5, 30, 16, 1)", "string_labels": "y has dtype <U1", "y_length": "shape [N] = [5]",
    "negative": "negative values (lowest -3)", "zero_steps": "at least one sample, one step",
    "zero_samples": "at least one sample, one step", "huge": "more than a spike message carries",
    "nan": "NaN or infinite", "fraction": "fractional values", "labels_beyond_classes": "labels go up to 9",
    "features": "15 features but the network expects 16", "steps": "31 steps but the network runs 30",
}
for _kind, _phrase in INPUT_FAULTS.items():
    case(f"sim-inputs-{_kind}", "sim", lambda ws, k=_kind: [_ws(ws, "run/model.net"), "--inputs", _inputs(k)(ws)],
         _phrase)
for _kind in ("empty_file", "rank4", "negative", "zero_steps", "huge", "labels_beyond_classes"):
    case(f"run-inputs-{_kind}", "run", lambda ws, k=_kind: [_ws(ws, "run/model.net"), "--inputs", _inputs(k)(ws)],
         INPUT_FAULTS[_kind], needs_lava=True)


# --------------------------------------------------------------------------- YAML configs (train --config)
YAML_FAULTS = {
    "alias_bomb": (yaml_bomb(), "expands to"),
    "recursive_alias": ("task: randman\nnotes: &a [*a]\n", "recursive YAML alias"),
    "not_utf8": (b"task: randman\nnotes: caf\xe9\n", "not UTF-8 text"),
    "not_mapping": ("- task\n- randman\n", "must be a YAML mapping"),
    "unknown_key": ("task: randman\nhiddden: 4\n", "unknown key 'hiddden'"),
    "bad_type": ("task: randman\nhidden: many\n", "'hidden' must be an integer"),
    "infinite_lr": ("task: randman\nlr: .inf\n", "'lr' must be a finite number"),
    "syntax": ("task: [randman\n", "cannot parse YAML"),
    "python_tag": ("task: !!python/object/apply:os.system ['true']\n", "cannot parse YAML"),
    "too_big": ("task: randman\nnotes: '" + "x" * 300_000 + "'\n", "more than a config holds"),
    "deep": ("notes: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    "zero_epochs": ("task: randman\nepochs: 0\n", "'epochs' must be >= 1"),
    "data_not_mapping": ("task: randman\ndata: 12\n", "'data' must be a mapping"),
}
for _kind, (_text, _phrase) in YAML_FAULTS.items():
    case(f"train-yaml-{_kind}", "train",
         lambda ws, t=_text: ["--config", str(put(ws, "cfg.yaml", t)), "--out", _ws(ws, "o")], _phrase)


# --------------------------------------------------------------------------- constants JSON (sim --report)
def _big(doc):
    doc["constants"]["e_synop_pj"]["value"] = 1e308


def _neg(doc):
    doc["constants"]["e_spike_pj"]["value"] = -1


def _missing(doc):
    del doc["constants"]["t_synop_ns"]


def _string(doc):
    doc["constants"]["e_synop_pj"]["value"] = "23.6"


def _unknown(doc):
    doc["constants"]["e_coffee_pj"] = {"value": 1, "unit": "pJ", "source": "x"}


def _schema(doc):
    doc["schema"] = "other"


CONSTANT_FAULTS = {
    "1e308": (lambda ws: constants_with(ws, _big), "expected a finite number in [0, 1e+12]"),
    "negative": (lambda ws: constants_with(ws, _neg), "expected a finite number"),
    "missing": (lambda ws: constants_with(ws, _missing), "constants/t_synop_ns: missing"),
    "string": (lambda ws: constants_with(ws, _string), "expected a finite number"),
    "unknown": (lambda ws: constants_with(ws, _unknown), "unknown constant"),
    "schema": (lambda ws: constants_with(ws, _schema), "schema: expected"),
    "nan": (lambda ws: str(put(ws, "c.json", (ws / "constants.json").read_text().replace("23.6", "NaN"))),
            "expected a finite number"),
    "deep": (lambda ws: str(put(ws, "c.json", "[" * 100_000 + "]" * 100_000)), "nested too deeply"),
    "not_json": (lambda ws: str(put(ws, "c.json", "e_synop_pj = 23.6\n")), "invalid JSON"),
    "binary": (lambda ws: str(put(ws, "c.json", b"\xff\xfe\x00\x01")), "not a text (JSON) file"),
    "huge": (lambda ws: str(put(ws, "c.json", " " * (2 << 20))), "more than a constants file holds"),
    "missing_file": (lambda ws: _ws(ws, "nothere.json"), "no such file or built-in set"),
}
for _kind, (_make, _phrase) in CONSTANT_FAULTS.items():
    case(f"sim-constants-{_kind}", "sim",
         lambda ws, m=_make: [_ws(ws, "run/model.net"), "--inputs", _ws(ws, "in.npz"), "--report", _ws(ws, "rep"),
                              "--constants", m(ws)], _phrase)


# --------------------------------------------------------------------------- command-line options
OPTION_FAULTS = [
    ("train", ["--lr", "inf", *TRAIN], "'lr' must be a finite number"),
    ("train", ["--lr", "nan", *TRAIN], "'lr' must be a finite number"),
    ("train", ["--lr", "1e300", *TRAIN], "far too large for Adam"),
    ("train", ["--epochs", "0", *TRAIN[:-5]], "'epochs' must be >= 1"),
    ("train", [*TRAIN, "--hidden", "100000000"], "more than this machine's"),
    ("train", [*TRAIN, "--neuron-opt", "foo=1"], "the csilif neuron has no option 'foo'"),
    ("train", [*TRAIN, "--dropout", "1.5"], "'dropout' must be in [0, 1)"),
    ("train", [*TRAIN, "--batch-size", "-1"], "'batch_size' must be >= 1"),
    ("train", [*TRAIN, "--neuron", "hh"], "unknown neuron 'hh'"),
    ("train", [*TRAIN, "--device", "tpu"], "invalid choice: 'tpu'"),
    ("train", [*TRAIN, "--data-opt", "nokey"], "expects KEY=VALUE"),
    ("train", ["--resume"], "--resume needs --out DIR"),
    ("export", ["{ws}/run/ckpt.pt", "--weight-bits", "1"], "weight bits 1 out of range [2, 8]"),
    ("export", ["{ws}/run/ckpt.pt", "--decay-bits", "99"], "D = 99"),
    ("export", ["{ws}/run/ckpt.pt", "--layer-decay-bits", "x"], "expected LAYER=BITS"),
    ("export", ["{ws}/run/ckpt.pt", "--layer-decay-bits", "9=16"], "layer index 9 out of range"),
    ("export", ["{ws}/run/ckpt.pt", "--bogus"], "unrecognized arguments: --bogus"),
    ("export", [], "the following arguments are required: checkpoint"),
    ("sim", ["{ws}/run/model.net", "--inputs", "{ws}/in.npz", "--batch-size", "0"], "--batch-size 0"),
    ("sim", ["{ws}/run/model.net", "--inputs", "{ws}/in.npz", "--samples", "0"], "--samples 0: must be at least 1"),
    ("sim", ["{ws}/run/model.net"], "give the inputs with --task TASK or --inputs FILE.npz"),
    ("sim", ["{ws}/run/model.net", "--inputs", "{ws}/in.npz", "--timeline", "loihi"], "invalid choice: 'loihi'"),
    ("sim", ["{ws}/run/model.net", "--task", "nosuch"], "--task nosuch"),
    ("run", ["{ws}/run/model.net", "--inputs", "{ws}/in.npz", "--timeout", "0"], "--timeout 0: must be a positive"),
    ("run", ["{ws}/run/model.net", "--inputs", "{ws}/in.npz", "--timeout", "nan"], "--timeout nan"),
    ("run", ["{ws}/run/model.net", "--inputs", "{ws}/in.npz", "--timeout", "-1"], "--timeout -1"),
    ("run", ["{ws}/run/model.net", "--inputs", "{ws}/in.npz", "--chunk", "0"], "--chunk 0: must be at least 1"),
    ("run", ["{ws}/run/model.net", "--inputs", "{ws}/in.npz", "--backend", "loihi2", "--tag", "floating_pt"],
     "runs the fixed_pt models only"),
    ("run", ["{ws}/run/model.net", "--inputs", "{ws}/in.npz", "--backend", "loihi2"], "lava-loihi"),
    ("compare", ["{ws}/run/ckpt.pt", "--lava-timeout", "nan"], "--lava-timeout nan"),
    ("compare", ["{ws}/run/ckpt.pt", "--batch-size", "0"], "--batch-size 0"),
    ("compare", ["{ws}/run/ckpt.pt", "--net", "{ws}/run/model.net", "--weight-bits", "4"],
     "quantization flags apply when compare quantizes"),
    ("compare", ["{ws}/run/ckpt.pt", "--lava-samples", "-1"], "--lava-samples -1"),
    ("compare", ["{ws}/run/ckpt.pt", "--samples", "0", "--lava-samples", "0"], "--samples 0"),
    ("compare", ["{ws}/run/ckpt.pt", "--task", "nosuch", "--lava-samples", "0"], "--task nosuch: unknown task"),
    ("demo", ["--epochs", "0", "--out", "{ws}/d"], "--epochs 0: must be at least 1"),
    ("demo", ["--hidden", "-1", "--out", "{ws}/d"], "--hidden -1"),
    ("demo", ["--task", "nosuch"], "invalid choice: 'nosuch'"),
    ("demo", ["--threads", "0", "--out", "{ws}/d"], "--threads 0"),
]
def _option_argv(cmd: str, argv: list[str]):
    def setup(ws: Path) -> list[str]:
        out = [a.replace("{ws}", str(ws)) for a in argv]
        if cmd == "train" and "--out" not in out and "--resume" not in out:
            out += ["--out", str(ws / "o")]
        return out
    return setup


for _i, (_cmd, _argv, _phrase) in enumerate(OPTION_FAULTS):
    case(f"{_cmd}-option-{_i}", _cmd, _option_argv(_cmd, _argv), _phrase, needs_lava=_cmd == "run")


# --------------------------------------------------------------------------- outputs that are inputs, special files
def _symlink_to_ckpt(ws: Path) -> list[str]:
    (ws / "cmp").mkdir()
    os.symlink(ws / "run" / "ckpt.pt", ws / "cmp" / "compare.png")
    return [_ws(ws, "run/ckpt.pt"), "--out", _ws(ws, "cmp"), "--lava-samples", "0"]


def _fifo(ws: Path) -> str:
    os.mkfifo(ws / "pipe.net")
    return str(ws / "pipe.net")


def _metrics_config(ws: Path) -> list[str]:
    put(ws, "o/metrics.json", "task: randman\n")
    return ["--config", _ws(ws, "o/metrics.json"), "--out", _ws(ws, "o"), "--overwrite"]


def _report_over_constants(ws: Path) -> list[str]:
    put(ws, "rep/report.json", (ws / "constants.json").read_text())
    return [_ws(ws, "run/model.net"), "--inputs", _ws(ws, "in.npz"), "--report", _ws(ws, "rep"),
            "--constants", _ws(ws, "rep/report.json")]


CLASH_FAULTS = [
    ("export-o-is-ckpt", "export", lambda ws: [_ws(ws, "run/ckpt.pt"), "-o", _ws(ws, "run/ckpt.pt")],
     "is the checkpoint"),
    ("export-o-symlink-to-ckpt", "export",
     lambda ws: (os.symlink(ws / "run" / "ckpt.pt", ws / "link.net"),
                 [_ws(ws, "run/ckpt.pt"), "-o", _ws(ws, "link.net")])[1], "is the checkpoint"),
    ("export-o-dev-null", "export", lambda ws: [_ws(ws, "run/ckpt.pt"), "-o", os.devnull], "not a regular file"),
    ("export-o-fifo", "export", lambda ws: [_ws(ws, "run/ckpt.pt"), "-o", _fifo(ws)], "not a regular file"),
    ("export-report-dir-is-ckpt", "export",
     lambda ws: [_ws(ws, "run/ckpt.pt"), "-o", _ws(ws, "x/model.net"), "--report-dir", _ws(ws, "run/ckpt.pt")],
     "is not a directory"),
    ("sim-json-is-network", "sim", lambda ws: [_ws(ws, "run/model.net"), "--inputs", _ws(ws, "in.npz"), "--json",
                                               _ws(ws, "run/model.net")], "is the network"),
    ("sim-json-is-inputs", "sim", lambda ws: [_ws(ws, "run/model.net"), "--inputs", _ws(ws, "in.npz"), "--json",
                                              _ws(ws, "in.npz")], "is the inputs"),
    ("sim-report-over-constants", "sim", _report_over_constants, "is the constants file"),
    ("run-json-is-network", "run", lambda ws: [_ws(ws, "run/model.net"), "--inputs", _ws(ws, "in.npz"), "--json",
                                               _ws(ws, "run/model.net")], "is the network"),
    ("run-json-is-inputs", "run", lambda ws: [_ws(ws, "run/model.net"), "--inputs", _ws(ws, "in.npz"), "--json",
                                              _ws(ws, "in.npz")], "is the inputs"),
    ("compare-json-is-ckpt", "compare", lambda ws: [_ws(ws, "run/ckpt.pt"), "--json", _ws(ws, "run/ckpt.pt"),
                                                    "--lava-samples", "0"], "is the checkpoint"),
    ("compare-json-is-net", "compare", lambda ws: [_ws(ws, "run/ckpt.pt"), "--net", _ws(ws, "run/model.net"),
                                                   "--json", _ws(ws, "run/model.net"), "--lava-samples", "0"],
     "is the --net network"),
    ("compare-png-symlink-to-ckpt", "compare", _symlink_to_ckpt, "is the checkpoint"),
    ("train-qat-out-is-from", "train",
     lambda ws: ["--qat", "--from", _ws(ws, "run/ckpt.pt"), "--out", _ws(ws, "run"), "--overwrite"],
     "is the --from checkpoint"),
    ("train-out-over-config", "train", _metrics_config, "is the --config"),
]
for _id, _cmd, _setup, _phrase in CLASH_FAULTS:
    case(_id, _cmd, _setup, _phrase)


# --------------------------------------------------------------------------- full disk, read-only file system
WRITE_FAULTS = [
    ("export", lambda ws: [_ws(ws, "run/ckpt.pt"), "-q"]),                      # over the existing model.net
    ("export", lambda ws: [_ws(ws, "run/ckpt.pt"), "-q", "-o", _ws(ws, "new/model.net")]),
    ("sim", lambda ws: [_ws(ws, "run/model.net"), "--inputs", _ws(ws, "in.npz"), "--json", _ws(ws, "s.json")]),
    ("sim", lambda ws: [_ws(ws, "run/model.net"), "--inputs", _ws(ws, "in.npz"), "--report", _ws(ws, "rep")]),
    ("compare", lambda ws: [_ws(ws, "run/ckpt.pt"), "--lava-samples", "0", "--task", "randman", "--samples", "8"]),
    ("train", lambda ws: [*TRAIN, "--out", _ws(ws, "o")]),
    ("run", lambda ws: [_ws(ws, "run/model.net"), "--inputs", _ws(ws, "in.npz"), "--json", _ws(ws, "r.json"),
                        "--samples", "2"]),
]
for _code, _phrase in (("enospc", "no space left on device"), ("erofs", "read-only file system")):
    for _i, (_cmd, _setup) in enumerate(WRITE_FAULTS):
        if _code == "erofs" and _cmd in ("run", "compare"):
            continue
        case(f"{_cmd}-{_code}-{_i}", _cmd, _setup, _phrase, inject=_code, needs_lava=_cmd == "run")


case("export-enospc-second-file", "export", lambda ws: [_ws(ws, "run/ckpt.pt"), "-q"], "no space left on device",
     inject="enospc:1")     # model.net could be written, its report cannot: neither replaces the old files


# --------------------------------------------------------------------------- the tests
BY_ID = {c.id: c for c in CASES}


def test_corpus_size():
    assert len(CASES) >= 100, len(CASES)
    assert len(BY_ID) == len(CASES), "case ids must be unique"


@pytest.mark.parametrize("case_id", sorted(BY_ID))
def test_fault(case_id, workspace, tmp_path, capsys, monkeypatch):
    case = BY_ID[case_id]
    if case.needs_lava and not HAVE_LAVA:
        pytest.skip("lava-nc not installed")
    res = run_case(case, workspace, tmp_path, capsys, monkeypatch)
    found = problems(case, res)
    assert not found, f"{case_id}: " + "; ".join(found)


# --------------------------------------------------------------------------- mutation checks
def _no_check_outputs(monkeypatch):
    import silava.export.to_lava as to_lava

    monkeypatch.setattr(to_lava, "check_outputs", lambda *a, **k: None)


def _no_sim_check_outputs(monkeypatch):
    import silava.core.fileio as fileio

    monkeypatch.setattr(fileio, "check_outputs", lambda *a, **k: None)


def _no_group(monkeypatch):
    """export writes its files one by one, each replacing its destination (the old code's order)."""
    import silava.export.to_lava as to_lava
    from silava.core import netfile
    from silava.core.fileio import write_bytes_atomic

    def write_outputs(net, files):
        for path, text in files.items():
            write_bytes_atomic(path, netfile.to_bytes(net) if text is None else text.encode())

    monkeypatch.setattr(to_lava, "write_outputs", write_outputs)


def _no_os_error_frame(monkeypatch):
    """run_command lets OSError through (a traceback)."""
    import silava.core.cliutil as cliutil

    real = cliutil.run_command

    def run_command(prog, body, errors=(), **kw):
        def strict():
            try:
                return body()
            except OSError as exc:
                raise RuntimeError(f"unhandled {exc}") from exc
        return real(prog, strict, errors, **kw)

    for module in ("silava.core.cliutil", "silava.export.to_lava", "silava.hwsim.simulate", "silava.app.cli"):
        import importlib

        mod = importlib.import_module(module)
        if hasattr(mod, "run_command"):
            monkeypatch.setattr(mod, "run_command", run_command)


def _no_negative_check(monkeypatch):
    import silava.core.cliutil as cliutil

    def load(path, samples, error=ValueError):      # the arrays as they are, no checks
        with np.load(path) as data:
            return data["x"], data["y"].astype(np.int64)

    monkeypatch.setattr(cliutil, "load_npz_inputs", load)


def _no_yaml_bound(monkeypatch):
    import silava.train.config as config

    monkeypatch.setattr(config, "YAML_MAX_NODES", 10**9)


def _no_shd_check(monkeypatch):
    import silava.core.data.shd as shd

    real = shd.check_spike_h5
    monkeypatch.setattr(shd, "check_spike_h5", lambda path, n_channels=None, n_classes=None: real(path))


def _no_run_folder_cleanup(monkeypatch):
    import silava.train.train as train

    monkeypatch.setattr(train.RunFolder, "discard", lambda self: None)


#: protection -> (how to disable it, a corpus case that must then fail)
MUTATIONS = {
    "export_check_outputs": (_no_check_outputs, "export-o-is-ckpt"),
    "sim_check_outputs": (_no_sim_check_outputs, "sim-json-is-inputs"),
    "export_atomic_group": (_no_group, "export-enospc-second-file"),
    "os_error_one_line": (_no_os_error_frame, "sim-enospc-2"),
    "npz_negative_counts": (_no_negative_check, "sim-inputs-negative"),
    "yaml_alias_bound": (_no_yaml_bound, "train-yaml-alias_bomb"),
    "shd_file_check": (_no_shd_check, "train-shd-unit_700"),
    "train_cleanup": (_no_run_folder_cleanup, "train-enospc-5"),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_each_protection_matters(name, workspace, tmp_path, capsys, monkeypatch):
    disable, case_id = MUTATIONS[name]
    case = BY_ID[case_id]
    if name == "yaml_alias_bound":   # without the bound the bomb expands for minutes: a smaller one shows it
        case = Case(id=case.id, cmd=case.cmd, phrase="expands to",
                    setup=lambda ws: ["--config", str(put(ws, "cfg.yaml", yaml_bomb(levels=5, width=7))),
                                      "--out", str(ws / "o"), "--epochs", "0"])
        assert not problems(case, run_case(case, workspace, tmp_path / "a", capsys, monkeypatch))
    else:
        assert not problems(case, run_case(case, workspace, tmp_path / "a", capsys, monkeypatch))
    (tmp_path / "b").mkdir()
    disable(monkeypatch)
    res = run_case(case, workspace, tmp_path / "b", capsys, monkeypatch)
    assert problems(case, res), f"{name}: the corpus still passes with the protection disabled"
