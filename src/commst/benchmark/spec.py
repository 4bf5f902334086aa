"""A configured benchmark method: :class:`MethodSpec` and :func:`resolve_method`.

A name in ``benchmark: methods:`` is a registered method (:mod:`commst.tl.methods`), a variant
of one with changed settings (the CommST ablations) or a test-only ``module:function``; this
module turns it into the imputation function and its keyword arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from commst.tl.methods import get_meta, import_target


@dataclass
class MethodSpec:
    """A configured benchmark method: the imputation function and its keyword arguments."""

    name: str
    func: Callable[..., Any]
    params: dict[str, Any] = field(default_factory=dict)
    base: str = ""


def resolve_method(
    name: str,
    *,
    variants: Mapping[str, Mapping[str, Any]] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    extra_methods: Mapping[str, str] | None = None,
    model: Mapping[str, Any] | None = None,
) -> MethodSpec:
    """The imputation function and keyword arguments of a configured benchmark method.

    Parameters
    ----------
    name
        A registered method (:data:`commst.tl.methods.REGISTRY`: the baselines and ``commst``),
        a variant (``variants[name]``) or a test-only method (``extra_methods[name]``).
    variants
        Name → ``{"method": base name, "params": {...}}``: e.g. CommST ablations
        (``commst_knn_only: {method: commst, params: {betas: [0.0], default: [0.0, 0.0, 40]}}``).
    params
        Method name → keyword arguments (config ``benchmark.params``); a variant gets its
        base's params updated with its own.
    extra_methods
        Name → ``"module:function"`` with the common imputation signature.
    model
        Settings of a method kept in its own config section (commst's ``model:``), under
        ``params``; used for ``commst`` and its variants.

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
        return MethodSpec(name, import_target(extra_methods[base]), own, base)
    meta = get_meta(base)
    if not meta.config_section.startswith("impute."):  # commst: the model: section, then benchmark params
        own = {**dict(model or {}), **own}
    return MethodSpec(name, meta.function(), own, base)
