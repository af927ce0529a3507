"""Training configuration: defaults < YAML file < command-line flags.

A configuration is one flat ``dict``. Scalar keys are replaced by a later source;
the two dict-valued keys (``data``: options for ``silava.core.data.get_task``,
``neuron_kwargs``: extra options for the hidden neurons, e.g. ``dt_max`` for
C-SiLIF) are merged key by key, so a CLI ``--data-opt n_steps=50`` keeps the
other data options of the YAML file.

YAML files use the same key names as :data:`DEFAULTS` (underscores; dashes are
accepted too), for example::

    task: shd
    neuron: csilif
    hidden: 128
    lr: 0.01
    data: {n_steps: 250, max_time: 1.0, spatial_bin: 5}
    neuron_kwargs: {dt_max: 0.5}

Defaults follow the SiLIF paper's SpArch setup (spec §1.5/§1.6): Adam, lr 1e-2,
batch 128, dropout 0.1, ReduceLROnPlateau(patience 10, factor 0.7, min_lr 1e-6),
2 hidden layers, 100 epochs. Departures, chosen so that a 5-epoch run on the
small ``randman`` task finishes in a couple of minutes on 2 CPU cores:

- ``hidden`` is 128 (paper: 512; the paper's SHD 38.7k-parameter model also uses 128);
- ``init_state`` is ``"zeros"`` (paper: ``"random"``, i.e. U[0,1) initial states at
  every forward call). Zero initial states are what a Loihi deployment starts
  from, so the trained model and the chip see the same dynamics; the shipped
  paper configs in ``train/configs/`` set ``init_state: random``.

Per-neuron defaults (:data:`NEURON_DEFAULTS`) sit between :data:`DEFAULTS` and the
YAML file. Only RF has some: with the paper's box-car surrogate its hidden layers
are silent at initialisation and receive no gradient (the Euler input gain
``dt = 0.004`` with ``|ω| ≥ 5`` gives a membrane gain ≈ ``1/|ω| ≤ 0.2`` for the
unit-variance BatchNorm currents, so ``Re u`` stays far below the box-car window
around the threshold 1); the reference only trains it from random initial states
for 100 epochs on SSC. The defaults therefore use the fast-sigmoid surrogate
(non-zero gradient everywhere, slope 10) and lr 0.05, which lets BatchNorm scale
the currents up until the neurons fire (91 % validation accuracy on the default
randman task after 5 epochs, chance level with lr 0.01 or with the box-car).
``train/configs/ssc_rf_4ms.yaml`` restores the reference settings.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, Mapping

import yaml

#: Directory holding the shipped YAML configurations.
CONFIG_DIR = Path(__file__).resolve().parent / "configs"

#: Every configuration key with its default value.
DEFAULTS: dict[str, Any] = {
    "task": None,            # required: randman, spoken-digits, shd, ssc, gsc
    "neuron": "csilif",      # silif, csilif, lif, adlif, cadlif, rf, multiout
    "hidden": 128,           # neurons per hidden layer (paper default 512)
    "layers": 2,             # number of hidden layers (reference nb_layers = layers + 1)
    "dropout": 0.1,
    "epochs": 100,
    "lr": 1e-2,
    "batch_size": 128,
    "patience": 10,          # ReduceLROnPlateau patience (epochs)
    "factor": 0.7,           # ReduceLROnPlateau factor
    "min_lr": 1e-6,
    "seed": 13,              # first of the reference's default seeds [13, 42, 73, 190, 268]
    "init_state": "zeros",   # zeros | random
    "max_samples": None,     # cap on the samples of each split (None = all)
    "threads": None,         # torch intra-op threads (None = usable CPUs, at most 4)
    "device": "cpu",         # cpu | cuda
    "out": None,             # output directory
    "data": {},              # keyword options for silava.core.data.get_task
    "neuron_kwargs": {},     # extra keyword options for the hidden neurons
    "notes": None,           # free text (provenance of a shipped config); ignored
    "arch": "sparch",        # sparch | hybrid | has8-resnet | has8-vgg
    "arch_kwargs": {},       # options of a HAS-8 arch (silava.train.has8.OPTIONS: width, depth, path, ...)
    # the hybrid recurrent network (arch: hybrid, train/hybrid.py; spec neurons.md §7)
    "spiking_ratio": 0.5,    # hybrid: fraction p of spiking units (floor(p*hidden))
    "nonspiking": "nsn",     # hybrid: nsn (graded LIF) | ann (tanh)
    "recurrent": "direct",   # hybrid: direct | separate | none
    "readout": "max",        # hybrid: max (logits max_t v_t) | sum
    "train_fraction": 1.0,   # use a seeded (42) random fraction of the train split (reduced-data runs)
}

#: Defaults per architecture, applied over DEFAULTS (and the neuron defaults) and under the YAML file:
#: the hybrid network has one recurrent hidden layer, no dropout, and the hybrid work's Adam lr range.
ARCH_DEFAULTS: dict[str, dict[str, Any]] = {
    "hybrid": {"layers": 1, "dropout": 0.0, "lr": 1e-2, "hidden": 64},
}

#: Defaults per hidden neuron type, applied over DEFAULTS and under the YAML file
#: (see the module docstring for why RF needs them).
NEURON_DEFAULTS: dict[str, dict[str, Any]] = {
    "rf": {"lr": 0.05, "neuron_kwargs": {"surrogate": "fast-sigmoid"}},
}

#: Keys whose values are dicts merged key by key.
DICT_KEYS = ("data", "neuron_kwargs", "arch_kwargs")

#: largest learning rate accepted: Adam's step is about lr per parameter, so lr >= 10 wipes out any
#: trained weight in one step (the defaults are 0.01, RF 0.05)
LR_MAX = 10.0

_INT_KEYS = {"hidden": 1, "layers": 1, "epochs": 1, "batch_size": 1, "patience": 0,
             "seed": 0, "max_samples": 1, "threads": 1}
_FLOAT_KEYS = ("lr", "dropout", "factor", "min_lr")
_CHOICES = {"init_state": ("zeros", "random"), "device": ("cpu", "cuda"),
            "arch": ("sparch", "hybrid", "has8-resnet", "has8-vgg"),
            "nonspiking": ("nsn", "ann"), "recurrent": ("direct", "separate", "none"), "readout": ("max", "sum")}


class ConfigError(ValueError):
    """A bad configuration value or file; the message is one line naming the fix."""


def _normalise_keys(cfg: Mapping[str, Any], source: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        if not isinstance(key, str):
            raise ConfigError(f"{source}: keys must be strings, got {key!r}")
        name = key.replace("-", "_")
        if name not in DEFAULTS:
            known = ", ".join(sorted(DEFAULTS))
            raise ConfigError(f"{source}: unknown key '{key}' (known keys: {known})")
        if name in DICT_KEYS:
            if value is None:
                value = {}
            if not isinstance(value, Mapping):
                raise ConfigError(f"{source}: '{key}' must be a mapping, got {type(value).__name__}")
            value = {str(k): v for k, v in value.items()}
        out[name] = value
    return out


def find_config(name: str | Path) -> Path:
    """Resolve ``name``: an existing path, or a shipped config by name (``shd_csilif_128``)."""
    path = Path(name)
    if path.is_file():
        return path
    for candidate in (CONFIG_DIR / path.name, CONFIG_DIR / f"{path.name}.yaml"):
        if not path.parent.parts and candidate.is_file():
            return candidate
    raise ConfigError(f"config file not found: {name} (give a YAML path or one of: "
                      f"{', '.join(shipped_configs()) or 'none shipped'})")


def shipped_configs() -> list[str]:
    """Names (without ``.yaml``) of the configs shipped in ``train/configs/``."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


