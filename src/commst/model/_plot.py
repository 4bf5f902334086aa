"""Figure of the training curve."""

from __future__ import annotations

import os

import pandas as pd

from .._utils import atomic_path


def plot_history(history: pd.DataFrame, path: str | os.PathLike[str] | None = None):
    """Training curve: total training and validation loss (left) and each loss term (right).

    Parameters
    ----------
    history
        :attr:`TrainedCommST.history` (one row per epoch).
    path
        Where to write the figure (PNG, atomically); ``None`` only returns it.

    Returns
    -------
    The matplotlib figure.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    left.plot(history["epoch"], history["train"], label="train (all terms)")
    left.plot(history["epoch"], history["val"], label="validation")
    terms = [c for c in history.columns if c not in ("epoch", "phase", "train", "val")]
    for term in terms:
        right.plot(history["epoch"], history[term], label=term)
    fine = history.loc[history["phase"] == 2, "epoch"]
    for ax, title in ((left, "loss"), (right, "loss terms (weighted)")):
        if len(fine):
            ax.axvline(fine.iloc[0] - 0.5, color="grey", ls=":", lw=1)
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.legend(fontsize=8)
    right.set_yscale("log")
    if path is not None:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=120, format="png")
    return fig
