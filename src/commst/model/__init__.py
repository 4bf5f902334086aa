"""The CommST model: LR-focused, reference-guided, prior-regularised imputation.

Laid out by role, as scvi-tools lays out its models:

- :mod:`._config`: :class:`CommSTConfig`, every setting and ablation switch, and the device;
- :mod:`._data`: the matrices, the validation split, epoch draws and encoder inputs shared by
  training and imputation;
- :mod:`._module`: the network and its ``loss(batch)``;
- :mod:`._training_plan`: optimiser, steps, validation, early stopping, checkpoints;
- :mod:`._neighbours`: kNN and mutual nearest neighbours in latent space;
- :mod:`._penalties`: the priors (PPI graph, ligand→target matrix) as loss terms, built from
  the workflow's prior artefacts by :func:`model_priors`;
- :mod:`._model`: :func:`train` and the trained model, :class:`TrainedCommST` (``save``,
  ``load``, ``impute``).

The workflow's method ``impute: method: commst`` is :func:`commst.tl.methods.commst.impute_commst`.
"""

from __future__ import annotations

from ._config import CommSTConfig, resolve_device
from ._model import TrainedCommST, impute_with_model, train
from ._penalties import model_priors
from ._plot import plot_history

__all__ = [
    "CommSTConfig",
    "TrainedCommST",
    "impute_commst",
    "impute_with_model",
    "model_priors",
    "plot_history",
    "resolve_device",
    "train",
]


def __getattr__(name: str):
    # the method adapter lives with the other methods; kept reachable here
    if name == "impute_commst":
        from ..tl.methods.commst import impute_commst

        return impute_commst
    raise AttributeError(f"module 'commst.model' has no attribute {name!r}")
