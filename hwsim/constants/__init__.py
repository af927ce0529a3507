"""Per-event energy and time constants of the Loihi cost model (:mod:`hwsim.cost`).

One JSON file per constant set, every number with its unit and its source (schema in
``hwsim/constants/README.md``)::

    {"schema": "silava-hw-constants", "schema_version": 1, "name": "...", "title": "...",
     "description": "...",
     "constants": {"e_synop_pj": {"value": 23.6, "unit": "pJ", "source": "...",
                                  "assumption": false}, ...}}

Built-in sets: ``davies2018`` (Loihi 1, Davies et al. 2018 Table 2, the default) and
``sanafe`` (SANA-FE's fitted Loihi set). A user file with the same schema replaces them
(``--constants FILE``); :func:`load_constants` validates it and raises
:class:`ConstantsError` with one line naming the file, the key and the fix.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

SCHEMA = "silava-hw-constants"
SCHEMA_VERSION = 1
HERE = Path(__file__).resolve().parent

#: built-in constant sets: name -> file in this folder
BUILTIN: dict[str, str] = {"davies2018": "davies2018.json", "sanafe": "sanafe_loihi.json"}
DEFAULT = "davies2018"

#: every constant of the model: key -> (unit, meaning). All are required, none else allowed.
FIELDS: dict[str, tuple[str, str]] = {
    "e_synop_pj": ("pJ", "energy per effective synaptic op (one input event x one non-zero synapse)"),
    "t_synop_ns": ("ns", "time per effective synaptic op"),
    "e_mac_extra_pj": ("pJ", "extra energy per effective MAC (graded payload) on top of a synaptic op"),
    "t_mac_extra_ns": ("ns", "extra time per effective MAC"),
    "e_neuron_active_pj": ("pJ", "energy per active neuron update (received input or has a bias)"),
    "t_neuron_active_ns": ("ns", "time per active neuron update"),
    "e_neuron_inactive_pj": ("pJ", "energy per inactive neuron update"),
    "t_neuron_inactive_ns": ("ns", "time per inactive neuron update"),
    "e_spike_pj": ("pJ", "energy per output event generated (spike or graded output)"),
    "t_spike_ns": ("ns", "time per output event generated"),
    "e_message_pj": ("pJ", "energy per message sent to one destination core (or the host)"),
    "t_message_ns": ("ns", "time per message sent"),
    "e_hop_x_pj": ("pJ", "energy per east-west tile hop of a message"),
    "t_hop_x_ns": ("ns", "time per east-west tile hop"),
    "e_hop_y_pj": ("pJ", "energy per north-south tile hop of a message"),
    "t_hop_y_ns": ("ns", "time per north-south tile hop"),
    "t_barrier_base_ns": ("ns", "barrier synchronisation at the end of a time step, one tile"),
    "t_barrier_per_tile_ns": ("ns", "extra barrier time per additional tile in use"),
    "p_static_mw_per_chip": ("mW", "static (leakage) power per chip in use"),
}
TOP_KEYS = ("schema", "schema_version", "name", "title", "description", "constants")
ENTRY_KEYS = ("value", "unit", "source", "assumption")


class ConstantsError(ValueError):
    """An unusable constants file; the message is one line naming the file, the key and the fix."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


@dataclass(frozen=True)
class Constants:
    """A validated constant set: ``values[key]`` in the unit of :data:`FIELDS`, with sources."""

    name: str
    title: str
    values: dict[str, float]
    sources: dict[str, str]
    assumptions: tuple[str, ...] = ()
    description: str = ""
    path: str = ""
    extra: dict = field(default_factory=dict)

    def __getitem__(self, key: str) -> float:
        return self.values[key]

    @property
    def label(self) -> str:
        """What every energy/time number of the report is: an estimate with this constant set."""
        return f"estimate (constants: {self.name})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able table: ``{key: {value, unit, source, assumption}}`` plus the set's identity."""
        return {
            "name": self.name, "title": self.title, "description": self.description, "path": self.path,
            "constants": {k: {"value": self.values[k], "unit": FIELDS[k][0], "meaning": FIELDS[k][1],
                              "source": self.sources[k], "assumption": k in self.assumptions}
                          for k in FIELDS},
        }


#: largest constant accepted: every cost is a constant times an event count (up to ~1e12 per run), which
#: must stay a finite float; real values are below 1e6 (pJ, ns, mW)
VALUE_MAX = 1e12
#: largest constants file read (the shipped ones are ~3 kB)
FILE_MAX_BYTES = 1 << 20


def _fail(where: str, message: str) -> ConstantsError:
    return ConstantsError(f"{where}: {message}")


