"""``typemix``: a cell-type deconvolution peer, for the benchmark only (not the product).

The research design of issue 16 (``/work/lab16``): each spot's weights over the reference cell
types are fitted to its input-gene counts by Poisson EM, and a target's prediction is those
weights times the *pooled cell-type profiles* (type averages), blended with the PV-kNN mean and
chosen per run exactly as CommST is. It is CommST's machinery with every type's matched cells =
all of its cells, so the comparison measures the cost of CommST's constraint (single-spot
signal, single-cell neighbours; no type averages). CommST itself never outputs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anndata as ad

from commst._constants import Keys
from commst.model import CommSTConfig, impute_commst
from commst.tl import ImputationResult


def impute_typemix(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    *,
    targets: Sequence[str],
    input_genes: Sequence[str],
    seed: int = 0,
    **params: Any,
) -> ImputationResult:
    """Type-average deconvolution blended with the PV-kNN mean (see the module docstring).

    ``params`` are :class:`commst.model.CommSTConfig` fields except ``k_withins``, which is the
    largest cell type's size (every cell of a type is "matched").
    """
    k_all = int(reference.obs[Keys.obs.cell_type].value_counts().max())
    base = CommSTConfig().replace(**params)
    a, b, _ = base.default
    cfg = base.replace(k_withins=[k_all], default=[a, b, k_all], neighbourhood="per_type", max_type_share=1.0)
    result = impute_commst(spatial, reference, targets=targets, input_genes=input_genes, seed=seed, config=cfg)
    result.extra["reference_point"] = "typemix: cell-type deconvolution peer (benchmark only)"
    return result
