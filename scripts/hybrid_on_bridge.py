#!/usr/bin/env python3
"""Merge aid: the hybrid network's few lines in the model.net v2 files of branch ``bridge``.

Branch ``hybrid`` (issue 12) was written while the model.net v2 IR (``dense_rec``, graded payloads between
layers) was being built on branch ``bridge``; it had not reached ``main`` when ``hybrid`` was handed in.
After both are merged, run once from the repository root::

    python scripts/hybrid_on_bridge.py .

It edits bridge's files (each edit is one small hunk; the script stops if a hunk is not found):

* ``silava/core/netfile.py`` — ``Layer.weight_rec_exp`` (the file key ``weightRecExp``, optional; absent =
  ``weightExp``): the hybrid layer's recurrent Dense takes graded payloads on the 2^q grid while its
  feed-forward Dense takes spikes, and one shared exponent would cost the recurrent weights q bits of
  mantissa (docs/fixed_point.md §8); read, write, validate, ``networks_equal``, ``Layer.rec_exp``;
* ``hwsim/simulate.py``, ``lava_models/builder.py``, ``train/intsim.py`` — the recurrent Dense uses
  ``rec_exp``; the builder's ``floating_pt`` path runs a ``dense_rec`` layer whose float group has
  ``weight_rec`` (the hybrid layer's);
* ``silava/core/kinds/hybrid.py`` / ``li2.py`` — ``layer_types`` (bridge's new ``Kind`` field);
* ``hwsim/report.py`` — the report's ``hybrid`` section (:mod:`silava.hwsim.populations`).

Conflicts of the merge itself (resolved this way on a scratch merge, where tests/test_hybrid_deploy.py then
passed: the ladder intsim == hwsim == Lava on every variant, the 200-network slow sets, the trained
end-to-end check): ``kinds/__init__.py`` ROLES/GRIDS/OUTPUTS and ``_MODULES`` take the union, the ``Param``
docstring both roles; ``hwsim/kernels.py`` ``KERNELS`` and ``train/intsim.py`` ``STEPS`` the union of both
kernel sets; ``export/synth.py`` ``full_range_network`` draws bridge's trainable kinds with readouts of
``output == "graded"`` (not the hybrid layer), ``random_hybrid_network`` after bridge's functions; the tests'
registry lists (test_kinds, test_hwsim_kernels, test_hwsim_counts) the union.
"""
import sys
root = sys.argv[1] if len(sys.argv) > 1 else "."
def edit(path, pairs):
    p = f"{root}/{path}"
    s = open(p).read()
    for old, new in pairs:
        if new in s:                     # applied already (the script may run twice)
            continue
        if old not in s:
            raise SystemExit(f"{path}: not found: {old[:80]!r}")
        s = s.replace(old, new, 1)
    open(p, "w").write(s)

edit("silava/core/netfile.py", [
("""    weight_rec: np.ndarray | None = None
    conv: ConvSpec | None = None
    shape: tuple[int, ...] | None = None
""", """    weight_rec: np.ndarray | None = None
    conv: ConvSpec | None = None
    shape: tuple[int, ...] | None = None
    #: a dense_rec layer's recurrent weight exponent (``weightRecExp``; None: ``weight_exp``): the hybrid
    #: layer's recurrent Dense takes graded payloads, its feed-forward one spikes (docs/fixed_point.md §8)
    weight_rec_exp: int | None = None
"""),
("""    @property
    def recurrent(self) -> bool:
        return self.layer_type == "dense_rec"
""", """    @property
    def recurrent(self) -> bool:
        return self.layer_type == "dense_rec"

    @property
    def rec_exp(self) -> int:
        \"\"\"The exponent of the recurrent Dense: ``weight_rec_exp``, else ``weight_exp``.\"\"\"
        return int(self.weight_exp if self.weight_rec_exp is None else self.weight_rec_exp)
"""),
("""    elif layer.weight_rec is not None:
        raise NetFileError(f"{where}/weight_rec: only a dense_rec layer has recurrent weights")
""", """    elif layer.weight_rec is not None:
        raise NetFileError(f"{where}/weight_rec: only a dense_rec layer has recurrent weights")
    if layer.weight_rec_exp is not None:
        if layer.layer_type != "dense_rec":
            raise NetFileError(f"{where}/weightRecExp: only a dense_rec layer has a recurrent weight exponent")
        if not _is_int_scalar(layer.weight_rec_exp):
            raise NetFileError(f"{where}/weightRecExp: expected an int, got {type(layer.weight_rec_exp).__name__}")
        _check_range(f"{where}/weightRecExp", int(layer.weight_rec_exp), WEIGHT_EXP_MIN, WEIGHT_EXP_MAX)
        if kind.netx_native and int(layer.weight_rec_exp) != 0:
            raise NetFileError(f"{where}/weightRecExp: {kind.name} layers take no weight exponent, got "
                               f"{int(layer.weight_rec_exp)}")
"""),
("""    group.create_dataset("weightExp", data=np.int64(layer.weight_exp))
""", """    group.create_dataset("weightExp", data=np.int64(layer.weight_exp))
    if layer.weight_rec_exp is not None:
        group.create_dataset("weightRecExp", data=np.int64(layer.weight_rec_exp))
"""),
("""    weight_exp = _file_int(f"{where}/weightExp", _dataset(group, where, "weightExp")) if "weightExp" in group else 0
""", """    weight_exp = _file_int(f"{where}/weightExp", _dataset(group, where, "weightExp")) if "weightExp" in group else 0
    weight_rec_exp = (_file_int(f"{where}/weightRecExp", _dataset(group, where, "weightRecExp"))
                      if "weightRecExp" in group else None)
"""),
("""                 input_message_bits=imb, float_params=float_params, layer_type=ltype, weight_rec=weight_rec,
                 conv=conv, shape=shape if ltype == "input" else None)""", """                 input_message_bits=imb, float_params=float_params, layer_type=ltype, weight_rec=weight_rec,
                 conv=conv, shape=shape if ltype == "input" else None, weight_rec_exp=weight_rec_exp)"""),
("""                or la.conv != lb.conv or la.neuron_shape != lb.neuron_shape:""",
 """                or la.conv != lb.conv or la.neuron_shape != lb.neuron_shape or la.weight_rec_exp != lb.weight_rec_exp:"""),
])
edit("hwsim/simulate.py", [
("""        rec = (layer.weight_rec, layer.weight_exp, not kernel.spiking) if layer.recurrent else None""",
 """        rec = (layer.weight_rec, layer.rec_exp, not kernel.spiking) if layer.recurrent else None"""),
])
edit("lava_models/builder.py", [
("""            rec = _dense(layer.weight_rec, layer.weight_exp, rec_bits)""",
 """            rec = _dense(layer.weight_rec, layer.rec_exp, rec_bits)"""),
])
edit("train/intsim.py", [
("""    weight_rec: Optional[torch.Tensor] = None     # dense_rec: (out, out)""",
 """    weight_rec: Optional[torch.Tensor] = None     # dense_rec: (out, out)
    weight_rec_exp: Optional[int] = None          # dense_rec: its own exponent (None: weight_exp)"""),
("""        weight_rec=None if weight_rec is None else _tensor(weight_rec),""",
 """        weight_rec=None if weight_rec is None else _tensor(weight_rec),
        weight_rec_exp=None if _get(layer, "weight_rec_exp") is None else int(_get(layer, "weight_rec_exp")),"""),
("""            a_t = wrap32(a_t + _dense_sum(layer.weight_rec, layer.weight_exp, outs[-1], graded=graded_out,""",
 """            e_rec = layer.weight_exp if layer.weight_rec_exp is None else layer.weight_rec_exp
            a_t = wrap32(a_t + _dense_sum(layer.weight_rec, e_rec, outs[-1], graded=graded_out,"""),
])
edit("silava/core/kinds/hybrid.py", [
("""    membrane="V",
    equations=__doc__,""", """    membrane="V",
    layer_types=("dense", "dense_rec"),
    equations=__doc__,"""),
])
edit("silava/core/kinds/li2.py", [
("""    membrane="V",
    equations=__doc__,""", """    membrane="V",
    layer_types=("dense",),
    equations=__doc__,"""),
])
print("ok")

