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
from importlib import import_module

from commst.tl import ImputationResult

BASELINES: dict[str, str] = {
    "raw": "commst.benchmark.methods.raw:impute_raw",
    "knn": "commst.tl._knn:impute_knn",
    "spage": "commst.benchmark.methods.spage:impute_spage",
    "tangram": "commst.benchmark.methods.tangram:impute_tangram",
    "gimvi": "commst.benchmark.methods.gimvi:impute_gimvi",
    "hvg_ae": "commst.benchmark.methods.hvg_ae:impute_hvg_ae",
}
"""Baseline name → ``"module:function"``."""


def get_baseline(name: str) -> Callable[..., ImputationResult]:
    """The imputation function of baseline ``name`` (see :data:`BASELINES`).

    Parameters
    ----------
    name
        One of :data:`BASELINES`; other names (``commst`` and its ablations) are looked up
        in :func:`commst.tl.get_method`.

    Returns
    -------
    The function ``impute_<name>``.
    """
    if name not in BASELINES:
        from commst.tl import get_method

        try:
            return get_method(name)
        except ValueError:
            raise ValueError(
                f"unknown method {name!r}; baselines are {sorted(BASELINES)}, "
                "other methods come from commst.tl.METHODS"
            ) from None
    module, func = BASELINES[name].split(":")
    return getattr(import_module(module), func)


__all__ = ["BASELINES", "get_baseline"]
