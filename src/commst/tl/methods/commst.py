"""The ``commst`` method: the CommST model (:mod:`commst.model`), trained unless a model is given."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import anndata as ad

from ...model import CommSTConfig, TrainedCommST, impute_with_model, train
from .._types import ImputationResult

#: Keyword arguments of :func:`commst.model.train` that are not model settings.
_TRAIN_ONLY = ("ppi", "ligand_target", "checkpoint_dir", "progress")


def impute_commst(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    *,
    targets: Sequence[str],
    input_genes: Sequence[str],
    seed: int = 0,
    model: TrainedCommST | None = None,
    config: CommSTConfig | None = None,
    **params: Any,
) -> ImputationResult:
    """CommST imputation of LR target genes per spot (trains the model unless one is given).

    Parameters
    ----------
    spatial, reference
        Prepared AnnData objects (see :func:`commst.model.train`).
    targets
        LR target genes to impute. When ``model`` is given they must be among its targets.
    input_genes
        Input genes; must equal the model's when ``model`` is given.
    seed
        Random seed (overrides ``config.seed``).
    model
        A trained model (:func:`commst.model.train` / :meth:`TrainedCommST.load`); the
        workflow's rule ``train`` writes one.
    config
        Settings; ``params`` naming :class:`CommSTConfig` fields override it. ``params`` may
        also carry ``ppi``, ``ligand_target``, ``checkpoint_dir`` and ``progress`` for training.

    Returns
    -------
    :class:`~commst.tl._types.ImputationResult` (see :func:`commst.model.impute_with_model`).
    """
    train_kwargs = {k: params.pop(k) for k in _TRAIN_ONLY if k in params}
    if model is None:
        config = (config or CommSTConfig()).replace(seed=seed, **params)
        model = train(spatial, reference, targets=targets, input_genes=input_genes, config=config, **train_kwargs)
    else:
        if list(input_genes) != model.input_genes:
            raise ValueError(
                "input_genes differ from those the model was trained on; impute with the model's "
                "input genes (model.input_genes) or retrain"
            )
        if params:  # imputation-time settings (guard, blend, k_neighbours ...) on a copy
            model = dataclasses.replace(model, config=model.config.replace(**params))
    return impute_with_model(model, spatial, reference, targets=targets)
