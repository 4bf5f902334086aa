"""A configured benchmark method: :class:`MethodSpec` and :func:`resolve_method`.

A name in ``benchmark: methods:`` is a registered method (:mod:`commst.tl.methods`), a variant
of one with changed settings (the CommST ablations) or a test-only ``module:function``; this
module turns it into the imputation function and its keyword arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from commst.tl.methods import get_meta, import_target


@dataclass
class MethodSpec:
    """A configured benchmark method: the imputation function and its keyword arguments."""

    name: str
    func: Callable[..., Any]
    params: dict[str, Any] = field(default_factory=dict)
    base: str = ""


def _with_priors(
    func: Callable[..., Any],
    species: str,
    lr: pd.DataFrame | None,
    ppi_path: str | None,
    ligand_target_path: str | None,
) -> Callable[..., Any]:
    """A trained method (CommST) that builds its priors for each call's targets (:func:`commst.model.model_priors`)."""

    def impute_with_priors(spatial, reference, *, targets, input_genes, seed=0, **params):
        from commst.model import CommSTConfig, model_priors

        config = CommSTConfig().replace(**{k: v for k, v in params.items() if k in CommSTConfig.__dataclass_fields__})
        priors = model_priors(
            targets,
            input_genes,
            config=config,
            species=species,
            lr=lr,
            ppi_path=ppi_path,
            ligand_target_path=ligand_target_path,
        )
        params = {**params, **priors}
        params.setdefault("progress", False)
        return func(spatial, reference, targets=targets, input_genes=input_genes, seed=seed, **params)

    return impute_with_priors


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
        A registered method (:data:`commst.tl.methods.REGISTRY`: the baselines and ``commst``),
        a variant (``variants[name]``) or a test-only method (``extra_methods[name]``).
    variants
        Name → ``{"method": base name, "params": {...}}``: e.g. CommST ablations
        (``commst_no_priors: {method: commst, params: {w_ppi: 0, w_nichenet: 0}}``).
    params
        Method name → keyword arguments (config ``benchmark.params``); a variant gets its
        base's params updated with its own.
    extra_methods
        Name → ``"module:function"`` with the common imputation signature.
    model
        CommST settings (config ``model:``), the base of a trained method (``commst``) and its
        variants.
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
        return MethodSpec(name, import_target(extra_methods[base]), own, base)
    meta = get_meta(base)
    if meta.trained:  # trained inside each call, from the model: settings, with its priors
        settings = {**dict(model or {}), **own}
        if threads and settings.get("num_threads") is None:
            settings["num_threads"] = int(threads)
        func = _with_priors(meta.function(), species, lr, ppi_path, ligand_target_path)
        return MethodSpec(name, func, settings, base)
    return MethodSpec(name, meta.function(), own, base)
