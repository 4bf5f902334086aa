"""Per-gene accuracy of an imputation (Li et al. 2022) and its LR / non-LR summary."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse, stats
from scipy.special import rel_entr

from commst._utils import pcc, zscore

logger = logging.getLogger(__name__)

GENE_METRICS: tuple[str, ...] = ("pcc", "ssim", "rmse", "js")
"""Names of the per-gene metrics, in output column order."""

HIGHER_IS_BETTER: dict[str, bool] = {"pcc": True, "ssim": True, "rmse": False, "js": False}
"""Direction of each per-gene metric."""

_SSIM_K1, _SSIM_K2, _SSIM_L = 0.01, 0.03, 1.0


def _as_matrix(values: np.ndarray | pd.DataFrame | sparse.spmatrix, name: str) -> np.ndarray:
    if sparse.issparse(values):
        values = values.toarray()
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a spots x genes matrix, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf; impute or drop those values first")
    return arr


def _aligned(
    truth: np.ndarray | pd.DataFrame,
    pred: np.ndarray | pd.DataFrame,
    genes: Sequence[str] | None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Return truth and prediction as float arrays with matching gene columns."""
    if isinstance(truth, pd.DataFrame) and isinstance(pred, pd.DataFrame):
        missing = [g for g in truth.columns if g not in pred.columns]
        if missing:
            raise ValueError(
                f"prediction lacks {len(missing)} truth genes (e.g. {missing[:3]}); "
                "predict every scored gene or subset the truth"
            )
        if len(truth.index) != len(pred.index) or not truth.index.equals(pred.index):
            if set(truth.index) != set(pred.index):
                raise ValueError("truth and prediction have different spots (index)")
            pred = pred.loc[truth.index]
        genes = [str(g) for g in truth.columns] if genes is None else list(genes)
        return _as_matrix(truth[genes], "truth"), _as_matrix(pred[genes], "prediction"), genes
    t = _as_matrix(truth, "truth")
    p = _as_matrix(pred, "prediction")
    if t.shape != p.shape:
        raise ValueError(f"truth has shape {t.shape} but prediction has shape {p.shape}")
    if genes is None:
        genes = (
            [str(g) for g in truth.columns]
            if isinstance(truth, pd.DataFrame)
            else [f"gene_{i}" for i in range(t.shape[1])]
        )
    if len(genes) != t.shape[1]:
        raise ValueError(f"{len(genes)} gene names for {t.shape[1]} columns")
    return t, p, list(genes)


def _check_nonnegative(arr: np.ndarray, name: str) -> None:
    if (arr < 0).any():
        raise ValueError(
            f"{name} has negative values; SSIM and JS need non-negative expression "
            "(pass counts or log-normalised values, not z-scores)"
        )


def _scale_max(x: np.ndarray) -> np.ndarray:
    m = x.max(axis=0)
    return np.divide(x, m, out=np.zeros_like(x), where=m > 0)


