"""Imputation methods and the output builder.

Every method has the signature
``impute_<name>(spatial, reference, *, targets, input_genes, seed=0, **params) -> ImputationResult``
and is reachable by name through :func:`get_method`.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from ._knn import impute_knn, shared_embedding
from ._output import build_imputed
from ._types import ImputationResult
from ._uncertainty import UNCERTAINTY_UNIT, fill_missing, log_scale_sd

#: Method name → "module:function" (imported on first use, so heavy dependencies such as
#: torch, tangram or scvi-tools load only when that method runs). The one registry of
#: imputation methods: the workflow and the benchmark both look methods up here.
METHODS: dict[str, str] = {
    "knn": "commst.tl._knn:impute_knn",
    "commst": "commst.model:impute_commst",
    "raw": "commst.benchmark.methods.raw:impute_raw",
    "spage": "commst.benchmark.methods.spage:impute_spage",
    "tangram": "commst.benchmark.methods.tangram:impute_tangram",
    "gimvi": "commst.benchmark.methods.gimvi:impute_gimvi",
    "hvg_ae": "commst.benchmark.methods.hvg_ae:impute_hvg_ae",
}


def get_method(name: str) -> Callable[..., ImputationResult]:
    """The imputation function registered as ``name``."""
    try:
        module, func = METHODS[name].split(":")
    except KeyError:
        raise ValueError(f"unknown imputation method {name!r}; choose one of {sorted(METHODS)}") from None
    return getattr(import_module(module), func)


__all__ = [
    "METHODS",
    "UNCERTAINTY_UNIT",
    "ImputationResult",
    "build_imputed",
    "fill_missing",
    "get_method",
    "impute_knn",
    "log_scale_sd",
    "shared_embedding",
]
