"""Aggregation of the benchmark: the truth's own rows, ``summary.tsv`` and the headline table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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


#: Scales of ``paired_ci.tsv``: name → per-gene column of ``gene_metrics.tsv``
#: (:data:`commst.benchmark.heldout.SCALE_METRICS`; ``lognorm`` = the fixed transform ``pcc``).
PAIRED_SCALES: dict[str, str] = {
    "lognorm": "pcc",
    "own": "pcc_own",
    "counts": "pcc_counts",
    "lognormE": "pcc_lognormE",
    "partial": "pcc_partial",
}

#: Columns of ``paired_ci.tsv``.
PAIRED_CI_COLUMNS: tuple[str, ...] = (
    "sample",
    "scenario",
    "genes",
    "scale",
    "method",
    "median_pcc",
    "n_genes",
    "n_splits",
    "best_other",
    "best_other_pcc",
    "vs_best",
    "vs_best_lo",
    "vs_best_hi",
    "vs_knn",
    "vs_knn_lo",
    "vs_knn_hi",
    "vs_spage",
    "vs_spage_lo",
    "vs_spage_hi",
)


def paired_bootstrap(a: np.ndarray, b: np.ndarray, *, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """``median(a) - median(b)`` over genes with a paired percentile bootstrap 95 % CI (genes resampled)."""
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = np.asarray(a)[ok], np.asarray(b)[ok]
    if a.size == 0:
        return np.nan, np.nan, np.nan
    idx = np.random.default_rng(seed).integers(0, a.size, size=(n_boot, a.size))
    diff = np.median(a[idx], axis=1) - np.median(b[idx], axis=1)
    return float(np.median(a) - np.median(b)), float(np.quantile(diff, 0.025)), float(np.quantile(diff, 0.975))


def paired_ci_rows(
    sample: str,
    gene_metrics: pd.DataFrame,
    *,
    peers: Sequence[str],
    genes: str = "lr",
    scenario: str = "heldout",
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """``paired_ci.tsv`` rows: each method's median held-out PCC per scale, and paired CIs.

    Each gene's PCC is averaged over the fold splits first; a method is then compared with the
    best of ``peers`` (by median, excluding itself), with ``knn`` and with ``spage`` on the genes
    both scored, by :func:`paired_bootstrap`.

    Parameters
    ----------
    sample
        Sample name.
    gene_metrics
        The sample's ``gene_metrics.tsv`` (scenario ``heldout`` rows are used).
    peers
        Methods that count as "other" (the baselines).
    genes
        ``"lr"`` (LR genes only) or ``"all"``.
    scenario
        ``"heldout"`` or ``"lrmask"`` (the cross-platform check).
    """
    tab = gene_metrics[gene_metrics["scenario"].eq(scenario) & gene_metrics["status"].eq("ok")]
    if genes == "lr":
        tab = tab[tab["is_lr"].astype(bool)]
    rows = []
    for scale, column in PAIRED_SCALES.items():
        if column not in tab or tab.empty:
            continue
        per_gene = tab.groupby(["method", "gene"])[column].mean().unstack("method")
        medians = per_gene.median()
        splits = tab.groupby("method")["split"].nunique() if "split" in tab else None
        for method in per_gene.columns:
            others = [p for p in peers if p in per_gene.columns and p != method and np.isfinite(medians[p])]
            best = max(others, key=lambda p: medians[p]) if others else None
            row = {
                "sample": sample,
                "scenario": scenario,
                "genes": genes,
                "scale": scale,
                "method": method,
                "median_pcc": float(medians[method]),
                "n_genes": int(per_gene[method].notna().sum()),
                "n_splits": int(splits[method]) if splits is not None else 1,
                "best_other": best or "",
                "best_other_pcc": float(medians[best]) if best else np.nan,
            }
            for name, ref in (("best", best), ("knn", "knn"), ("spage", "spage")):
                if ref is not None and ref in per_gene.columns and ref != method:
                    d, lo, hi = paired_bootstrap(
                        per_gene[method].to_numpy(), per_gene[ref].to_numpy(), n_boot=n_boot, seed=seed
                    )
                else:
                    d = lo = hi = np.nan
                row[f"vs_{name}"], row[f"vs_{name}_lo"], row[f"vs_{name}_hi"] = d, lo, hi
            rows.append(row)
    return pd.DataFrame(rows, columns=list(PAIRED_CI_COLUMNS))
