"""Moran's I of measured LR genes, observed (raw and noise-corrected) against imputed.

:func:`moran_inflation` says when imputation made a gene more spatially structured than its
measurement supports: the imputed Moran's I (squidpy ``spatial_autocorr``) against the observed
one corrected for sampling noise by binomial split-halves (:func:`split_half_moran`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._constants import Keys
from ..pp import DEFAULT_TARGET_SUM, target_sum_of
from ._diagnostics import measured_genes
from ._significance import _dense, statistic_weights, unit_z

#: Moran's I margin of the inflation rule (:func:`moran_inflation`).
INFLATION_MARGIN = 0.1
#: Binomial split-halves of the noise-corrected Moran's I.
N_SPLITS = 5


def _moran(z: np.ndarray, weights: sp.csr_matrix) -> np.ndarray:
    """Moran's I of unit-norm columns ``z`` with weights summing to the number of spots."""
    return (z * np.asarray(weights @ z)).sum(axis=0)


def split_half_moran(
    counts: np.ndarray,
    library: np.ndarray,
    weights: sp.csr_matrix,
    *,
    n_splits: int = N_SPLITS,
    target_sum: float = DEFAULT_TARGET_SUM,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Noise-corrected Moran's I of count data from binomial split-halves.

    Each molecule goes to half A or half B with probability 1/2, so the halves carry
    independent sampling noise: their cross-Moran ``I(A, B)`` keeps only the signal's spatial
    covariance, their correlation ``corr(A, B)`` only the signal's share of the variance, and
    ``I(A, B) / corr(A, B)`` estimates the Moran's I the gene would have without sampling
    noise. A split whose halves correlate below 0.05 gives no estimate (no signal to correct);
    a gene with estimates from fewer than half of the splits gets NaN.

    Parameters
    ----------
    counts
        Spots × genes raw counts.
    library
        Each spot's library (total counts over all its genes); each half is log-normalised by
        half of it, as ``X`` is by the whole.
    weights
        Moran weights (summing to the number of spots).
    n_splits
        Random splits; the estimate is their mean.
    target_sum
        Library size of the log-normalisation.
    seed
        Seed of the splits.

    Returns
    -------
    ``(mean, sd)`` over the splits, per gene.
    """
    rng = np.random.default_rng(seed)
    counts = np.round(np.asarray(counts, dtype=np.float64))
    library = np.asarray(library, dtype=np.float64).ravel()
    scale = np.divide(target_sum, library / 2, out=np.zeros_like(library), where=library > 0)[:, None]
    estimates = []
    for _ in range(n_splits):
        a = rng.binomial(counts.astype(np.int64), 0.5).astype(np.float64)
        b = counts - a
        za, zb = unit_z(np.log1p(a * scale)), unit_z(np.log1p(b * scale))
        cross = 0.5 * ((za * np.asarray(weights @ zb)).sum(0) + (zb * np.asarray(weights @ za)).sum(0))
        corr = (za * zb).sum(0)
        estimates.append(np.divide(cross, corr, out=np.full_like(corr, np.nan), where=corr > 0.05))
    est = np.array(estimates)
    with np.errstate(all="ignore"):
        # a gene whose halves rarely correlate is too sparse for the correction: one lucky split is no estimate
        valid = np.isfinite(est).sum(axis=0) >= max(1, math.ceil(n_splits / 2))
        mean = np.full(est.shape[1], np.nan)
        sd = np.full(est.shape[1], np.nan)
        mean[valid] = np.nanmean(est[:, valid], axis=0)
        sd[valid] = np.nanstd(est[:, valid], axis=0)
    return mean, sd


def squidpy_moran(
    adata: ad.AnnData, genes: Sequence[str], *, connectivity_key: str = Keys.obsp.spatial_connectivities
) -> np.ndarray:
    """Moran's I of ``genes`` in ``X`` with squidpy over the graph in ``obsp`` (no row normalisation)."""
    import squidpy as sq

    table = sq.gr.spatial_autocorr(
        adata,
        connectivity_key=connectivity_key,
        genes=list(genes),
        mode="moran",
        transformation=False,
        n_perms=None,
        copy=True,
        show_progress_bar=False,
    )
    return table["I"].reindex(list(genes)).to_numpy(dtype=float)


def moran_inflation(
    measured: ad.AnnData,
    imputed: ad.AnnData,
    genes: Sequence[str] | None = None,
    *,
    margin: float = INFLATION_MARGIN,
    n_splits: int = N_SPLITS,
    connectivity_key: str = Keys.obsp.spatial_connectivities,
    seed: int = 0,
) -> pd.DataFrame:
    """Moran's I of measured LR genes: observed, noise-corrected observed and imputed.

    Rule: a gene is ``inflated`` when its imputed Moran's I exceeds the noise-corrected
    observed one by more than ``max(margin, 2 sd)`` (sd over the split-halves,
    :func:`split_half_moran`); the bound is never below the observed I plus ``margin``, which
    is also the bound where the correction is undefined (too few informative splits). The
    noise-corrected value is what the measurement supports once sampling noise is removed, the
    most an honest denoiser can reach; an imputed value above it is spatial structure the
    imputation put there (e.g. cell-type layout copied from the reference).

    Parameters
    ----------
    measured
        The data as measured on the imputed spots (:func:`measured_view`): log-normalised
        ``X``, raw ``layers['counts']``, the spatial graph in ``obsp[connectivity_key]``.
    imputed
        The imputed data on the same spots, with the same graph.
    genes
        Genes to check; default the imputed genes the spatial data measured
        (``var['measured_in_spatial']``) and expressed in at least two spots.
    margin, n_splits, seed
        Rule margin, split-halves and their seed.
    connectivity_key
        ``obsp`` key of the spatial graph (of both objects).

    Returns
    -------
    One row per gene: ``gene``, ``moran_observed`` and ``moran_imputed`` (squidpy
    ``spatial_autocorr``), ``moran_observed_denoised``, ``moran_observed_denoised_sd``,
    ``bound`` and ``inflated``.
    """
    columns = [
        "gene",
        "moran_observed",
        "moran_observed_denoised",
        "moran_observed_denoised_sd",
        "moran_imputed",
        "bound",
        "inflated",
    ]
    if genes is None:
        genes = [g for g in measured_genes(imputed) if g in measured.var_names]
    genes = [str(g) for g in genes]
    if genes:
        detected = (_dense(measured[:, genes].X) > 0).sum(axis=0)
        genes = [g for g, n in zip(genes, detected) if n >= 2]
    if not genes:
        return pd.DataFrame(columns=columns)
    sub_measured = measured[:, genes].copy()
    sub_imputed = imputed[:, genes].copy()
    observed = squidpy_moran(sub_measured, genes, connectivity_key=connectivity_key)
    imputed_i = squidpy_moran(sub_imputed, genes, connectivity_key=connectivity_key)
    weights, _ = statistic_weights(measured.obsp[connectivity_key], "morans")
    if Keys.layers.counts not in measured.layers:
        raise ValueError("the measured data need raw counts in layers['counts'] for the split-half correction")
    counts = _dense(sub_measured.layers[Keys.layers.counts])
    if Keys.obs.total_counts in measured.obs:  # the library X was normalised by (all genes, not only these)
        library = measured.obs[Keys.obs.total_counts].to_numpy(dtype=np.float64)
    else:
        library = np.asarray(measured.layers[Keys.layers.counts].sum(axis=1), dtype=np.float64).ravel()
    denoised, spread = split_half_moran(
        counts, library, weights, n_splits=n_splits, target_sum=target_sum_of(measured), seed=seed
    )
    table = pd.DataFrame(
        {
            "gene": genes,
            "moran_observed": observed,
            "moran_observed_denoised": denoised,
            "moran_observed_denoised_sd": spread,
            "moran_imputed": imputed_i,
        }
    )
    # the corrected I can only raise the bound: a split-half ratio below the observed I is noise
    # (sampling noise shrinks I towards 0), so the observed I + margin is the floor
    bound = table["moran_observed_denoised"] + np.maximum(margin, 2 * table["moran_observed_denoised_sd"])
    table["bound"] = np.fmax(bound, table["moran_observed"] + margin)
    table["inflated"] = table["moran_imputed"] > table["bound"]
    return table[columns]
