"""Build the imputed AnnData of the output contract from an :class:`ImputationResult`."""

from __future__ import annotations

import json
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._constants import Keys
from .._utils import package_versions
from ..pp import get_gene_sets, library_size, lognorm, target_sum_of
from ._types import ImputationResult
from ._uncertainty import UNCERTAINTY_UNIT, log_scale_sd


def build_imputed(
    spatial: ad.AnnData,
    result: ImputationResult,
    *,
    method: str,
    params: dict[str, Any] | None = None,
    resources: dict[str, Any] | None = None,
    target_sum: float | None = None,
) -> ad.AnnData:
    """Assemble the imputed spots × LR-targets AnnData.

    Parameters
    ----------
    spatial
        The prepared spatial data the method imputed (``layers['counts']``,
        ``obs['total_counts']``, ``var`` flags from :func:`commst.pp.prepare`).
    result
        The method's output.
    method
        Method name, recorded in ``uns['commst']``.
    params
        Method and workflow parameters, recorded as JSON in ``uns['commst']['config']``.
    resources
        Resources used (LR database name, prior files and checksums), recorded as JSON.
    target_sum
        Library size of the log-normalisation (default: the one preprocess used,
        :func:`commst.pp.target_sum_of`).

    Returns
    -------
    AnnData with spatial ``obs``/``obsm``; ``X`` = ``log1p(imputed_counts / library_size *
    target_sum)`` (dense float32); ``layers['imputed_counts']``; ``layers['observed']`` =
    the spatial data's log-normalised value where it measured the gene, else 0;
    ``layers['uncertainty']`` (the standard deviation of ``X``, from the result's count-scale
    one by the delta method, :func:`log_scale_sd`) and ``layers['guarded']`` when the result
    has them;
    ``obs['matched_cell_type']`` (a label: the dominant cell type of the matched reference
    cells, not a deconvolution); ``var`` flags ``is_ligand``, ``is_receptor``,
    ``measured_in_spatial``; ``uns['commst']`` with ``method``, ``config``, ``versions``,
    ``resources``, ``uncertainty_source`` (``"method"``, ``"knn"`` when
    :func:`fill_missing` supplied it, or ``"none"``) and ``uncertainty_unit``.
    """
    targets = result.targets
    if target_sum is None:
        target_sum = target_sum_of(spatial)
    library = library_size(spatial)
    X = lognorm(result.counts, library, target_sum=target_sum).astype(np.float32)

    genes = get_gene_sets(spatial)
    var = pd.DataFrame(index=pd.Index(targets, name=None))
    var[Keys.var.is_ligand] = var.index.isin(genes.ligands)
    var[Keys.var.is_receptor] = var.index.isin(genes.receptors)
    measured = var.index.isin(spatial.var_names)
    var[Keys.var.measured_in_spatial] = measured

    observed = np.zeros_like(X)
    if measured.any():
        cols = np.flatnonzero(measured)
        sub = spatial[:, var.index[measured]].X
        observed[:, cols] = sub.toarray() if sp.issparse(sub) else np.asarray(sub)

    out = ad.AnnData(X=X, obs=spatial.obs.copy(), var=var, obsm={k: v.copy() for k, v in spatial.obsm.items()})
    out.layers[Keys.layers.imputed_counts] = result.counts.astype(np.float32)
    out.layers[Keys.layers.observed] = observed.astype(np.float32)
    if result.uncertainty is not None:
        out.layers[Keys.layers.uncertainty] = log_scale_sd(
            result.counts, result.uncertainty, library, target_sum=target_sum
        )
    if result.guard is not None:
        out.layers[Keys.layers.guarded] = np.asarray(result.guard, dtype=np.uint8)
    for name, layer in result.layers.items():
        out.layers[name] = np.asarray(layer, dtype=np.float32)
    for name, values in result.var.items():
        out.var[name] = np.asarray(values, dtype=np.float64)
    if result.labels is not None:
        out.obs[Keys.obs.matched_cell_type] = pd.Categorical(result.labels.reindex(out.obs_names).astype(str))
    if Keys.uns.spatial in spatial.uns:
        out.uns[Keys.uns.spatial] = spatial.uns[Keys.uns.spatial]
    out.uns[Keys.uns.commst] = {
        "method": method,
        "config": json.dumps(params or {}, sort_keys=True, default=str),
        "method_info": json.dumps(result.extra, sort_keys=True, default=str),
        "versions": package_versions(),
        "resources": json.dumps(resources or {}, sort_keys=True, default=str),
        "n_input_genes": len(genes.input),
        "uncertainty_source": result.extra.get("uncertainty_source", "method")
        if result.uncertainty is not None
        else "none",
        "uncertainty_unit": UNCERTAINTY_UNIT,
        "labels_source": result.extra.get("labels_source", "method") if result.labels is not None else "none",
    }
    return out
