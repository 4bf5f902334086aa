"""The CommST model: a matched single-cell mixture blended with a PV-kNN mean, chosen per run.

No network and no deconvolution: every imputed value is a combination of specific single
reference cells matched to the spot.

- :mod:`._config`: :class:`CommSTConfig`, every setting and its default;
- :mod:`._space`: the SpaGE/PRECISE matching space, the reference thinned to spot depth;
- :mod:`._mixture`: each spot's matched cells per cell type and their weights (Poisson EM);
- :mod:`._weights`: optional input-gene weights of the likelihood (LR focus, PPI, NicheNet);
- :mod:`._select`: the per-run selection on masked spot input genes (the built-in held-out check);
- :mod:`._predictive`: expected log-normalised value, NB predictive, interval, P(0);
- :mod:`._model`: :func:`impute_commst`, the entry point.

The workflow's ``impute: method: commst`` is :func:`commst.tl.methods.commst.impute_commst`.
"""

from __future__ import annotations

from ._config import CommSTConfig
from ._model import impute_commst, quality_table
from ._predictive import expected_lognorm
from ._weights import lr_gene_weights, nichenet_gene_weights, ppi_gene_weights

__all__ = [
    "CommSTConfig",
    "expected_lognorm",
    "impute_commst",
    "lr_gene_weights",
    "nichenet_gene_weights",
    "ppi_gene_weights",
    "quality_table",
]
