"""Curves as PNG files (`eval --plot`, `tune --plot`): matplotlib is the optional extra
`vtool[plot]`; without it, one line says what to install."""

from __future__ import annotations

from vtool.errors import VtoolError
from vtool.io.atomic import atomic_path


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no display
        import matplotlib.pyplot as plt
    except ImportError:
        raise VtoolError("--plot needs matplotlib: pip install 'vtool[plot]'") from None
    return plt


def plot_curve(path: str, xs, ys, xlabel: str, ylabel: str, title: str, marked=None) -> None:
    """One curve (and optionally a marked point) written atomically to path (.png)."""
    if not str(path).lower().endswith(".png"):
        raise VtoolError(f"{path}: --plot writes a .png file")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
    ax.plot(xs, ys, marker="." if len(xs) < 60 else None)
    if marked is not None:
        ax.plot([marked[0]], [marked[1]], "o", color="tab:red")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