#: largest YAML config read (the shipped ones are < 2 kB)
YAML_MAX_BYTES = 256 * 1024
#: most YAML nodes a config may expand to, aliases followed (a few hundred in practice); bounds
#: "billion laughs" alias bombs, which are small on disk and exponential once expanded
YAML_MAX_NODES = 10_000


def _expanded_size(node: Any, memo: dict[int, int], active: set[int]) -> int:
    """Nodes of a composed YAML graph with every alias expanded (memoised: alias bombs cost linear time)."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in active:
        raise ConfigError("recursive YAML alias (a node that contains itself); write the value out")
    active.add(key)
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo, active) + _expanded_size(v, memo, active) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(v, memo, active) for v in node.value)
    else:
        size = 1
    active.discard(key)
    memo[key] = size
    return size


def safe_yaml(text: str, where: str) -> Any:
    """``yaml.safe_load(text)`` after checking that ``text`` expands to at most :data:`YAML_MAX_NODES` nodes."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot parse YAML {where}: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise ConfigError(f"{where}: YAML nested too deeply; a config is a flat mapping of keys to values") from None
    if node is None:
        return None
    try:
        size = _expanded_size(node, {}, set())
    except RecursionError:
        raise ConfigError(f"{where}: YAML nested too deeply; a config is a flat mapping of keys to values") from None
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if size > YAML_MAX_NODES:
        raise ConfigError(f"{where}: the YAML expands to {size:,} values (aliases followed), more than a config "
                          f"holds ({YAML_MAX_NODES:,}); write the values out without anchors and aliases")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot parse YAML {where}: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise ConfigError(f"{where}: YAML nested too deeply; a config is a flat mapping of keys to values") from None


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a (partial, normalised) config dict.

    Limits: :data:`YAML_MAX_BYTES` on disk, :data:`YAML_MAX_NODES` values once aliases are expanded,
    UTF-8 text. Every problem is a :class:`ConfigError` naming the file.
    """
    path = find_config(path)
    try:
        size = path.stat().st_size
        if size > YAML_MAX_BYTES:
            raise ConfigError(f"config {path}: {size:,} bytes, more than a config holds ({YAML_MAX_BYTES:,}); pass "
                              f"the YAML config file (a few keys: task, neuron, hidden, ...)")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config {path}: not UTF-8 text (byte {exc.start}); save the YAML file as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    raw = safe_yaml(text, f"config {path}")
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: a config must be a YAML mapping of keys to values")
    return _normalise_keys(raw, str(path))


def merge_configs(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Merge partial configs over :data:`DEFAULTS`, later layers winning.

    The :data:`NEURON_DEFAULTS` of the resulting neuron type are applied right
    after :data:`DEFAULTS`, under every given layer.
    """
    layers = [_normalise_keys(layer, f"config layer {i}") for i, layer in enumerate(layers)]
    neuron, arch = DEFAULTS["neuron"], DEFAULTS["arch"]
    for layer in layers:
        neuron = layer.get("neuron", neuron)
        arch = layer.get("arch", arch)
    cfg = copy.deepcopy(DEFAULTS)
    for layer in [NEURON_DEFAULTS.get(neuron, {}), ARCH_DEFAULTS.get(arch, {}), *layers]:
        for key, value in layer.items():
            if key in DICT_KEYS:
                cfg[key] = {**cfg[key], **copy.deepcopy(value)}
            else:
                cfg[key] = copy.deepcopy(value)
    return validate(cfg)


