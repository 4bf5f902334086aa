"""One uncertainty convention for every imputation method, and kNN fallbacks.

Convention: :attr:`ImputationResult.uncertainty` is the standard deviation of ``counts`` (expected
counts at the spot's depth); ``layers['uncertainty']`` of the imputed output is the standard
deviation of ``X``, the log-normalised value ``log1p(counts / library × target_sum)``, obtained
by the delta method (:func:`log_scale_sd`). The CCC test redraws ``X`` with it
(:mod:`commst.ccc`), so it has to be on the scale of ``X`` for every method.

A method that reports no uncertainty (SpaGE, Tangram, gimVI, the HVG autoencoder) or no spot
labels gets those of the kNN method (:func:`fill_missing`): the spread of each spot's ``k``
nearest reference cells in a shared PCA space of the input genes, and their most frequent cell
type. It is the same yardstick for every method, chosen because it made the CCC test's decoy
rate after imputation match the truth's for all of them (README, "Calibrated communication").
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import anndata as ad
import numpy as np

from ..pp import DEFAULT_TARGET_SUM
from ._types import ImputationResult

logger = logging.getLogger(__name__)

#: What ``layers['uncertainty']`` holds (recorded in ``uns['commst']['uncertainty_unit']``).
UNCERTAINTY_UNIT = "sd of X = log1p(imputed_counts / library size * target_sum) (delta method)"


def log_scale_sd(
    counts: np.ndarray, sd: np.ndarray, library: np.ndarray, *, target_sum: float = DEFAULT_TARGET_SUM
) -> np.ndarray:
    """Standard deviation of ``log1p(counts / library × target_sum)`` from that of ``counts``.

    Delta method: ``d log1p(c s) / dc = s / (1 + c s)`` with ``s = target_sum / library``, so
    ``sd_X = sd_counts · s / (1 + counts · s)``. Spots with an empty library get 0.

    Parameters
    ----------
    counts
        Spots × genes expected counts.
    sd
        Their standard deviation (same shape and units).
    library
        One library size per spot (the one ``X`` is normalised by).
    target_sum
        Library size of the log-normalisation.

    Returns
    -------
    float32 array of ``counts``' shape.
    """
    library = np.asarray(library, dtype=np.float64).ravel()
    s = np.divide(target_sum, library, out=np.zeros_like(library), where=library > 0)[:, None]
    counts = np.asarray(counts, dtype=np.float64)
    return (np.asarray(sd, dtype=np.float64) * s / (1.0 + counts * s)).astype(np.float32)


def fill_missing(
    result: ImputationResult,
    spatial: ad.AnnData,
    reference: ad.AnnData,
    *,
    input_genes: Sequence[str],
    seed: int = 0,
    knn_params: dict[str, Any] | None = None,
) -> ImputationResult:
    """Give a result that lacks them the kNN method's uncertainty and spot labels.

    Parameters
    ----------
    result
        A method's output.
    spatial, reference
        The data the method imputed from (prepared; reference ``obs['cell_type']``).
    input_genes
        Genes that match spots to reference cells.
    seed
        Seed of the kNN embedding.
    knn_params
        Keyword arguments of :func:`commst.tl.impute_knn` (``k``, ``n_pcs``).

    Returns
    -------
    A copy of ``result`` whose ``uncertainty`` (standard deviation of the ``k`` nearest
    reference cells' estimates, count units) and ``labels`` (their most frequent cell type)
    come from :func:`commst.tl.impute_knn` where ``result`` had none;
    ``extra['uncertainty_source']`` and ``extra['labels_source']`` say which (``"method"`` or
    ``"knn"``). ``result`` itself when it has both.
    """
    sources = {
        "uncertainty_source": "method" if result.uncertainty is not None else "knn",
        "labels_source": "method" if result.labels is not None else "knn",
    }
    if result.uncertainty is not None and result.labels is not None:
        return dataclasses.replace(result, extra={**result.extra, **sources})
    from .methods.knn import impute_knn

    knn = impute_knn(
        spatial, reference, targets=result.targets, input_genes=list(input_genes), seed=seed, **(knn_params or {})
    )
    logger.info(
        "%s from the kNN neighbours (the method gives none)",
        " and ".join(k.split("_")[0] for k, v in sources.items() if v == "knn"),
    )
    return dataclasses.replace(
        result,
        uncertainty=result.uncertainty if result.uncertainty is not None else knn.uncertainty,
        labels=result.labels if result.labels is not None else knn.labels,
        extra={**result.extra, **sources},
    )
