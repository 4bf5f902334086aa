"""Baseline imputation methods, each with the common imputation signature.

``impute_<name>(spatial, reference, *, targets, input_genes, seed=0, **params) -> ImputationResult``

========== =====================================================================
``raw``     no imputation (observed counts, 0 where the gene was not measured)
``knn``     :func:`commst.tl.impute_knn` (mean of k nearest reference cells)
``spage``   SpaGE: PRECISE domain adaptation + weighted kNN (own implementation)
``tangram`` Tangram, cells mode (tangram-sc)
``gimvi``   gimVI (scvi-tools)
``hvg_ae``  generic denoising autoencoder over highly variable genes (torch)
========== =====================================================================

Modules are imported on first use (:func:`get_baseline`), so tangram and scvi-tools load
only when their method runs.
"""

from __future__ import annotations

from collections.abc import Callable

from commst.tl import METHODS, ImputationResult, get_method

#: Names of the baseline methods (their functions are registered in :data:`commst.tl.METHODS`).
BASELINES: tuple[str, ...] = ("raw", "knn", "spage", "tangram", "gimvi", "hvg_ae")


def get_baseline(name: str) -> Callable[..., ImputationResult]:
    """The imputation function registered as ``name`` in :data:`commst.tl.METHODS`.

    Parameters
    ----------
    name
        A baseline (:data:`BASELINES`), ``commst``, or any other registered method.

    Returns
    -------
    The function ``impute_<name>``.
    """
    try:
        return get_method(name)
    except ValueError:
        raise ValueError(f"unknown method {name!r}; baselines are {sorted(BASELINES)}, all methods {sorted(METHODS)}") from None


__all__ = ["BASELINES", "get_baseline"]
