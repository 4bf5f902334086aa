"""Aggregation of the benchmark: the truth's own rows, ``summary.tsv`` and the headline table."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from commst.benchmark.ccc_recovery import celltype_recovery, family_calls
from commst.benchmark.ccc_truth import pair_keys
from commst.benchmark.jobs import CCC_COLUMNS, SUMMARY_COLUMNS
from commst.benchmark.metrics import false_positive_rate, summarise_gene_metrics


def truth_reference_rows(truth: Mapping[str, pd.DataFrame], *, top_k: int = 50, alpha: float = 0.05) -> pd.DataFrame:
    """Rows of the truth itself (method ``truth``): the ceilings the methods are compared with.

    ``reference_agreement`` of the truth's rank_aggregate with the reference's, and, when
    ``truth`` has ``bivariate`` and ``pairs``, per null the share of matched decoys, cross
    decoys and absent-ligand pairs the truth itself calls significant (``bivariate``
    ``decoy_fpr``, ``cross_decoy_fpr``, ``absent_ligand_fpr``; BH within each family) and its
    number of significant real pairs (``n_truth_significant``): non-partner genes can be
    spatially co-expressed in real tissue too, so a method's decoy rate is read against it.
    """
    agreement = celltype_recovery(truth["reference_rank_aggregate"], truth["rank_aggregate"], k=top_k)
    rows = [("reference_agreement", "", agreement)]
    if "bivariate" in truth and "pairs" in truth:
        biv, pairs = truth["bivariate"], truth["pairs"]
        keys = {kind: pair_keys(pairs, kind) for kind in ("real", "decoy", "absent", "cross")}
        for null in biv["null"].unique() if "null" in biv else [""]:
            block = biv[biv["null"] == null] if "null" in biv else biv
            families = {"decoy": keys["decoy"], "absent": keys["absent"], "cross": keys["cross"]}
            called = family_calls(block, families, alpha=alpha)

            def rate(kind: str, called: pd.Series = called) -> float:
                return false_positive_rate(called[called.index.isin(keys[kind])].to_numpy())

            rows.append(
                (
                    "bivariate",
                    str(null),
                    {
                        "decoy_fpr": rate("decoy"),
                        "cross_decoy_fpr": rate("cross"),
                        "absent_ligand_fpr": rate("absent"),
                        "n_truth_significant": float(called[called.index.isin(keys["real"])].sum()),
                    },
                )
            )
    return pd.DataFrame(
        [
            {
                "method": "truth",
                "scenario": "truth",
                "p": 1.0,
                "seed": 0,
                "null": null,
                "analysis": analysis,
                "metric": m,
                "value": float(v),
                "status": "ok",
                "error": "",
            }
            for analysis, null, values in rows
            for m, v in values.items()
        ],
        columns=list(CCC_COLUMNS),
    )


# ---------------------------------------------------------------------------------------------
# Aggregation
# ---------------------------------------------------------------------------------------------


def summary_rows(
    sample: str,
    gene_metrics: pd.DataFrame,
    thinning: pd.DataFrame,
    ccc: pd.DataFrame,
) -> pd.DataFrame:
    """``summary.tsv`` rows of one sample: medians and AS for LR and non-LR genes, thinning, CCC.

    Parameters
    ----------
    sample
        Sample name.
    gene_metrics, thinning, ccc
        The sample's ``gene_metrics.tsv``, ``thinning.tsv`` and ``ccc_recovery.tsv``.

    Returns
    -------
    Long table with :data:`SUMMARY_COLUMNS`. Metric names: ``{LR,non-LR}_{median_pcc, ...,
    accuracy_score, n_genes, n_failed}`` for the held-out (scenario ``heldout``) and thinning
    (scenario ``{thinned,removed}_p{p}``, medians over genes and seeds) tables;
    ``{analysis}_{metric}`` (mean over seeds) for CCC (scenario ``ccc_{scenario}_p{p}``), with
    ``_{null}`` appended for the bivariate calls under each null.
    """
    parts = []
    if not gene_metrics.empty:
        s = summarise_gene_metrics(gene_metrics, by=("method", "scenario"))
        s["metric"] = s["genes"] + "_" + s["metric"]
        parts.append(s[["method", "scenario", "metric", "value"]])
    if not thinning.empty:
        t = thinning.assign(scenario=thinning["scenario"] + "_p" + thinning["p"].map(lambda x: f"{float(x):g}"))
        s = summarise_gene_metrics(t, by=("method", "scenario"))
        s["metric"] = s["genes"] + "_" + s["metric"]
        parts.append(s[["method", "scenario", "metric", "value"]])
    if not ccc.empty:
        null = ccc["null"].fillna("").astype(str) if "null" in ccc else pd.Series("", index=ccc.index)
        c = ccc.assign(
            scenario=np.where(
                ccc["method"].eq("truth"),
                "truth",
                "ccc_" + ccc["scenario"] + "_p" + ccc["p"].map(lambda x: f"{float(x):g}"),
            ),
            metric=ccc["analysis"] + "_" + ccc["metric"] + np.where(null.eq(""), "", "_" + null),
        )
        parts.append(c.groupby(["method", "scenario", "metric"], as_index=False, sort=False)["value"].mean())
    out = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["method", "scenario", "metric", "value"])
    )
    out.insert(0, "sample", sample)
    return out[list(SUMMARY_COLUMNS)]


def headline_table(summary: pd.DataFrame, *, p: float = 0.1, null: str = "uncertainty_labels") -> pd.DataFrame:
    """The closing-note table: per sample and method, median LR-gene PCC (held-out),
    median LR PCC at capture ``p`` (both thinning scenarios), CCC bivariate Spearman, and the
    cross-decoy rate and recall of the truth's calls under ``null``.

    Parameters
    ----------
    summary
        ``summary.tsv``.
    p
        Capture probability of the thinning and CCC columns.
    null
        Null of the CCC call columns.

    Returns
    -------
    Wide table indexed by ``(sample, method)``.
    """
    pick = {
        ("heldout", "LR_median_pcc"): "heldout_LR_pcc",
        (f"thinned_p{p:g}", "LR_median_pcc"): f"thinned_p{p:g}_LR_pcc",
        (f"removed_p{p:g}", "LR_median_pcc"): f"removed_p{p:g}_LR_pcc",
    }
    rows = []
    for (scenario, metric), col in pick.items():
        sub = summary[(summary["scenario"] == scenario) & (summary["metric"] == metric)]
        rows.append(sub.assign(column=col))
    scenario = summary["scenario"].astype(str)
    ccc = summary[(scenario.str.startswith("ccc_") & scenario.str.endswith(f"_p{p:g}")) | summary["method"].eq("truth")]
    for metric, col in (
        ("bivariate_spearman", "ccc_spearman"),
        (f"bivariate_cross_decoy_fpr_{null}", "decoy_fpr"),
        (f"bivariate_recall_{null}", "recall"),
        ("rank_aggregate_spearman", "rank_spearman"),
    ):
        rows.append(ccc[ccc["metric"] == metric].assign(column=col))
    long = pd.concat(rows, ignore_index=True)
    return long.pivot_table(index=["sample", "method"], columns="column", values="value", aggfunc="first")
