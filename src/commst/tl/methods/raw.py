"""The ``raw`` baseline: no imputation."""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import numpy as np

from ...pp import counts_matrix
from .._types import ImputationResult


def impute_raw(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    *,
    targets: Sequence[str],
    input_genes: Sequence[str],
    seed: int = 0,
) -> ImputationResult:
    """No imputation: the observed counts where the spatial data measured a gene, else 0.

    Parameters
    ----------
    spatial
        Spots x genes with raw counts in ``layers['counts']`` (or ``X``).
    reference
        Unused (kept for the common signature).
    targets
        Genes to report.
    input_genes, seed
        Unused (kept for the common signature).

    Returns
    -------
    :class:`commst.tl.ImputationResult` with ``counts`` = observed counts (zeros for
    unmeasured targets), ``uncertainty`` = 0 (observations, not estimates: the CCC test does not
    redraw them, so the unimputed data get the test measured data get) and
    ``extra['measured']`` = the targets the spatial data measured.
    """
    targets = [str(g) for g in targets]
    measured = [g for g in targets if g in spatial.var_names]
    counts = np.zeros((spatial.n_obs, len(targets)), dtype=np.float32)
    if measured:
        cols = [targets.index(g) for g in measured]
        counts[:, cols] = counts_matrix(spatial[:, measured]).toarray()
    return ImputationResult(
        counts=counts, targets=targets, uncertainty=np.zeros_like(counts), extra={"measured": measured}
    )