#: largest integer setting (epochs, hidden, seed, ...): int32, what torch and numpy seeds take
INT_MAX = 2**31 - 1


def _as_int(key: str, value: Any) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"'{key}' must be an integer, got {value!r}")
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"'{key}' must be an integer, got {value!r}") from None
    if not math.isfinite(as_float) or not as_float.is_integer():
        raise ConfigError(f"'{key}' must be an integer, got {value!r}")
    if abs(as_float) > INT_MAX:
        raise ConfigError(f"'{key}' = {value!r} is out of range (at most {INT_MAX:,})")
    return int(as_float)


def _as_float(key: str, value: Any) -> float:
    # YAML 1.1 reads "1e-3" (no dot) as a string: accept it.
    if isinstance(value, bool):
        raise ConfigError(f"'{key}' must be a number, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"'{key}' must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise ConfigError(f"'{key}' must be a finite number, got {value!r}")
    return out


def validate(cfg: dict[str, Any]) -> dict[str, Any]:
    """Coerce types and check ranges in place; returns ``cfg``. Raises :class:`ConfigError`."""
    for key, low in _INT_KEYS.items():
        if cfg.get(key) is None and key in ("max_samples", "threads"):
            continue
        cfg[key] = _as_int(key, cfg[key])
        if cfg[key] < low:
            raise ConfigError(f"'{key}' must be >= {low}, got {cfg[key]}")
    for key in _FLOAT_KEYS + ("spiking_ratio", "train_fraction"):
        cfg[key] = _as_float(key, cfg[key])
    if not 0.0 <= cfg["spiking_ratio"] <= 1.0:
        raise ConfigError(f"'spiking_ratio' must be in [0, 1], got {cfg['spiking_ratio']}")
    if not 0.0 < cfg["train_fraction"] <= 1.0:
        raise ConfigError(f"'train_fraction' must be in (0, 1], got {cfg['train_fraction']}")
    if cfg["arch"] == "hybrid" and cfg["layers"] != 1:
        raise ConfigError(f"the hybrid network has one recurrent hidden layer: 'layers' must be 1, got {cfg['layers']}")
    if not cfg["lr"] > 0:
        raise ConfigError(f"'lr' must be > 0, got {cfg['lr']}")
    if cfg["lr"] > LR_MAX:
        raise ConfigError(f"'lr' = {cfg['lr']:g} is far too large for Adam (training would diverge to NaN); use a "
                          f"learning rate below {LR_MAX:g}, typically 1e-3 to 5e-2")
    if not 0.0 <= cfg["dropout"] < 1.0:
        raise ConfigError(f"'dropout' must be in [0, 1), got {cfg['dropout']}")
    if not 0.0 < cfg["factor"] < 1.0:
        raise ConfigError(f"'factor' must be in (0, 1), got {cfg['factor']}")
    if not cfg["min_lr"] >= 0:
        raise ConfigError(f"'min_lr' must be >= 0, got {cfg['min_lr']}")
    for key, choices in _CHOICES.items():
        if cfg[key] not in choices:
            raise ConfigError(f"'{key}' must be one of {', '.join(choices)}, got {cfg[key]!r}")
    for key in ("task", "neuron"):
        if cfg[key] is not None and not isinstance(cfg[key], str):
            raise ConfigError(f"'{key}' must be a name, got {cfg[key]!r}")
    if cfg["out"] is not None:
        cfg["out"] = str(cfg["out"])
    return cfg


def parse_key_values(items: list[str] | None, flag: str) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` strings (values read as YAML scalars: numbers, bools, null)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} expects KEY=VALUE, got {item!r}")
        try:
            value = safe_yaml(text, f"{flag} {key.strip()}") if text.strip() else None
        except ConfigError as exc:
            if "expands to" in str(exc) or "recursive" in str(exc) or "nested" in str(exc):
                raise
            value = text
        out[key.strip().replace("-", "_")] = value
    return out


def model_label(cfg: Mapping[str, Any]) -> str:
    """A short name of the model a config trains (``csilif``; ``hybrid 64 p=0.5 nsn direct``;
    ``has8-resnet/fusion``)."""
    arch = cfg.get("arch", "sparch")
    if arch == "sparch":
        return str(cfg["neuron"])
    if arch == "hybrid":
        return f"hybrid {cfg['hidden']} p={cfg['spiking_ratio']:g} {cfg['nonspiking']} {cfg['recurrent']}"
    return f"{arch}/{cfg.get('arch_kwargs', {}).get('path', 'fusion')}"


def model_config(cfg: Mapping[str, Any], n_inputs: int, n_classes: int,
                 image_shape: tuple[int, int, int] | None = None, dt: float | None = None) -> dict[str, Any]:
    """The ``train.model.build_model`` config for a training config and task sizes.

    ``arch: hybrid``: :class:`silava.train.hybrid.HybridNet`'s arguments; ``neuron_kwargs`` holds its
    other options (``shuffle``, ``flexible``, ``nsn_reset``, ``tau_mem``, ``reg``, ...) and ``dt`` (seconds
    per step of the decays) defaults to the task's. HAS-8 archs need an image task (``image_shape``:
    digits-image, cifar10, cifar100, not bit-plane coded).
    """
    arch = cfg.get("arch", "sparch")
    if arch != "has8-resnet" and arch != "has8-vgg" and cfg.get("arch_kwargs"):
        raise ConfigError("--arch-opt is an option of the HAS-8 archs (--arch has8-resnet or has8-vgg)")
    if arch == "hybrid":
        extra = dict(cfg.get("neuron_kwargs", {}))
        if dt is not None:
            extra.setdefault("dt", float(dt))
        return {"arch": "hybrid", "n_inputs": int(n_inputs), "n_hidden": int(cfg["hidden"]),
                "n_classes": int(n_classes), "spiking_ratio": float(cfg["spiking_ratio"]),
                "nonspiking": cfg["nonspiking"], "recurrent": cfg["recurrent"], "readout": cfg["readout"],
                **extra}
    if arch != "sparch":
        if image_shape is None:
            raise ConfigError(f"--arch {arch} needs an image task with graded pixels (digits-image, cifar10, "
                              f"cifar100) and no --encoding bitplane (the model codes its own inputs)")
        if int(n_inputs) != int(image_shape[0] * image_shape[1] * image_shape[2]):
            raise ConfigError(f"task image shape {tuple(image_shape)} does not match its {n_inputs} inputs")
        return {"arch": arch, "image_shape": [int(v) for v in image_shape], "n_classes": int(n_classes),
                **copy.deepcopy(dict(cfg.get("arch_kwargs", {})))}
    neuron_kwargs = {"init_state": cfg["init_state"], **cfg.get("neuron_kwargs", {})}
    return {
        "n_inputs": int(n_inputs),
        "hidden_sizes": [int(cfg["hidden"])] * int(cfg["layers"]),
        "n_classes": int(n_classes),
        "neuron": cfg["neuron"],
        "dropout": float(cfg["dropout"]),
        "neuron_kwargs": neuron_kwargs,
        "readout_kwargs": {"init_state": cfg["init_state"]},
    }
