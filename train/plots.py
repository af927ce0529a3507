"""Training-curve figure (loss and accuracy vs epoch), drawn with matplotlib's Agg canvas.

Uses ``matplotlib.figure.Figure`` + ``FigureCanvasAgg`` directly, so importing this
module never switches the caller's pyplot backend and no display is needed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from silava.train.checkpoint import atomic_write

#: resolution of PNG figures; ``svg`` and ``pdf`` are vector formats
DPI = 200
FORMATS = ("png", "svg", "pdf")


def plot_training_curve(history: Sequence[Mapping[str, Any]], path: str | Path, *,
                        title: str | None = None, test_acc: float | None = None) -> Path:
    """Write a PNG with two panels: loss (train/valid) and accuracy (train/valid) per epoch.

    ``history`` holds one dict per epoch with keys ``epoch, train_loss, train_acc,
    valid_loss, valid_acc`` (as written by :func:`train.loop.fit`); the best-validation
    epoch is marked, and ``test_acc`` (if given) is drawn as a horizontal line.
    The format follows the suffix of ``path`` (``.png`` at :data:`DPI` dpi, ``.svg``, ``.pdf``).
    The file is written atomically.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    epochs = [h["epoch"] for h in history]
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    if fmt not in FORMATS:
        raise ValueError(f"{path}: plot format {fmt!r}; use one of {', '.join(FORMATS)}")
    fig = Figure(figsize=(9, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax_loss, ax_acc = fig.subplots(1, 2)
    for split, style in (("train", "-o"), ("valid", "-s")):
        ax_loss.plot(epochs, [h[f"{split}_loss"] for h in history], style, ms=3, label=split)
        ax_acc.plot(epochs, [100.0 * h[f"{split}_acc"] for h in history], style, ms=3, label=split)
    if history:
        best = max(history, key=lambda h: h["valid_acc"])
        ax_acc.axvline(best["epoch"], color="0.6", ls=":", lw=1,
                       label=f"best valid {100 * best['valid_acc']:.1f}% (epoch {best['epoch']})")
    if test_acc is not None:
        ax_acc.axhline(100.0 * test_acc, color="C3", ls="--", lw=1, label=f"test {100 * test_acc:.1f}%")
    ax_loss.set(xlabel="epoch", ylabel="loss (cross-entropy)", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        if 0 < len(epochs) <= 12:
            ax.set_xticks(epochs)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    metadata = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None},
                "pdf": {"CreationDate": None, "Creator": None, "Producer": None}}[fmt]
    return atomic_write(path, lambda fh: fig.savefig(fh, format=fmt, dpi=DPI, metadata=metadata))
