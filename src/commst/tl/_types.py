"""Types shared by every imputation method."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class ImputationResult:
    """What an imputation method returns for one spatial dataset.

    Attributes
    ----------
    counts
        Spots × targets array of expected counts at each spot's own depth: the method's
        expression estimate scaled by the spot's total counts over the input genes relative
        to the reference cells' totals over the same genes.
    targets
        Gene symbols of the columns of ``counts``.
    uncertainty
        Optional spots × targets standard deviation of ``counts``, in the same units (expected
        counts at the spot's depth). :func:`commst.tl.build_imputed` turns it into the
        standard deviation of the log-normalised ``X`` (:func:`commst.tl.log_scale_sd`); a
        method without one gets the kNN neighbours' spread (:func:`commst.tl.fill_missing`).
    guard
        Optional boolean spots × targets array; ``True`` where the method flags the value as
        zero (knn/SpaGE: no matched neighbour expresses the gene, the value is 0; commst:
        predictive P(0) >= ``guard_p``, the value is kept).
    labels
        Optional per-spot label: the dominant cell type among the matched reference cells.
        A label, not a deconvolution.
    layers
        Further spots × targets arrays written as ``layers[name]`` of the output.
    var
        Further per-target values written as ``var[name]``.
    extra
        Method-specific metadata stored under ``uns['commst']['method_info']``.
    """

    counts: np.ndarray
    targets: list[str]
    uncertainty: np.ndarray | None = None
    guard: np.ndarray | None = None
    labels: pd.Series | None = None
    layers: dict[str, np.ndarray] = field(default_factory=dict)
    var: dict[str, np.ndarray] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.counts = np.asarray(self.counts, dtype=np.float32)
        self.targets = [str(g) for g in self.targets]
        if self.counts.ndim != 2 or self.counts.shape[1] != len(self.targets):
            raise ValueError(f"counts has shape {self.counts.shape} but {len(self.targets)} targets were named")
        if not np.isfinite(self.counts).all():
            raise ValueError("imputed counts contain NaN or inf")
        if (self.counts < 0).any():
            raise ValueError("imputed counts must be non-negative")
        arrays = {"uncertainty": self.uncertainty, "guard": self.guard, **self.layers}
        for name, value in arrays.items():
            if value is not None and np.shape(value) != self.counts.shape:
                raise ValueError(f"{name} has shape {np.shape(value)}, expected {self.counts.shape}")
        for name, value in self.var.items():
            if np.shape(value) != (len(self.targets),):
                raise ValueError(f"var {name} has shape {np.shape(value)}, expected ({len(self.targets)},)")
