"""The CommST model: LR-focused, reference-guided, prior-regularised imputation.

:class:`CommSTConfig` holds every setting; :func:`train` fits the model (checkpoints,
resume, early stopping); :func:`impute_commst` is the imputation method of the workflow
(``impute: method: commst``) and returns a :class:`commst.tl._types.ImputationResult`.
"""

from __future__ import annotations

from ._config import CommSTConfig
from ._impute import impute_commst, impute_with_model
from ._plot import plot_history
from ._train import TrainedCommST, resolve_device, train

__all__ = ["CommSTConfig", "TrainedCommST", "impute_commst", "impute_with_model", "plot_history", "resolve_device", "train"]
