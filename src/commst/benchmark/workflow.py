"""What the benchmark rules of the workflow run: method lookup, one job per scenario, aggregation.

Each Snakemake job of ``workflow/rules/benchmark.smk`` calls one function here, so the jobs
are thin glue and everything is usable from a notebook:

- :func:`resolve_method` turns a configured method name (a baseline, ``commst``, a CommST
  ablation, or a test-only ``module:function``) into an imputation function and its params;
- :func:`heldout_job`, :func:`thinning_job` and :func:`ccc_job` run one method on one sample
  for one scenario and return a long table; a method that raises is recorded with
  ``status = "failed"`` and its error instead of stopping the benchmark;
- :func:`ccc_truth` computes the LIANA+ results on the truth, the decoy and absent-ligand
  pairs and the spot labels once per sample;
- :func:`summary_rows` turns the per-sample tables into ``summary.tsv`` rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from commst.benchmark.ccc_recovery import absent_ligand_pairs, bivariate_recovery, celltype_recovery, decoy_pairs
from commst.benchmark.data import thin_counts
from commst.benchmark.heldout import log_normalise_with, run_heldout
from commst.benchmark.metrics import GENE_METRICS, false_positive_rate, summarise_gene_metrics
from commst.benchmark.thinning import run_thinning
from commst.pp import counts_matrix

logger = logging.getLogger(__name__)

GENE_METRIC_COLUMNS: tuple[str, ...] = (
    "method", "scenario", "fold", "gene", "is_lr", *GENE_METRICS, "status", "error", "runtime_s",
)
"""Columns of ``gene_metrics.tsv`` (issue #5 names the first nine)."""

THINNING_COLUMNS: tuple[str, ...] = (
    "method", "scenario", "p", "seed", "gene", "is_lr", *GENE_METRICS, "status", "error", "runtime_s",
)
"""Columns of ``thinning.tsv``."""

CCC_COLUMNS: tuple[str, ...] = ("method", "scenario", "p", "seed", "analysis", "metric", "value", "status", "error")
"""Columns of ``ccc_recovery.tsv``."""

SUMMARY_COLUMNS: tuple[str, ...] = ("sample", "method", "scenario", "metric", "value")
"""Columns of ``summary.tsv``."""


@dataclass
class MethodSpec:
    """A configured benchmark method: the imputation function and its keyword arguments."""

    name: str
    func: Callable[..., Any]
    params: dict[str, Any] = field(default_factory=dict)
    base: str = ""


class _ErrorLog:
    """Wraps a method so that the messages of its exceptions are kept (they are re-raised)."""

    def __init__(self, func: Callable[..., Any], name: str) -> None:
        self.func, self.__name__, self.errors = func, name, []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.func(*args, **kwargs)
        except Exception as err:
            self.errors.append(f"{type(err).__name__}: {err}")
            raise

    def message(self) -> str:
        return " | ".join(dict.fromkeys(self.errors))[:500]


def _import(target: str) -> Callable[..., Any]:
    module, _, func = target.partition(":")
    if not func:
        raise ValueError(f"method target {target!r} must read 'package.module:function'")
    return getattr(import_module(module), func)


def _commst_with_priors(
    species: str,
    lr: pd.DataFrame | None,
    ppi_path: str | None,
    ligand_target_path: str | None,
) -> Callable[..., Any]:
    """``impute_commst`` that builds the PPI graph and ligand-target prior for each call's targets."""
    from commst.model import impute_commst

    def impute_commst_priors(spatial, reference, *, targets, input_genes, seed=0, **params):
        from commst.model import CommSTConfig
        from commst.priors import ligand_target_matrix, ppi_graph

        config = CommSTConfig().replace(**{k: v for k, v in params.items() if k in CommSTConfig.__dataclass_fields__})
        extra = {}
        if config.w_ppi > 0 and ppi_path:
            extra["ppi"] = ppi_graph(list(targets), species, lr=lr, path=ppi_path)
        if config.w_nichenet > 0 and ligand_target_path:
            lt = ligand_target_matrix(species, ligands=list(targets), targets=list(input_genes), path=ligand_target_path)
            extra["ligand_target"] = lt.loc[lt.sum(axis=1) > 0, lt.sum(axis=0) > 0]
        params = {**params, **extra}
        params.setdefault("progress", False)
        return impute_commst(spatial, reference, targets=targets, input_genes=input_genes, seed=seed, **params)

    return impute_commst_priors


def resolve_method(
    name: str,
    *,
    variants: Mapping[str, Mapping[str, Any]] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    extra_methods: Mapping[str, str] | None = None,
    model: Mapping[str, Any] | None = None,
    species: str = "human",
    lr: pd.DataFrame | None = None,
    ppi_path: str | None = None,
    ligand_target_path: str | None = None,
    threads: int | None = None,
) -> MethodSpec:
    """The imputation function and keyword arguments of a configured benchmark method.

    Parameters
    ----------
    name
        A baseline (:data:`commst.benchmark.methods.BASELINES`), ``commst``, a variant
        (``variants[name]``) or a test-only method (``extra_methods[name]``).
    variants
        Name → ``{"method": base name, "params": {...}}``: e.g. CommST ablations
        (``commst_no_priors: {method: commst, params: {w_ppi: 0, w_nichenet: 0}}``).
    params
        Method name → keyword arguments (config ``benchmark.params``); a variant gets its
        base's params updated with its own.
    extra_methods
        Name → ``"module:function"`` with the common imputation signature.
    model
        CommST settings (config ``model:``), the base of ``commst`` and its variants.
    species, lr, ppi_path, ligand_target_path
        Priors of CommST (the workflow's prior artefacts); without paths the priors are off.
    threads
        Torch CPU threads for CommST (``num_threads``) when ``model`` does not set them.

    Returns
    -------
    :class:`MethodSpec`.
    """
    variants, params, extra_methods = dict(variants or {}), dict(params or {}), dict(extra_methods or {})
    base, own = name, dict(params.get(name, {}))
    if name in variants:
        base = str(variants[name].get("method", "commst"))
        own = {**dict(params.get(base, {})), **dict(variants[name].get("params", {})), **own}
    if base in extra_methods:
        return MethodSpec(name, _import(extra_methods[base]), own, base)
    if base == "commst":
        settings = {**dict(model or {}), **own}
        if threads and settings.get("num_threads") is None:
            settings["num_threads"] = int(threads)
        func = _commst_with_priors(species, lr, ppi_path, ligand_target_path)
        return MethodSpec(name, func, settings, base)
    from commst.benchmark.methods import get_baseline

    return MethodSpec(name, get_baseline(base), own, base)


def _fill_failed(table: pd.DataFrame, message: str) -> pd.DataFrame:
    table["error"] = np.where(table["status"].eq("ok"), "", message or "see the job's log")
    return table


def _all_failed(genes: Sequence[str], lr: set[str], message: str, **columns: Any) -> pd.DataFrame:
    tab = pd.DataFrame({"gene": list(genes), **{m: np.nan for m in GENE_METRICS}})
    tab["is_lr"] = tab["gene"].isin(lr)
    tab["status"], tab["error"], tab["runtime_s"] = "failed", message, np.nan
    for key, value in columns.items():
        tab[key] = value
    return tab


def _recorded(
    spec: MethodSpec | Callable[[], MethodSpec],
    run: Callable[[Callable[..., Any], dict[str, Any]], pd.DataFrame],
    failed: Callable[[str], pd.DataFrame],
    what: str,
) -> pd.DataFrame:
    """``run(method, params)`` with the method's errors recorded; ``failed(message)`` when it cannot start."""
    name = getattr(spec, "name", "method")
    try:
        spec = spec() if not isinstance(spec, MethodSpec) else spec
        wrapped = _ErrorLog(spec.func, spec.name)
        tab = _fill_failed(run(wrapped, spec.params), wrapped.message())
    except Exception as err:  # the method could not be set up at all: every row failed
        logger.exception("%s could not run the %s scenario; recorded as failed", name, what)
        tab = failed(f"{type(err).__name__}: {err}")
    tab["method"] = name
    return tab


def heldout_job(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    spec: MethodSpec | Callable[[], MethodSpec],
    *,
    lr_genes: Sequence[str],
    n_folds: int = 10,
    seed: int = 0,
    genes: str = "all",
) -> pd.DataFrame:
    """Held-out-gene scenario of one method on one sample (rows of ``gene_metrics.tsv``).

    Parameters
    ----------
    spatial, reference
        Prepared pair (:func:`commst.pp.prepare`).
    spec
        The method (or a callable building it, so that a failing import is recorded too).
    lr_genes
        Genes of the LR database (flag ``is_lr``; spread over the folds).
    n_folds, seed
        Folds of the shared genes and the seed of split and method.
    genes
        ``"all"``: score every shared gene; ``"lr"``: only LR genes (faster, same inputs).

    Returns
    -------
    Table with :data:`GENE_METRIC_COLUMNS`, ``scenario = "heldout"``.
    """
    lr = set(map(str, lr_genes))
    shared = [g for g in spatial.var_names if g in set(reference.var_names)]
    score = None if genes == "all" else [g for g in shared if g in lr]
    tab = _recorded(
        spec,
        lambda func, params: run_heldout(
            spatial, reference, func, lr_genes=sorted(lr), n_folds=n_folds, seed=seed,
            genes_to_score=score, method_params=params, on_error="record", verbose=False,
        ),
        lambda message: _all_failed(score if score is not None else shared, lr, message, fold=-1),
        "held-out",
    )
    tab["scenario"] = "heldout"
    return tab[list(GENE_METRIC_COLUMNS)]


def thinning_job(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    spec: MethodSpec | Callable[[], MethodSpec],
    *,
    lr_genes: Sequence[str],
    p_values: Sequence[float],
    seeds: Sequence[int],
    scenarios: Sequence[str] = ("thinned", "removed"),
) -> pd.DataFrame:
    """Capture-thinning scenarios of one method on one sample (rows of ``thinning.tsv``).

    The targets are the sample's LR targets that the spatial data measured (a truth exists);
    the inputs are the sample's input genes (``spatial.uns['commst']['genes']['input']``).

    Returns
    -------
    Table with :data:`THINNING_COLUMNS`.
    """
    genes = spatial.uns["commst"]["genes"]
    targets = [g for g in genes["lr_targets"] if g in spatial.var_names]
    inputs = [g for g in genes["input"] if g in spatial.var_names and g in reference.var_names]
    lr = set(map(str, lr_genes))
    tab = _recorded(
        spec,
        lambda func, params: run_thinning(
            spatial, reference, func, targets=targets, input_genes=inputs, lr_genes=sorted(lr),
            p_values=list(p_values), seeds=list(seeds), scenarios=list(scenarios),
            method_params=params, on_error="record", verbose=False,
        ),
        lambda message: pd.concat(
            [_all_failed(targets, lr, message, scenario=sc, p=float(p), seed=int(s))
             for sc in scenarios for p in p_values for s in seeds],
            ignore_index=True,
        ),
        "thinning",
    )
    return tab[list(THINNING_COLUMNS)]


# ---------------------------------------------------------------------------------------------
# Communication recovery
# ---------------------------------------------------------------------------------------------

def _single_gene_pairs(lr: pd.DataFrame, genes: set[str]) -> pd.DataFrame:
    """LR pairs whose every subunit is in ``genes``."""
    def inside(x: str) -> bool:
        return all(g in genes for g in str(x).split("_"))

    keep = lr["ligand"].map(inside) & lr["receptor"].map(inside)
    return lr.loc[keep, ["ligand", "receptor"]].drop_duplicates().reset_index(drop=True)


def ccc_genes_and_pairs(
    spatial: ad.AnnData, lr: pd.DataFrame, *, seed: int = 0
) -> tuple[list[str], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Genes imputed for the CCC scenario and the pairs LIANA scores on them.

    Returns
    -------
    ``(genes, real, decoys, absent)``: the measured LR targets plus the decoy genes; the real
    LR pairs among the measured targets; decoy pairs (:func:`decoy_pairs`, matched on mean and
    sparsity in the truth); real pairs whose ligand the truth does not express.
    """
    info = spatial.uns["commst"]["genes"]
    targets = [g for g in info["lr_targets"] if g in spatial.var_names]
    real = _single_gene_pairs(lr, set(targets))
    if real.empty:
        raise ValueError(
            "no LR pair of the LR database has all its genes among the sample's measured LR targets; "
            "communication recovery needs at least one pair (check lr_resource and preprocess.min_expr_frac)"
        )
    decoys = decoy_pairs(spatial, real, seed=seed)
    decoys = decoys[decoys["ligand"].isin(info["input"]) & decoys["receptor"].isin(info["input"])]
    absent = absent_ligand_pairs(spatial, real)
    genes = list(dict.fromkeys([*targets, *decoys["ligand"], *decoys["receptor"]]))
    return genes, real, decoys.reset_index(drop=True), absent


def _lognorm_adata(template: ad.AnnData, values: np.ndarray, genes: Sequence[str], labels: pd.Series) -> ad.AnnData:
    out = ad.AnnData(
        X=np.asarray(values, dtype=np.float32),
        obs=pd.DataFrame({"label": pd.Categorical(labels.reindex(template.obs_names).astype(str))},
                         index=template.obs_names.copy()),
        var=pd.DataFrame(index=pd.Index(list(genes))),
    )
    out.obsm["spatial"] = np.asarray(template.obsm["spatial"], dtype=float)
    return out


def _celltype_options(options: Mapping[str, Any], seed: int) -> dict[str, Any]:
    return {"expr_prop": options.get("expr_prop", 0.1), "min_cells": options.get("min_cells", 5),
            "n_perms": options.get("n_perms", 100), "seed": seed}


def _liana(
    adata: ad.AnnData, resource: pd.DataFrame, real: pd.DataFrame, *, options: Mapping[str, Any], seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """LIANA+ bivariate scores over ``resource`` and rank_aggregate of the ``real`` pairs over ``obs['label']``."""
    from commst.ccc import celltype_communication, spatial_bivariate

    _, biv = spatial_bivariate(
        adata, resource, bandwidth=options.get("bandwidth"), cutoff=options.get("cutoff", 0.1),
        local_name=options.get("local_metric", "cosine"), global_name=options.get("global_metric", "morans"),
        n_perms=options.get("n_perms", 100), seed=seed,
    )
    rank = celltype_communication(adata, real, groupby="label", **_celltype_options(options, seed))
    return biv, rank


def spot_labels(spatial: ad.AnnData, reference: ad.AnnData, *, seed: int = 0) -> pd.Series:
    """One cell-type label per spot used by every method's rank_aggregate.

    The spatial data's own ``obs['cell_type']`` when it has one (e.g. the STARmap split),
    otherwise the dominant cell type of the spot's matched reference cells by kNN on the
    unthinned truth (:func:`commst.tl.impute_knn`).
    """
    if "cell_type" in spatial.obs:
        return spatial.obs["cell_type"].astype(str).rename("label")
    from commst.tl import impute_knn

    genes = spatial.uns["commst"]["genes"]
    inputs = [g for g in genes["input"] if g in reference.var_names]
    res = impute_knn(spatial, reference, targets=inputs[:1], input_genes=inputs, seed=seed)
    return pd.Series(np.asarray(res.labels).astype(str), index=spatial.obs_names, name="label")


def ccc_truth(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    lr: pd.DataFrame,
    *,
    options: Mapping[str, Any],
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """LIANA+ results on the truth and on the reference, with the pairs and labels of the CCC scenario.

    Parameters
    ----------
    spatial, reference
        Prepared pair; the spatial data are the (unthinned) truth.
    lr
        LR table (``ligand``, ``receptor``).
    options
        ``ccc`` options: ``bandwidth``, ``cutoff``, ``local_metric``, ``global_metric``,
        ``n_perms``, ``expr_prop``, ``min_cells``.
    seed
        Seed of decoys, labels and permutations.

    Returns
    -------
    Dict of tables: ``pairs`` (ligand, receptor, kind in {real, decoy, absent}),
    ``labels`` (spot, label), ``bivariate`` (truth), ``rank_aggregate`` (truth on the spot
    labels), ``reference_rank_aggregate`` (reference over its cell types).
    """
    from commst.ccc import celltype_communication

    genes, real, decoys, absent = ccc_genes_and_pairs(spatial, lr, seed=seed)
    labels = spot_labels(spatial, reference, seed=seed)
    full_lib = np.asarray(counts_matrix(spatial).sum(axis=1)).ravel()
    truth = _lognorm_adata(spatial, log_normalise_with(counts_matrix(spatial[:, genes]), full_lib), genes, labels)
    resource = pd.concat([real, decoys[["ligand", "receptor"]]], ignore_index=True).drop_duplicates()
    biv, rank = _liana(truth, resource, real, options=options, seed=seed)
    ref = reference[:, [g for g in genes if g in reference.var_names]].copy()
    ref_rank = celltype_communication(ref, real, groupby="cell_type", **_celltype_options(options, seed))
    pairs = pd.concat(
        [real.assign(kind="real"), decoys[["ligand", "receptor"]].assign(kind="decoy"),
         absent[["ligand", "receptor"]].assign(kind="absent")],
        ignore_index=True,
    )
    return {
        "pairs": pairs,
        "labels": labels.rename_axis("spot").reset_index(),
        "bivariate": biv,
        "rank_aggregate": rank,
        "reference_rank_aggregate": ref_rank,
    }


def _keys(pairs: pd.DataFrame, kind: str) -> list[str]:
    sub = pairs[pairs["kind"] == kind]
    return (sub["ligand"].astype(str) + "^" + sub["receptor"].astype(str)).tolist()


def ccc_job(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    spec: MethodSpec | Callable[[], MethodSpec],
    *,
    truth: Mapping[str, pd.DataFrame],
    options: Mapping[str, Any],
    p: float = 0.1,
    seed: int = 0,
    scenario: str = "thinned",
    alpha: float = 0.05,
    top_k: int = 50,
) -> tuple[pd.DataFrame, ad.AnnData | None]:
    """Communication recovery of one method: impute from thinned data, LIANA+, compare with the truth.

    The spatial counts are binomially thinned with capture ``p``; the method imputes the CCC
    genes (measured LR targets plus decoy genes; with ``scenario = "removed"`` they are
    removed from the thinned data first); LIANA+ bivariate scores (Moran's R) and
    rank_aggregate on the truth's spot labels are compared with those on the truth
    (:func:`bivariate_recovery`, :func:`celltype_recovery`) and rank_aggregate also with the
    reference's (``reference_agreement``).

    Parameters
    ----------
    truth
        :func:`ccc_truth` tables.
    options
        LIANA options as in :func:`ccc_truth`.
    p, seed, scenario
        Capture probability, thinning/method seed, ``"thinned"`` or ``"removed"``.
    alpha, top_k
        Significance level of bivariate p-values; size of the top lists compared by Jaccard.

    Returns
    -------
    ``(table, imputed)``: rows with :data:`CCC_COLUMNS` (one ``status`` row per metric, or
    one failed row with the error); the log-normalised imputed AnnData (``None`` on failure).
    """
    pairs = truth["pairs"]
    real = pairs[pairs["kind"] == "real"][["ligand", "receptor"]]
    resource = pairs[pairs["kind"].isin(["real", "decoy"])][["ligand", "receptor"]].drop_duplicates()
    genes = list(dict.fromkeys(g for col in ("ligand", "receptor") for x in resource[col] for g in str(x).split("_")))
    labels = truth["labels"].set_index("spot")["label"]
    info = spatial.uns["commst"]["genes"]
    inputs = [g for g in info["input"] if g not in set(genes) and g in reference.var_names]
    name = getattr(spec, "name", "method")
    base = {"scenario": scenario, "p": float(p), "seed": int(seed)}
    start = time.perf_counter()
    try:
        spec = spec() if not isinstance(spec, MethodSpec) else spec
        name = spec.name
        thinned = thin_counts(spatial, p, seed=seed)
        lib = np.asarray(counts_matrix(thinned).sum(axis=1)).ravel()
        data = thinned if scenario == "thinned" else thinned[:, [g for g in thinned.var_names if g not in set(genes)]].copy()
        res = spec.func(data, reference, targets=genes, input_genes=inputs, seed=seed, **spec.params)
        pred = pd.DataFrame(res.counts, columns=res.targets)[genes].to_numpy()
        imputed = _lognorm_adata(spatial, log_normalise_with(pred, lib), genes, labels)
        runtime = time.perf_counter() - start
        biv, rank = _liana(imputed.copy(), resource, real, options=options, seed=seed)
        results = {
            "bivariate": bivariate_recovery(
                truth["bivariate"], biv, alpha=alpha, decoys=_keys(pairs, "decoy"), absent=_keys(pairs, "absent")
            ),
            "rank_aggregate": celltype_recovery(truth["rank_aggregate"], rank, k=top_k),
            "reference_agreement": celltype_recovery(truth["reference_rank_aggregate"], rank, k=top_k),
            "imputation": {"runtime_s": runtime},
        }
        rows = [
            {"method": name, **base, "analysis": analysis, "metric": metric, "value": float(value),
             "status": "ok", "error": ""}
            for analysis, metrics in results.items() for metric, value in metrics.items()
        ]
        return pd.DataFrame(rows, columns=list(CCC_COLUMNS)), imputed
    except Exception as err:
        logger.exception("%s failed in the communication-recovery scenario; recorded as failed", name)
        row = {"method": name, **base, "analysis": "all", "metric": "failed", "value": np.nan,
               "status": "failed", "error": f"{type(err).__name__}: {err}"[:500]}
        return pd.DataFrame([row], columns=list(CCC_COLUMNS)), None


def truth_reference_rows(truth: Mapping[str, pd.DataFrame], *, top_k: int = 50, alpha: float = 0.05) -> pd.DataFrame:
    """Rows of the truth itself (method ``truth``): the ceilings the methods are compared with.

    ``reference_agreement`` of the truth's rank_aggregate with the reference's, and, when
    ``truth`` has ``bivariate`` and ``pairs``, the share of decoy and absent-ligand pairs the
    truth itself calls significant (``bivariate`` ``decoy_fpr``, ``absent_ligand_fpr``): decoys
    can be spatially co-expressed in real data too, so a method's decoy rate is read against it.
    """
    metrics = {"reference_agreement": celltype_recovery(truth["reference_rank_aggregate"], truth["rank_aggregate"], k=top_k)}
    if "bivariate" in truth and "pairs" in truth:
        biv, pairs = truth["bivariate"], truth["pairs"]
        key = biv["ligand"].astype(str) + "^" + biv["receptor"].astype(str)
        sig = pd.Series(((biv["pvalue"] < alpha) & (biv["global_score"] > 0)).to_numpy(), index=key.to_numpy())
        metrics["bivariate"] = {
            "decoy_fpr": false_positive_rate(sig[sig.index.isin(_keys(pairs, "decoy"))].to_numpy()),
            "absent_ligand_fpr": false_positive_rate(sig[sig.index.isin(_keys(pairs, "absent"))].to_numpy()),
            "n_truth_significant": float(sig[sig.index.isin(_keys(pairs, "real"))].sum()),
        }
    return pd.DataFrame(
        [{"method": "truth", "scenario": "truth", "p": 1.0, "seed": 0, "analysis": analysis,
          "metric": m, "value": float(v), "status": "ok", "error": ""}
         for analysis, values in metrics.items() for m, v in values.items()],
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
    ``{analysis}_{metric}`` (mean over seeds) for CCC (scenario ``ccc_{scenario}_p{p}``).
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
        c = ccc.assign(
            scenario=np.where(ccc["method"].eq("truth"), "truth",
                              "ccc_" + ccc["scenario"] + "_p" + ccc["p"].map(lambda x: f"{float(x):g}")),
            metric=ccc["analysis"] + "_" + ccc["metric"],
        )
        parts.append(c.groupby(["method", "scenario", "metric"], as_index=False, sort=False)["value"].mean())
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["method", "scenario", "metric", "value"])
    out.insert(0, "sample", sample)
    return out[list(SUMMARY_COLUMNS)]


def headline_table(summary: pd.DataFrame, *, p: float = 0.1) -> pd.DataFrame:
    """The closing-note table: per sample and method, median LR-gene PCC (held-out),
    median LR PCC at capture ``p`` (both thinning scenarios), CCC bivariate Spearman and decoy FPR.

    Parameters
    ----------
    summary
        ``summary.tsv``.
    p
        Capture probability of the thinning columns.

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
    ccc = summary[summary["scenario"].astype(str).str.startswith("ccc_") | summary["method"].eq("truth")]
    for metric, col in (("bivariate_spearman", "ccc_spearman"), ("bivariate_decoy_fpr", "decoy_fpr"),
                        ("rank_aggregate_spearman", "rank_spearman")):
        rows.append(ccc[ccc["metric"] == metric].assign(column=col))
    long = pd.concat(rows, ignore_index=True)
    return long.pivot_table(index=["sample", "method"], columns="column", values="value", aggfunc="first")
