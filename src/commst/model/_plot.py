"""Figure of the training curve."""

from __future__ import annotations

import os

import pandas as pd
from matplotlib.figure import Figure

from .._utils import save_figure


def plot_history(history: pd.DataFrame, path: str | os.PathLike[str] | None = None) -> Figure:
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
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2)
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
        save_figure(fig, path, dpi=120, bbox_inches=None)
    return fig