def validate_constants(doc: Any, where: str = "constants") -> Constants:
    """Check a parsed constants document; return :class:`Constants` or raise :class:`ConstantsError`.

    Rules: the top-level keys of the schema (``schema``, ``schema_version``, ``name``,
    ``constants``; ``title``/``description`` optional), every key of :data:`FIELDS` present
    and no other, each entry ``{"value": finite number >= 0, "unit": <the field's unit>,
    "source": non-empty string, "assumption": bool (optional)}``.
    """
    if not isinstance(doc, dict):
        raise _fail(where, f"expected a JSON object, got {type(doc).__name__}; see hwsim/constants/README.md")
    extra = sorted(set(doc) - set(TOP_KEYS))
    if extra:
        raise _fail(where, f"unknown top-level key {extra[0]!r} (allowed: {', '.join(TOP_KEYS)})")
    if doc.get("schema") != SCHEMA:
        raise _fail(where, f"schema: expected {SCHEMA!r}, got {doc.get('schema')!r}; "
                           "start from hwsim/constants/davies2018.json")
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise _fail(where, f"schema_version: expected {SCHEMA_VERSION}, got {doc.get('schema_version')!r}")
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _fail(where, "name: expected a non-empty string naming the constant set")
    for key in ("title", "description"):
        if key in doc and not isinstance(doc[key], str):
            raise _fail(where, f"{key}: expected a string, got {type(doc[key]).__name__}")
    table = doc.get("constants")
    if not isinstance(table, dict):
        raise _fail(where, "constants: expected an object of {key: {value, unit, source}}")
    unknown = sorted(set(table) - set(FIELDS))
    if unknown:
        raise _fail(where, f"constants/{unknown[0]}: unknown constant (allowed: {', '.join(FIELDS)})")
    values: dict[str, float] = {}
    sources: dict[str, str] = {}
    assumptions = []
    for key, (unit, _) in FIELDS.items():
        loc = f"constants/{key}"
        if key not in table:
            raise _fail(where, f"{loc}: missing (every constant of hwsim/constants/README.md is required)")
        entry = table[key]
        if not isinstance(entry, dict):
            raise _fail(where, f"{loc}: expected {{\"value\": ..., \"unit\": {unit!r}, \"source\": ...}}")
        bad = sorted(set(entry) - set(ENTRY_KEYS))
        if bad:
            raise _fail(where, f"{loc}/{bad[0]}: unknown field (allowed: {', '.join(ENTRY_KEYS)})")
        value = entry.get("value")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 \
                or value > VALUE_MAX:
            raise _fail(where, f"{loc}/value: expected a finite number in [0, {VALUE_MAX:g}], got {value!r}")
        if entry.get("unit") != unit:
            raise _fail(where, f"{loc}/unit: expected {unit!r}, got {entry.get('unit')!r}")
        source = entry.get("source")
        if not isinstance(source, str) or not source.strip():
            raise _fail(where, f"{loc}/source: expected a non-empty string citing where the number comes from")
        flag = entry.get("assumption", False)
        if not isinstance(flag, bool):
            raise _fail(where, f"{loc}/assumption: expected true or false, got {flag!r}")
        values[key] = float(value)
        sources[key] = source.strip()
        if flag:
            assumptions.append(key)
    return Constants(name=name.strip(), title=str(doc.get("title", "")), values=values, sources=sources,
                     assumptions=tuple(assumptions), description=str(doc.get("description", "")))


def load_constants(spec: "str | os.PathLike | Mapping | Constants | None" = None) -> Constants:
    """A constant set by built-in name (``davies2018``, ``sanafe``), JSON file path, dict, or as is.

    ``None`` gives :data:`DEFAULT`. Raises :class:`ConstantsError` (one line) for an unknown
    name, an unreadable file, invalid JSON or a schema violation.
    """
    if spec is None:
        spec = DEFAULT
    if isinstance(spec, Constants):
        return spec
    if isinstance(spec, Mapping):
        return validate_constants(dict(spec), "constants")
    text = os.fspath(spec)
    if text in BUILTIN:
        path = HERE / BUILTIN[text]
    else:
        path = Path(text)
        if not path.exists():
            raise ConstantsError(f"--constants {text}: no such file or built-in set; use a JSON file or one of "
                                 f"{', '.join(BUILTIN)}")
        if not path.is_file():
            raise ConstantsError(f"--constants {text}: not a file; pass a JSON constants file")
    try:
        if path.stat().st_size > FILE_MAX_BYTES:
            raise ConstantsError(f"{path}: {path.stat().st_size} bytes, more than a constants file holds "
                                 f"({FILE_MAX_BYTES}); see hwsim/constants/davies2018.json for the format")
        doc = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise ConstantsError(f"{path}: JSON nested too deeply; a constants file is one object of "
                             f"{{key: {{value, unit, source}}}}, see hwsim/constants/davies2018.json") from None
    except UnicodeDecodeError:
        raise ConstantsError(f"{path}: not a text (JSON) file; see hwsim/constants/README.md") from None
    except json.JSONDecodeError as exc:
        raise ConstantsError(f"{path}: invalid JSON (line {exc.lineno}: {exc.msg}); "
                             "see hwsim/constants/davies2018.json for the format") from None
    except OSError as exc:
        raise ConstantsError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    const = validate_constants(doc, str(path) if text not in BUILTIN else path.name)
    return Constants(name=const.name, title=const.title, values=const.values, sources=const.sources,
                     assumptions=const.assumptions, description=const.description, path=str(path))


__all__ = ["BUILTIN", "DEFAULT", "FIELDS", "SCHEMA", "SCHEMA_VERSION", "Constants", "ConstantsError",
           "load_constants", "validate_constants"]