edit("hwsim/report.py", [
("""        "raster": _raster(net, sim, raster_sample, x, labels),
    }
    return json_safe(report)""", """        "raster": _raster(net, sim, raster_sample, x, labels),
    }
    if sim is not None and any(layer.neuron_type == "HYBRID" for layer in net.layers):
        from silava.hwsim.populations import hybrid_populations   # the spiking and non-spiking units apart

        report["hybrid"] = hybrid_populations(net, sim, const)
    return json_safe(report)"""),
("""    lines += ["## Mapping", ""]
    rows = []""", """    lines += _hybrid_section(report.get("hybrid"))
    lines += ["## Mapping", ""]
    rows = []"""),
("""def render_markdown(""", """def _hybrid_section(hybrid: Optional[list]) -> list[str]:
    \"\"\"The populations of each hybrid layer (hwsim.populations), or nothing.\"\"\"
    if not hybrid:
        return []
    lines = ["## Hybrid layers: spiking and non-spiking populations (per sample)", "",
             "Spikes are accumulates (ACs), graded payloads multiply-accumulates (MACs) where they arrive "
             "(the next layer and the recurrent synapses); every message carries the payload bits on top of a "
             f"{hybrid[0]['message_header_bits']}-bit header (an assumption), and message energy scales with its size.", ""]
    rows = []
    for h in hybrid:
        for name, p in h["populations"].items():
            e = p.get("energy_pj_per_sample", {})
            rows.append([f"layer/{h['layer']}", name.replace("_", "-"), p["units"], p["events_per_sample"],
                         p["event_rate"], p["acs_per_sample"], p["macs_per_sample"], p["messages_per_sample"],
                         p["traffic_bits_per_sample"], (e.get("total", 0.0) / 1e6) if e else "-"])
    lines += _table(["layer", "population", "units", "events", "event rate", "ACs", "MACs (graded)", "messages",
                     "traffic (bits)", "energy µJ"], rows)
    return lines


def render_markdown("""),
])
print("report ok")

edit("lava_models/builder.py", [
("""    if tag != "fixed_pt" and layer.layer_type != "dense":
        raise BuildError(f"layer/{i}/type: floating_pt runs dense layers only (a {layer.layer_type} layer has "
                         f"no float group); use fixed_pt")""",
 """    float_rec = layer.layer_type == "dense_rec" and "weight_rec" in (layer.float_params or {})
    if tag != "fixed_pt" and layer.layer_type != "dense" and not float_rec:
        raise BuildError(f"layer/{i}/type: floating_pt runs dense layers only (a {layer.layer_type} layer has "
                         f"no float group); use fixed_pt")"""),
("""            rec = _dense(layer.weight_rec, layer.rec_exp, rec_bits)""",
 """            if tag == "fixed_pt":
                rec = _dense(layer.weight_rec, layer.rec_exp, rec_bits)
            else:                                    # the float recurrent weights (a hybrid layer's float group)
                from lava.proc.dense.process import Dense

                rec = Dense(weights=_float_param(layer, i, "weight_rec"), num_message_bits=rec_bits)"""),
])
print("builder float ok")
