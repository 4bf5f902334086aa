"""The scale benchmark's tables: ``scale.tsv`` (one row per run) and ``scale_fit.tsv`` (growth exponents)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

SCALE_COLUMNS: tuple[str, ...] = (
    "method",
    "device",
    "n_spots",
    "n_cells",
    "n_targets",
    "n_inputs",
    "wall_s",
    "load_s",
    "method_s",
    "peak_rss_mb",
    "status",
    "error",
    "time_vs_commst",
)
"""Columns of ``scale.tsv``: one row per (method, device, size). ``wall_s`` is the whole
measured process (start-up, imports, loading, method); ``method_s`` the imputation call
alone; ``load_s`` reading the two h5ad files; ``peak_rss_mb`` the peak resident memory of the
process tree in MiB; ``time_vs_commst`` the run's ``method_s`` divided by CommST's at the same
size and device in the same scale run (> 1: slower than CommST; empty where either did not
complete), so the comparison does not depend on the machine's load."""

#: The method every other method's time is divided by (``time_vs_commst``).
REFERENCE_METHOD = "commst"

FIT_COLUMNS: tuple[str, ...] = ("method", "device", "time_exponent", "memory_exponent", "n_sizes", "sizes")
"""Columns of ``scale_fit.tsv``: slopes of log(method_s) and log(peak_rss_mb) against
log(n_spots) over the completed runs."""


def scale_table(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """``scale.tsv``: one row per run record (:func:`scale_job`), columns :data:`SCALE_COLUMNS`.

    Errors are put on one line; rows are sorted by method, device and size.
    """
    tab = pd.DataFrame([{c: rec.get(c) for c in SCALE_COLUMNS} for rec in records], columns=list(SCALE_COLUMNS))
    tab["error"] = tab["error"].fillna("").astype(str).str.replace(r"\s*\n\s*", " | ", regex=True).str.slice(0, 1000)
    for col in ("wall_s", "load_s", "method_s", "peak_rss_mb"):
        tab[col] = pd.to_numeric(tab[col], errors="coerce")
    tab["time_vs_commst"] = time_ratio(tab)
    return tab.sort_values(["method", "device", "n_spots"], kind="stable").reset_index(drop=True)


def time_ratio(table: pd.DataFrame, reference: str = REFERENCE_METHOD) -> pd.Series:
    """Each run's ``method_s`` over the ``reference`` method's at the same size and device.

    Only completed runs (``status == 'ok'``) enter, on both sides; the others get NaN.
    """
    ok = table["status"] == "ok"
    keys = ["device", "n_spots", "n_cells"]
    ref = table[ok & (table["method"] == reference)].drop_duplicates(keys).set_index(keys)["method_s"]
    denominator = pd.MultiIndex.from_frame(table[keys]).map(ref.to_dict().get)
    ratio = table["method_s"].to_numpy(dtype=float) / np.asarray(denominator, dtype=float)
    return pd.Series(np.where(ok, ratio, np.nan), index=table.index)


def fit_exponent(sizes: Sequence[float], values: Sequence[float]) -> float:
    """Least-squares slope of ``log(value)`` against ``log(size)``: the power ``b`` in ``value ~ size**b``.

    Pairs with a non-finite or non-positive size or value are left out; with fewer than two
    distinct sizes left the slope is NaN. ``b = 1`` is linear growth (doubling the size doubles
    the value).
    """
    x, y = np.asarray(sizes, dtype=np.float64), np.asarray(values, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    x, y = np.log(x[keep]), np.log(y[keep])
    if np.unique(x).size < 2:
        return float("nan")
    return float(np.polyfit(x, y, 1)[0])


def fit_table(table: pd.DataFrame) -> pd.DataFrame:
    """``scale_fit.tsv``: per method and device, exponents of imputation time and peak RSS.

    Only completed runs (``status == 'ok'``) enter the fit: ``time_exponent`` from
    ``method_s``, ``memory_exponent`` from ``peak_rss_mb`` (the whole process, fixed cost of
    the interpreter and libraries included, so small sizes pull it below the method's own).
    """
    rows = []
    for (method, device), grp in table.groupby(["method", "device"], sort=True):
        ok = grp[grp["status"] == "ok"]
        sizes = sorted(int(s) for s in ok["n_spots"].unique())
        rows.append(
            {
                "method": method,
                "device": device,
                "time_exponent": fit_exponent(ok["n_spots"], ok["method_s"]),
                "memory_exponent": fit_exponent(ok["n_spots"], ok["peak_rss_mb"]),
                "n_sizes": len(sizes),
                "sizes": ",".join(map(str, sizes)),
            }
        )
    return pd.DataFrame(rows, columns=list(FIT_COLUMNS))
