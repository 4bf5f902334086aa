"""The benchmark's jobs: method lookup and one method on one sample in one scenario.

Each Snakemake job of ``workflow/rules/benchmark.smk`` calls one function here (or in
:mod:`.ccc_truth` and :mod:`.summary`), so the jobs are thin glue and everything is usable
from a notebook:

- :func:`commst.benchmark.spec.resolve_method` turns a configured method
  name (a registered method of :mod:`commst.tl.methods`, a CommST ablation, or a test-only
  ``module:function``) into an imputation function and its params;
- :func:`heldout_job`, :func:`thinning_job` and :func:`ccc_job` run one method on one sample
  for one scenario and return a long table; a method that raises is recorded with
  ``status = "failed"`` and its error instead of stopping the benchmark.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from commst._constants import subunits
from commst.benchmark.ccc_recovery import SCORE_METRICS, bivariate_recovery, celltype_recovery
from commst.benchmark.ccc_truth import impute_ccc_genes, liana_tables, negative_keys
from commst.benchmark.heldout import SCALE_METRICS, run_heldout
from commst.benchmark.metrics import GENE_METRICS
from commst.benchmark.spec import MethodSpec
from commst.benchmark.thinning import run_thinning
from commst.pp import get_gene_sets

logger = logging.getLogger(__name__)

GENE_METRIC_COLUMNS: tuple[str, ...] = (
    "method",
    "scenario",
    "fold",
    "gene",
    "is_lr",
    *GENE_METRICS,
    "split",
    *SCALE_METRICS,
    "status",
    "error",
    "runtime_s",
)
"""Columns of ``gene_metrics.tsv`` (issue #5 names the first nine)."""

THINNING_COLUMNS: tuple[str, ...] = (
    "method",
    "scenario",
    "p",
    "seed",
    "gene",
    "is_lr",
    *GENE_METRICS,
    "status",
    "error",
    "runtime_s",
)
"""Columns of ``thinning.tsv``."""

CCC_COLUMNS: tuple[str, ...] = (
    "method",
    "scenario",
    "p",
    "seed",
    "null",
    "analysis",
    "metric",
    "value",
    "status",
    "error",
)
"""Columns of ``ccc_recovery.tsv``."""

SUMMARY_COLUMNS: tuple[str, ...] = ("sample", "method", "scenario", "metric", "value")
"""Columns of ``summary.tsv``."""


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


def _fill_failed(table: pd.DataFrame, message: str) -> pd.DataFrame:
    table["error"] = np.where(table["status"].eq("ok"), "", message or "see the job's log")
    return table


def _all_failed(genes: Sequence[str], lr: set[str], message: str, **columns: Any) -> pd.DataFrame:
    tab = pd.DataFrame({"gene": list(genes), **{m: np.nan for m in (*GENE_METRICS, *SCALE_METRICS)}})
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
    n_splits: int = 1,
    genes: str = "all",
    lr_mask: bool = False,
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
        Folds of the shared genes and the seed of the method (and of the first split).
    n_splits
        Fold splits (seeds ``seed, seed + 1, ...``; column ``split``).
    genes
        ``"all"``: score every shared gene; ``"lr"``: only LR genes (faster, same inputs).
    lr_mask
        Also the cross-platform check (scenario ``lrmask``): every shared LR gene masked from
        the spatial side at once, imputed from the other shared genes.

    Returns
    -------
    Table with :data:`GENE_METRIC_COLUMNS`, ``scenario = "heldout"``.
    """
    lr = set(map(str, lr_genes))
    shared = [g for g in spatial.var_names if g in set(reference.var_names)]
    score = None if genes == "all" else [g for g in shared if g in lr]

    def scenario(name: str, genes_: list[str], **folds: Any) -> pd.DataFrame:
        table = _recorded(
            spec,
            lambda func, params: run_heldout(
                spatial,
                reference,
                func,
                lr_genes=sorted(lr),
                seed=seed,
                genes_to_score=score,
                method_params=params,
                on_error="record",
                verbose=False,
                **folds,
            ),
            lambda message: _all_failed(genes_, lr, message, fold=-1, split=seed),
            name,
        )
        return table

    tab = scenario(
        "held-out",
        score if score is not None else shared,
        n_folds=n_folds,
        split_seeds=[seed + i for i in range(int(n_splits))],
    )
    tab["scenario"] = "heldout"
    if lr_mask:
        masked = [g for g in shared if g in lr]
        extra = scenario("LR-masked", masked, fold_sets=[masked])
        extra["scenario"] = "lrmask"
        tab = pd.concat([tab, extra], ignore_index=True)
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
    genes = get_gene_sets(spatial)
    targets = [g for g in genes.lr_targets if g in spatial.var_names]
    inputs = [g for g in genes.input if g in spatial.var_names and g in reference.var_names]
    lr = set(map(str, lr_genes))
    tab = _recorded(
        spec,
        lambda func, params: run_thinning(
            spatial,
            reference,
            func,
            targets=targets,
            input_genes=inputs,
            lr_genes=sorted(lr),
            p_values=list(p_values),
            seeds=list(seeds),
            scenarios=list(scenarios),
            method_params=params,
            on_error="record",
            verbose=False,
        ),
        lambda message: pd.concat(
            [
                _all_failed(targets, lr, message, scenario=sc, p=float(p), seed=int(s))
                for sc in scenarios
                for p in p_values
                for s in seeds
            ],
            ignore_index=True,
        ),
        "thinning",
    )
    return tab[list(THINNING_COLUMNS)]


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

    For each capture ``p`` and seed the method imputes the CCC genes from the thinned data
    (:func:`~commst.benchmark.ccc_truth.impute_ccc_genes`: measured LR targets plus decoy genes;
    a method without its own uncertainty or spot labels gets the kNN neighbours'). LIANA+
    bivariate scores (Moran's R) of real pairs and negatives are tested under each null exactly
    as the truth's were (:func:`~commst.benchmark.ccc_truth.ccc_truth`) and compared with them
    (:func:`bivariate_recovery`: recall of the truth's calls, decoy and cross-decoy rates);
    rank_aggregate on the truth's spot labels is compared with the truth's and the reference's
    (:func:`celltype_recovery`).

    Parameters
    ----------
    truth
        :func:`~commst.benchmark.ccc_truth.ccc_truth` tables (its ``bivariate`` tested under ``nulls``).
    options
        ``ccc`` options as in :func:`~commst.benchmark.ccc_truth.ccc_truth`.
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
    ``null`` empty; one failed row per ``p`` and seed with the error where the method failed);
    the log-normalised imputed AnnData of the first ``p`` and seed (``None`` when every run
    failed).
    """
    pairs = truth["pairs"]
    real = pairs[pairs["kind"] == "real"][["ligand", "receptor"]]
    resource = pairs[pairs["kind"].isin(["real", "decoy", "cross"])][["ligand", "receptor"]].drop_duplicates()
    genes = list(dict.fromkeys(g for col in ("ligand", "receptor") for x in resource[col] for g in subunits(x)))
    labels = truth["labels"].set_index("spot")["label"]
    truth_biv = truth["bivariate"]
    inputs = [g for g in get_gene_sets(spatial).input if g not in set(genes) and g in reference.var_names]
    name = getattr(spec, "name", "method")
    rows: list[dict[str, Any]] = []
    first = None
    try:
        spec = spec() if not isinstance(spec, MethodSpec) else spec
        name = spec.name
    except Exception as err:  # the method could not be set up: every run fails with this error
        spec = err
    for p in p_values:
        for seed in seeds:
            base = {"method": name, "scenario": scenario, "p": float(p), "seed": int(seed)}
            try:
                if isinstance(spec, Exception):
                    raise spec
                imputed, runtime = impute_ccc_genes(
                    spatial,
                    reference,
                    spec,
                    genes=genes,
                    inputs=inputs,
                    labels=labels,
                    p=p,
                    seed=seed,
                    scenario=scenario,
                )
                tested, rank = liana_tables(imputed, resource, real, nulls, options=options, seed=seed)
                results: list[tuple[str, str, dict[str, float]]] = []
                for i, null in enumerate(nulls):
                    metrics = bivariate_recovery(
                        truth_biv[truth_biv["null"] == null],
                        tested[tested["null"] == null],
                        alpha=alpha,
                        **negative_keys(pairs),
                    )
                    if i == 0:  # the same under every null
                        results.append(("bivariate", "", {m: metrics[m] for m in SCORE_METRICS}))
                    results.append(("bivariate", null, {m: v for m, v in metrics.items() if m not in SCORE_METRICS}))
                results += [
                    ("rank_aggregate", "", celltype_recovery(truth["rank_aggregate"], rank, k=top_k)),
                    ("reference_agreement", "", celltype_recovery(truth["reference_rank_aggregate"], rank, k=top_k)),
                    ("imputation", "", {"runtime_s": runtime}),
                ]
                rows += [
                    {
                        **base,
                        "null": null,
                        "analysis": analysis,
                        "metric": metric,
                        "value": float(value),
                        "status": "ok",
                        "error": "",
                    }
                    for analysis, null, metrics in results
                    for metric, value in metrics.items()
                ]
                first = imputed if first is None else first
            except Exception as err:
                logger.exception(
                    "%s failed in the communication-recovery scenario (p=%g, seed %d); recorded as failed",
                    name,
                    p,
                    seed,
                )
                rows.append(
                    {
                        **base,
                        "null": "",
                        "analysis": "all",
                        "metric": "failed",
                        "value": np.nan,
                        "status": "failed",
                        "error": f"{type(err).__name__}: {err}"[:500],
                    }
                )
    return pd.DataFrame(rows, columns=list(CCC_COLUMNS)), first
