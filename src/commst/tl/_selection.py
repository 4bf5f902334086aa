"""What a run's model selection tried and kept, from the method's own record.

The CommST model chooses its setting ``(alpha, beta, k_within)`` per scale on masked input genes
(:mod:`commst.model._select`) and returns the grid's scores in ``extra['selection']``, the kept
settings in ``extra['chosen']`` and its settings in ``extra['config']`` (stored as
``uns['commst']['method_info']`` of the output). This module only reads that record: a table of
the candidates and the log lines of the impute job.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import anndata as ad
import pandas as pd

from .._constants import Keys

logger = logging.getLogger("commst")

#: What each scale of the selection and of the quality table (column suffix) means to a reader.
SCALE_NAMES = {"counts": "counts", "lognorm": "depth-free"}

SETTING = ["alpha", "beta", "k_within"]


def method_info(data: ad.AnnData | Mapping[str, Any]) -> dict[str, Any]:
    """The method's record: ``uns['commst']['method_info']`` of an imputed AnnData (JSON), or a mapping as is."""
    if isinstance(data, ad.AnnData):
        raw = data.uns.get(Keys.uns.commst, {}).get("method_info", "{}")
        return json.loads(raw) if isinstance(raw, str) else dict(raw)
    return dict(data)


def _default_setting(config: Mapping[str, Any]) -> tuple[float, float, int]:
    """The setting a scale keeps unless beaten (as :func:`commst.model._select.choose` reads ``default``)."""
    alpha, beta, k = config["default"]
    if beta <= 0:  # a kNN-only default is scored as the grid's kNN point
        alpha, k = config["alphas"][0], config["k_withins"][0]
    return float(alpha), float(beta), int(k)


def selection_table(data: ad.AnnData | Mapping[str, Any]) -> pd.DataFrame:
    """Every candidate setting the selection scored, per scale, and which one was kept.

    Parameters
    ----------
    data
        An imputed AnnData (``uns['commst']['method_info']``) or the method's ``extra`` mapping.

    Returns
    -------
    One row per scale and setting: ``scale`` (``counts`` / ``depth-free``), ``alpha``, ``beta``,
    ``k_within``, ``median_pcc`` (median held-out PCC over the masked input genes, mean over the
    mask rounds), ``vs_default`` (its difference to the default setting's), ``default`` and
    ``kept`` (bools), sorted by scale and score. Empty for a method without a selection.
    """
    info = method_info(data)
    columns = ["scale", *SETTING, "median_pcc", "vs_default", "default", "kept"]
    if not info.get("selection"):
        return pd.DataFrame(columns=columns)
    table = pd.DataFrame(info["selection"])
    default = _default_setting(info["config"])
    chosen = {scale: tuple(setting) for scale, setting in info["chosen"].items()}
    settings = list(zip(table["alpha"].astype(float), table["beta"].astype(float), table["k_within"].astype(int)))
    table["default"] = [s == default for s in settings]
    table["kept"] = [s == chosen.get(scale) for s, scale in zip(settings, table["scale"])]
    base = table[table["default"]].set_index("scale")["median_pcc"]
    table["vs_default"] = table["median_pcc"] - table["scale"].map(base)
    table = table.sort_values(["scale", "median_pcc"], ascending=[True, False])
    table["scale"] = table["scale"].map(SCALE_NAMES).fillna(table["scale"])
    return table[columns].reset_index(drop=True)


def selection_reasons(data: ad.AnnData | Mapping[str, Any]) -> list[str]:
    """Per scale, one sentence: which setting was kept and why (empty without a selection)."""
    info = method_info(data)
    table = selection_table(info)
    if table.empty:
        return []
    config = info["config"]
    delta = float(config.get("select_delta", 0.0))
    lines = []
    for scale, sub in table.groupby("scale", sort=False):
        kept = sub[sub["kept"]].iloc[0]
        setting = f"(alpha={kept['alpha']:g}, beta={kept['beta']:g}, k_within={int(kept['k_within'])})"
        others = sub[~sub["default"]]
        best_other = others["vs_default"].max() if len(others) else float("nan")
        if not config.get("select", True):
            why = "model.select is false: the default is used without comparing"
        elif kept["default"]:
            why = (
                f"the default, kept: no other setting beats it by more than select_delta={delta:g} "
                f"(best other {best_other:+.3f})"
            )
        else:
            why = f"beats the default by {kept['vs_default']:+.3f} > select_delta={delta:g}"
        lines.append(f"{scale} scale: kept {setting}, median held-out PCC {kept['median_pcc']:.3f}; {why}")
    return lines


def log_selection(data: ad.AnnData | Mapping[str, Any], log: logging.Logger = logger) -> None:
    """Log one line per candidate setting and, per scale, the one kept and why."""
    table = selection_table(data)
    if table.empty:
        return
    n_rounds = method_info(data).get("config", {}).get("mask_rounds")
    rounds = f" over {n_rounds} mask rounds" if n_rounds else ""
    for row in table.itertuples(index=False):
        log.info(
            "selection %s: alpha=%g beta=%g k_within=%d median held-out PCC %.4f%s (%+.4f vs default)%s%s",
            row.scale,
            row.alpha,
            row.beta,
            row.k_within,
            row.median_pcc,
            rounds,
            row.vs_default,
            " [default]" if row.default else "",
            " [kept]" if row.kept else "",
        )
    for line in selection_reasons(data):
        log.info("selection %s", line)


__all__ = ["SCALE_NAMES", "log_selection", "method_info", "selection_reasons", "selection_table"]
