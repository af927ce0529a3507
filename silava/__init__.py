"""silava: spiking neural networks from PyTorch to Lava and Loihi 2.

The public Python API mirrors the ``silava`` command (:mod:`silava.app.api`)::

    import silava
    run = silava.fit("randman", "runs/r1", epochs=5)          # silava train
    net = silava.quantize(run, "runs/r1/model.net")           # silava export
    x, y = silava.task_arrays(net, "test")
    sim = silava.simulate(net, x)                              # silava sim
    hw = silava.report(net, x, sim=sim, out="runs/r1/hardware")
    lava = silava.run_lava(net, x[:20])                        # silava run
    cmp = silava.compare(run, lava_samples=20)                 # silava compare
    print(cmp.table)

The names are loaded on first use: ``import silava`` itself loads neither torch nor Lava, and
``import silava.hwsim`` stays numpy-only. The stages are the subpackages ``silava.train``,
``silava.export``, ``silava.hwsim`` and ``silava.lava_models`` (hence ``fit``/``quantize``, not
``train``/``export``, for the functions).
"""
import importlib as _importlib

__version__ = "0.1.0"

#: public name -> the module that defines it (imported on first access)
_LAZY = {
    **{name: "silava.app.api" for name in ("fit", "quantize", "load_net", "save_net", "simulate", "report",
                                           "run_lava", "compare", "task_arrays", "ApiError")},
    "TrainResult": "silava.app.results", "LavaResult": "silava.app.results", "HardwareReport": "silava.app.results",
    "Comparison": "silava.app.compare", "SimResult": "silava.hwsim.simulate", "Network": "silava.core.netfile",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'silava' has no attribute {name!r}")


def __dir__() -> "list[str]":
    return sorted(set(globals()) | set(__all__))