def ssim(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Structural similarity per gene on max-scaled values (Li et al. 2022 ``cal_ssim``).

    Parameters
    ----------
    truth, pred
        Non-negative spots x genes arrays of the same shape.

    Returns
    -------
    Array with one SSIM per gene, in ``[-1, 1]`` (1 = identical after max-scaling).
    """
    _check_nonnegative(truth, "truth")
    _check_nonnegative(pred, "prediction")
    x, y = _scale_max(truth), _scale_max(pred)
    mu1, mu2 = x.mean(axis=0), y.mean(axis=0)
    s1 = np.sqrt(((x - mu1) ** 2).mean(axis=0))
    s2 = np.sqrt(((y - mu2) ** 2).mean(axis=0))
    s12 = ((x - mu1) * (y - mu2)).mean(axis=0)
    c1 = (_SSIM_K1 * _SSIM_L) ** 2
    c2 = (_SSIM_K2 * _SSIM_L) ** 2
    c3 = c2 / 2
    lum = (2 * mu1 * mu2 + c1) / (mu1**2 + mu2**2 + c1)
    con = (2 * s1 * s2 + c2) / (s1**2 + s2**2 + c2)
    struct = (s12 + c3) / (s1 * s2 + c3)
    return lum * con * struct


def rmse(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Root mean squared error per gene of z-scored values (Li et al. 2022).

    Parameters
    ----------
    truth, pred
        Spots x genes arrays of the same shape.

    Returns
    -------
    Array with one RMSE per gene, in ``[0, 2]`` (0 = identical up to location and scale).
    """
    return np.sqrt(((zscore(truth) - zscore(pred)) ** 2).mean(axis=0))


def _scale_plus(x: np.ndarray) -> np.ndarray:
    total = x.sum(axis=0)
    uniform = np.full_like(x, 1.0 / x.shape[0])
    return np.where(total > 0, np.divide(x, total, out=np.zeros_like(x), where=total > 0), uniform)


def js(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Jensen–Shannon divergence per gene of its distributions over spots (Li et al. 2022).

    Parameters
    ----------
    truth, pred
        Non-negative spots x genes arrays of the same shape.

    Returns
    -------
    Array with one divergence per gene (natural log), in ``[0, ln 2]``; 0 = same distribution.
    """
    _check_nonnegative(truth, "truth")
    _check_nonnegative(pred, "prediction")
    p, q = _scale_plus(truth), _scale_plus(pred)
    m = (p + q) / 2
    return 0.5 * rel_entr(p, m).sum(axis=0) + 0.5 * rel_entr(q, m).sum(axis=0)


def gene_metrics(
    truth: np.ndarray | pd.DataFrame | sparse.spmatrix,
    pred: np.ndarray | pd.DataFrame | sparse.spmatrix,
    genes: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Per-gene PCC, SSIM, RMSE and JS of a prediction against the truth.

    Parameters
    ----------
    truth, pred
        Spots x genes matrices (arrays, sparse matrices or DataFrames). With two DataFrames
        genes are matched by column name and spots by index; otherwise by position.
        Use the same scale for both (e.g. ``log1p`` of counts per 10k).
    genes
        Gene names of the columns (or, with DataFrames, the subset to score).

    Returns
    -------
    Long table with columns ``gene, pcc, ssim, rmse, js``, one row per gene.
    """
    t, p, names = _aligned(truth, pred, genes)
    return pd.DataFrame(
        {
            "gene": names,
            "pcc": pcc(t, p),
            "ssim": ssim(t, p),
            "rmse": rmse(t, p),
            "js": js(t, p),
        }
    )


def accuracy_score(
    metrics: pd.DataFrame,
    *,
    method_key: str = "method",
    by: Sequence[str] = (),
) -> pd.DataFrame:
    """Accuracy score (AS) of methods as in Li et al. 2022.

    For each group (e.g. dataset, scenario, LR vs non-LR) the mean of each metric over genes
    is taken per method; methods are ranked per metric (best = number of methods, ties get the
    average rank), ranks are divided by the number of methods and the four are averaged.

    Parameters
    ----------
    metrics
        Long table with ``method_key``, the ``by`` columns and ``pcc, ssim, rmse, js``
        (as returned by :func:`gene_metrics` with a method column added).
    method_key
        Column naming the method.
    by
        Columns defining groups ranked separately.

    Returns
    -------
    One row per group and method: the ``by`` columns, ``method_key``, the mean of each
    metric (``pcc, ssim, rmse, js``), their scaled ranks (``rank_pcc`` ...) and
    ``accuracy_score`` in ``(0, 1]`` (1 = best on all four).
    """
    missing = [c for c in (method_key, *by, *GENE_METRICS) if c not in metrics.columns]
    if missing:
        raise ValueError(f"metrics table lacks columns {missing}; pass gene_metrics() output")
    by = list(by)
    means = metrics.groupby([*by, method_key], observed=True)[list(GENE_METRICS)].mean()
    means = means.reset_index()
    groups = means.groupby(by, observed=True) if by else [((), means)]
    out = []
    for _, grp in groups:
        grp = grp.copy()
        n = len(grp)
        for m in GENE_METRICS:
            # NaN means (a method scored no gene) rank last, as Li et al. fill them with 0
            vals = grp[m].to_numpy(dtype=float)
            filled = np.where(np.isnan(vals), -np.inf if HIGHER_IS_BETTER[m] else np.inf, vals)
            key = filled if HIGHER_IS_BETTER[m] else -filled
            grp[f"rank_{m}"] = stats.rankdata(key, method="average") / n
        grp["accuracy_score"] = grp[[f"rank_{m}" for m in GENE_METRICS]].mean(axis=1)
        out.append(grp)
    return pd.concat(out, ignore_index=True)


def summarise_gene_metrics(
    table: pd.DataFrame,
    *,
    by: Sequence[str] = ("method", "scenario"),
    method_key: str = "method",
    lr_key: str = "is_lr",
) -> pd.DataFrame:
    """Summary rows of a per-gene metrics table, separately for LR and non-LR genes.

    Parameters
    ----------
    table
        Long table with the ``by`` columns, ``lr_key`` and ``pcc, ssim, rmse, js`` (e.g.
        :func:`commst.benchmark.heldout.run_heldout` output with a method column); an
        optional ``status`` column marks failed rows.
    by
        Columns identifying one run (must include ``method_key``; missing ones are ignored).
    method_key
        Column naming the method; the accuracy score ranks methods within each group of the
        other ``by`` columns and gene set.
    lr_key
        Boolean column: gene is an LR gene.

    Returns
    -------
    Long table ``by..., genes, metric, value`` with ``genes`` in ``{"LR", "non-LR"}`` and
    metrics ``median_pcc, median_ssim, median_rmse, median_js`` (NaN-aware medians over
    scored genes), ``accuracy_score``, ``n_genes`` and ``n_failed``.
    """
    by = [c for c in by if c in table.columns]
    if method_key not in by:
        raise ValueError(f"by must include the method column {method_key!r}")
    if lr_key not in table.columns:
        raise ValueError(f"table lacks the {lr_key!r} column flagging LR genes")
    tab = table.assign(genes=np.where(table[lr_key].astype(bool), "LR", "non-LR"))
    failed = tab["status"].ne("ok") if "status" in tab.columns else pd.Series(False, index=tab.index)
    keys = [*by, "genes"]
    grouped = tab.groupby(keys, observed=True)
    rows = grouped[list(GENE_METRICS)].median().add_prefix("median_")
    rows["n_genes"] = grouped.size()
    rows["n_failed"] = failed.groupby([tab[k] for k in keys], observed=True).sum()
    others = [k for k in keys if k != method_key]
    acc = accuracy_score(tab, method_key=method_key, by=others).set_index(keys)["accuracy_score"]
    rows["accuracy_score"] = acc
    return rows.reset_index().melt(id_vars=keys, var_name="metric", value_name="value")
