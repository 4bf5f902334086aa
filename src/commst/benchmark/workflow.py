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

from commst.benchmark.ccc_recovery import (
    SCORE_METRICS,
    absent_ligand_pairs,
    bivariate_recovery,
    celltype_recovery,
    decoy_pairs,
    family_calls,
)
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

CCC_COLUMNS: tuple[str, ...] = (
    "method", "scenario", "p", "seed", "null", "analysis", "metric", "value", "status", "error",
)
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
    spatial: ad.AnnData, lr: pd.DataFrame, *, seed: int = 0, n_cross: int | None = 400
) -> tuple[list[str], pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Genes imputed for the CCC scenario and the pairs tested on them.

    Returns
    -------
    ``(genes, real, decoys, absent, cross)``: the measured LR targets plus the decoy genes;
    the real LR pairs among the measured targets; decoy pairs (:func:`decoy_pairs`, matched on
    mean and sparsity in the truth); real pairs whose ligand the truth does not express; cross
    decoys (:func:`commst.ccc.cross_decoys`: ligand × receptor genes of the measured targets
    that are partners in no pair of ``lr``, at most ``n_cross``).
    """
    from commst.ccc import cross_decoys

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
    cross = cross_decoys(lr, targets, max_n=n_cross, seed=seed)
    genes = list(dict.fromkeys([*targets, *decoys["ligand"], *decoys["receptor"]]))
    return genes, real, decoys.reset_index(drop=True), absent, cross


#: Label column of the significance null (what the workflow's imputed spots carry).
NULL_LABEL_KEY = "matched_cell_type"


def _lognorm_adata(
    template: ad.AnnData,
    values: np.ndarray,
    genes: Sequence[str],
    labels: pd.Series,
    null_labels: pd.Series | np.ndarray,
    uncertainty: np.ndarray | None = None,
) -> ad.AnnData:
    out = ad.AnnData(
        X=np.asarray(values, dtype=np.float32),
        obs=pd.DataFrame(
            {"label": pd.Categorical(labels.reindex(template.obs_names).astype(str)),
             NULL_LABEL_KEY: pd.Categorical(np.asarray(null_labels).astype(str))},
            index=template.obs_names.copy(),
        ),
        var=pd.DataFrame(index=pd.Index(list(genes))),
    )
    out.obsm["spatial"] = np.asarray(template.obsm["spatial"], dtype=float)
    if uncertainty is not None:
        out.layers["uncertainty"] = np.asarray(uncertainty, dtype=np.float32)
    return out


def _celltype_options(options: Mapping[str, Any], seed: int) -> dict[str, Any]:
    return {"expr_prop": options.get("expr_prop", 0.1), "min_cells": options.get("min_cells", 5),
            "n_perms": options.get("n_perms", 100), "seed": seed}


def _tested(
    adata: ad.AnnData,
    resource: pd.DataFrame,
    nulls: Sequence[str],
    *,
    options: Mapping[str, Any],
    seed: int,
) -> pd.DataFrame:
    """LIANA+ bivariate scores over ``resource``, tested under each null: one block of rows per null."""
    from commst.ccc import lr_significance, spatial_bivariate

    _, scores = spatial_bivariate(
        adata, resource, bandwidth=options.get("bandwidth"), cutoff=options.get("cutoff", 0.1),
        local_name=options.get("local_metric", "cosine"), global_name=options.get("global_metric", "morans"),
        null="spots", n_perms=0, labels_key=NULL_LABEL_KEY, seed=seed,
    )
    blocks = []
    for null in nulls:
        if scores.empty:
            blocks.append(scores.assign(null=null))
            continue
        tested = lr_significance(
            adata, scores, null=null, labels_key=NULL_LABEL_KEY, global_name=options.get("global_metric", "morans"),
            n_perms=options.get("n_perms", 199), n_draws=options.get("n_draws", 10), seed=seed,
        )
        blocks.append(scores.drop(columns=["pvalue", "qvalue", "significant", "null"]).assign(
            pvalue=tested["pvalue"].to_numpy(), null=null))
    return pd.concat(blocks, ignore_index=True)


def _null_labels(spatial: ad.AnnData, reference: ad.AnnData, inputs: Sequence[str], *, seed: int) -> pd.Series:
    """kNN label transfer (the dominant cell type of each spot's matched reference cells)."""
    from commst.tl import impute_knn

    res = impute_knn(spatial, reference, targets=list(inputs)[:1], input_genes=list(inputs), seed=seed)
    return pd.Series(np.asarray(res.labels).astype(str), index=spatial.obs_names, name=NULL_LABEL_KEY)


def spot_labels(spatial: ad.AnnData, reference: ad.AnnData, *, seed: int = 0) -> pd.Series:
    """One cell-type label per spot used by every method's rank_aggregate.

    The spatial data's own ``obs['cell_type']`` when it has one (e.g. the STARmap split),
    otherwise the dominant cell type of the spot's matched reference cells by kNN on the
    unthinned truth (:func:`commst.tl.impute_knn`).
    """
    if "cell_type" in spatial.obs:
        return spatial.obs["cell_type"].astype(str).rename("label")
    genes = spatial.uns["commst"]["genes"]
    inputs = [g for g in genes["input"] if g in reference.var_names]
    return _null_labels(spatial, reference, inputs, seed=seed).rename("label")


def ccc_truth(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    lr: pd.DataFrame,
    *,
    options: Mapping[str, Any],
    nulls: Sequence[str] = ("uncertainty_labels",),
    n_cross: int | None = 400,
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
        ``n_perms``, ``n_draws``, ``expr_prop``, ``min_cells``.
    nulls
        Nulls of the bivariate test (:data:`commst.ccc.NULLS`); the truth is measured data, so
        the draw nulls test it without draws.
    n_cross
        Most cross decoys (:func:`ccc_genes_and_pairs`).
    seed
        Seed of decoys, labels and permutations.

    Returns
    -------
    Dict of tables: ``pairs`` (ligand, receptor, kind in {real, decoy, absent, cross}),
    ``labels`` (spot, label of rank_aggregate, ``matched_cell_type``: kNN label transfer on the
    truth, the labels of the significance null), ``bivariate`` (truth, one block per null,
    column ``null``), ``rank_aggregate`` (truth on the spot labels), ``reference_rank_aggregate``
    (reference over its cell types).
    """
    from commst.ccc import celltype_communication

    genes, real, decoys, absent, cross = ccc_genes_and_pairs(spatial, lr, seed=seed, n_cross=n_cross)
    labels = spot_labels(spatial, reference, seed=seed)
    inputs = [g for g in spatial.uns["commst"]["genes"]["input"] if g not in set(genes) and g in reference.var_names]
    null_labels = _null_labels(spatial, reference, inputs, seed=seed)
    full_lib = np.asarray(counts_matrix(spatial).sum(axis=1)).ravel()
    truth = _lognorm_adata(spatial, log_normalise_with(counts_matrix(spatial[:, genes]), full_lib), genes, labels,
                           null_labels.to_numpy())
    resource = pd.concat([real, decoys[["ligand", "receptor"]], cross], ignore_index=True).drop_duplicates()
    biv = _tested(truth, resource, nulls, options=options, seed=seed)
    rank = celltype_communication(truth, real, groupby="label", **_celltype_options(options, seed))
    ref = reference[:, [g for g in genes if g in reference.var_names]].copy()
    ref_rank = celltype_communication(ref, real, groupby="cell_type", **_celltype_options(options, seed))
    pairs = pd.concat(
        [real.assign(kind="real"), decoys[["ligand", "receptor"]].assign(kind="decoy"),
         absent[["ligand", "receptor"]].assign(kind="absent"), cross.assign(kind="cross")],
        ignore_index=True,
    )
    return {
        "pairs": pairs,
        "labels": pd.DataFrame({"spot": spatial.obs_names, "label": labels.to_numpy(),
                                NULL_LABEL_KEY: null_labels.to_numpy()}),
        "bivariate": biv,
        "rank_aggregate": rank,
        "reference_rank_aggregate": ref_rank,
    }


def _keys(pairs: pd.DataFrame, kind: str) -> list[str]:
    sub = pairs[pairs["kind"] == kind]
    return (sub["ligand"].astype(str) + "^" + sub["receptor"].astype(str)).tolist()


def _negatives(pairs: pd.DataFrame) -> dict[str, list[str]]:
    return {"decoys": _keys(pairs, "decoy"), "absent": _keys(pairs, "absent"), "cross": _keys(pairs, "cross")}


def _impute_ccc(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    spec: MethodSpec,
    *,
    genes: Sequence[str],
    inputs: Sequence[str],
    labels: pd.Series,
    p: float,
    seed: int,
    scenario: str,
) -> tuple[ad.AnnData, float]:
    """Thin, impute the CCC genes and log-normalise them with uncertainty and null labels."""
    from commst.tl import fill_missing, log_scale_sd

    start = time.perf_counter()
    thinned = thin_counts(spatial, p, seed=seed)
    lib = np.asarray(counts_matrix(thinned).sum(axis=1)).ravel()
    data = thinned
    if scenario == "removed":
        data = thinned[:, [g for g in thinned.var_names if g not in set(genes)]].copy()
    res = spec.func(data, reference, targets=list(genes), input_genes=list(inputs), seed=seed, **spec.params)
    runtime = time.perf_counter() - start
    # what a method does not give (SpaGE, Tangram, ...: no uncertainty; no labels), the kNN neighbours do
    res = fill_missing(res, data, reference, input_genes=inputs, seed=seed)
    order = [res.targets.index(g) for g in genes]
    pred = res.counts[:, order]
    sd = log_scale_sd(pred, np.asarray(res.uncertainty)[:, order], lib)
    null_labels = res.labels.reindex(spatial.obs_names).astype(str).to_numpy()
    imputed = _lognorm_adata(spatial, log_normalise_with(pred, lib), genes, labels, null_labels, sd)
    imputed.uns["sources"] = {k: res.extra[k] for k in ("uncertainty_source", "labels_source")}
    return imputed, runtime


def ccc_job(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    spec: MethodSpec | Callable[[], MethodSpec],
    *,
    truth: Mapping[str, pd.DataFrame],
    options: Mapping[str, Any],
    p_values: Sequence[float] = (0.1,),
    seeds: Sequence[int] = (0,),
    nulls: Sequence[str] = ("uncertainty_labels",),
    scenario: str = "thinned",
    alpha: float = 0.05,
    top_k: int = 50,
) -> tuple[pd.DataFrame, ad.AnnData | None]:
    """Communication recovery of one method: impute from thinned data, test, compare with the truth.

    For each capture ``p`` and seed the spatial counts are binomially thinned; the method
    imputes the CCC genes (measured LR targets plus decoy genes; with ``scenario = "removed"``
    they are removed from the thinned data first); a method without its own uncertainty or spot
    labels gets the kNN neighbours' (:func:`commst.tl.fill_missing`). LIANA+ bivariate scores
    (Moran's R) of real pairs and negatives are tested under each null exactly as the truth's
    were (:func:`ccc_truth`) and compared with them (:func:`bivariate_recovery`: recall of the
    truth's calls, decoy and cross-decoy rates); rank_aggregate on the truth's spot labels is
    compared with the truth's and the reference's (:func:`celltype_recovery`).

    Parameters
    ----------
    truth
        :func:`ccc_truth` tables (its ``bivariate`` tested under ``nulls``).
    options
        ``ccc`` options as in :func:`ccc_truth`.
    p_values, seeds, scenario
        Capture probabilities, thinning/method/permutation seeds, ``"thinned"`` or ``"removed"``.
    nulls
        Nulls of the bivariate test.
    alpha, top_k
        FDR of the bivariate calls; size of the top lists compared by Jaccard.

    Returns
    -------
    ``(table, imputed)``: rows with :data:`CCC_COLUMNS` (bivariate call metrics once per null,
    the score metrics :data:`~commst.benchmark.ccc_recovery.SCORE_METRICS` and the others with
    ``null`` empty; one failed row per ``p`` and seed with the error where the
    method failed); the log-normalised imputed AnnData of the first ``p`` and seed (``None``
    when it failed).
    """
    pairs = truth["pairs"]
    real = pairs[pairs["kind"] == "real"][["ligand", "receptor"]]
    resource = pairs[pairs["kind"].isin(["real", "decoy", "cross"])][["ligand", "receptor"]].drop_duplicates()
    genes = list(dict.fromkeys(g for col in ("ligand", "receptor") for x in resource[col] for g in str(x).split("_")))
    labels = truth["labels"].set_index("spot")["label"]
    truth_biv = truth["bivariate"]
    info = spatial.uns["commst"]["genes"]
    inputs = [g for g in info["input"] if g not in set(genes) and g in reference.var_names]
    name = getattr(spec, "name", "method")
    rows, first = [], None
    try:
        spec = spec() if not isinstance(spec, MethodSpec) else spec
        name = spec.name
    except Exception as err:
        spec = err
    for p in p_values:
        for seed in seeds:
            base = {"method": name, "scenario": scenario, "p": float(p), "seed": int(seed)}
            try:
                if isinstance(spec, Exception):
                    raise spec
                imputed, runtime = _impute_ccc(spatial, reference, spec, genes=genes, inputs=inputs, labels=labels,
                                               p=p, seed=seed, scenario=scenario)
                tested = _tested(imputed, resource, nulls, options=options, seed=seed)
                rank = _rank_aggregate(imputed, real, options=options, seed=seed)
                results: list[tuple[str, str, dict[str, float]]] = []
                for i, null in enumerate(nulls):
                    metrics = bivariate_recovery(
                        truth_biv[truth_biv["null"] == null], tested[tested["null"] == null], alpha=alpha,
                        **_negatives(pairs),
                    )
                    if i == 0:  # the same under every null
                        results.append(("bivariate", "", {m: metrics[m] for m in SCORE_METRICS}))
                    results.append(("bivariate", null, {m: v for m, v in metrics.items() if m not in SCORE_METRICS}))
                results += [
                    ("rank_aggregate", "", celltype_recovery(truth["rank_aggregate"], rank, k=top_k)),
                    ("reference_agreement", "", celltype_recovery(truth["reference_rank_aggregate"], rank, k=top_k)),
                    ("imputation", "", {"runtime_s": runtime}),
                ]
                rows += [{**base, "null": null, "analysis": analysis, "metric": metric, "value": float(value),
                          "status": "ok", "error": ""}
                         for analysis, null, metrics in results for metric, value in metrics.items()]
                first = imputed if first is None else first
            except Exception as err:
                logger.exception("%s failed in the communication-recovery scenario (p=%g, seed %d); recorded as failed",
                                 name, p, seed)
                rows.append({**base, "null": "", "analysis": "all", "metric": "failed", "value": np.nan,
                             "status": "failed", "error": f"{type(err).__name__}: {err}"[:500]})
    return pd.DataFrame(rows, columns=list(CCC_COLUMNS)), first


def _rank_aggregate(adata: ad.AnnData, real: pd.DataFrame, *, options: Mapping[str, Any], seed: int) -> pd.DataFrame:
    """LIANA+ rank_aggregate of the ``real`` pairs over ``obs['label']`` (the truth's spot labels)."""
    from commst.ccc import celltype_communication

    return celltype_communication(adata, real, groupby="label", **_celltype_options(options, seed))


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
        nulls = biv["null"].unique() if "null" in biv else [""]
        for null in nulls:
            block = biv[biv["null"] == null] if "null" in biv else biv
            called = family_calls(block, {"decoy": _keys(pairs, "decoy"), "absent": _keys(pairs, "absent"),
                                          "cross": _keys(pairs, "cross")}, alpha=alpha)
            rows.append(("bivariate", str(null), {
                "decoy_fpr": false_positive_rate(called[called.index.isin(_keys(pairs, "decoy"))].to_numpy()),
                "cross_decoy_fpr": false_positive_rate(called[called.index.isin(_keys(pairs, "cross"))].to_numpy()),
                "absent_ligand_fpr": false_positive_rate(called[called.index.isin(_keys(pairs, "absent"))].to_numpy()),
                "n_truth_significant": float(called[called.index.isin(_keys(pairs, "real"))].sum()),
            }))
    return pd.DataFrame(
        [{"method": "truth", "scenario": "truth", "p": 1.0, "seed": 0, "null": null, "analysis": analysis,
          "metric": m, "value": float(v), "status": "ok", "error": ""}
         for analysis, null, values in rows for m, v in values.items()],
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
            scenario=np.where(ccc["method"].eq("truth"), "truth",
                              "ccc_" + ccc["scenario"] + "_p" + ccc["p"].map(lambda x: f"{float(x):g}")),
            metric=ccc["analysis"] + "_" + ccc["metric"] + np.where(null.eq(""), "", "_" + null),
        )
        parts.append(c.groupby(["method", "scenario", "metric"], as_index=False, sort=False)["value"].mean())
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["method", "scenario", "metric", "value"])
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
    for metric, col in (("bivariate_spearman", "ccc_spearman"), (f"bivariate_cross_decoy_fpr_{null}", "decoy_fpr"),
                        (f"bivariate_recall_{null}", "recall"), ("rank_aggregate_spearman", "rank_spearman")):
        rows.append(ccc[ccc["metric"] == metric].assign(column=col))
    long = pd.concat(rows, ignore_index=True)
    return long.pivot_table(index=["sample", "method"], columns="column", values="value", aggfunc="first")
