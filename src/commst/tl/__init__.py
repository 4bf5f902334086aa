"""Imputation methods and the output builder.

Every method has the signature
``impute_<name>(spatial, reference, *, targets, input_genes, seed=0, **params) -> ImputationResult``
and is registered in :mod:`commst.tl.methods` (:data:`~commst.tl.methods.REGISTRY`), one
module and one :class:`~commst.tl.methods.MethodMeta` entry per method; :func:`get_method`
looks one up by name. :func:`impute` runs the whole chain (validation, preprocessing, the method,
the output) on two AnnData objects in one call.

Names are imported on first use (``commst.tl.impute_knn`` loads scikit-learn then), so that
reading the registry, as the workflow does when it starts, loads no method and no library.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .methods import BASELINES, METHODS, REGISTRY, MethodMeta, get_meta, get_method

_LAZY = {
    "ImputationResult": "commst.tl._types",
    "build_imputed": "commst.tl._output",
    "compare_methods": "commst.tl._compare",
    "per_gene_agreement": "commst.tl._compare",
    "heldout_check": "commst.tl._heldout",
    "with_heldout_check": "commst.tl._heldout",
    "DEFAULT_HELDOUT_ROUNDS": "commst.tl._heldout",
    "impute": "commst.tl._impute",
    "per_gene_quality": "commst.tl._quality",
    "quality_summary": "commst.tl._quality",
    "write_into": "commst.tl._impute",
    "DEFAULT_METHOD": "commst.tl._impute",
    "log_selection": "commst.tl._selection",
    "method_info": "commst.tl._selection",
    "selection_reasons": "commst.tl._selection",
    "selection_table": "commst.tl._selection",
    "impute_knn": "commst.tl.methods.knn",
    "shared_embedding": "commst.tl.methods.knn",
    "UNCERTAINTY_UNIT": "commst.tl._uncertainty",
    "fill_missing": "commst.tl._uncertainty",
    "log_scale_sd": "commst.tl._uncertainty",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'commst.tl' has no attribute {name!r}")


__all__ = [
    "BASELINES",
    "DEFAULT_HELDOUT_ROUNDS",
    "DEFAULT_METHOD",
    "METHODS",
    "REGISTRY",
    "ImputationResult",
    "MethodMeta",
    "UNCERTAINTY_UNIT",
    "build_imputed",
    "compare_methods",
    "fill_missing",
    "get_meta",
    "get_method",
    "heldout_check",
    "impute",
    "impute_knn",
    "log_scale_sd",
    "per_gene_agreement",
    "per_gene_quality",
    "log_selection",
    "method_info",
    "quality_summary",
    "selection_reasons",
    "selection_table",
    "shared_embedding",
    "with_heldout_check",
    "write_into",
]
