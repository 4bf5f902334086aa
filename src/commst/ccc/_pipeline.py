"""The workflow's spatial communication steps, with the ``ccc:`` options of the config.

- :func:`measured_communication` (rule ``ccc_measured``): the bivariate test on the spatial
  data as measured, over the LR pairs of the imputed genes it has, and the Moran's I inflation
  check of the measured LR genes.
- :func:`imputed_communication` (rule ``ccc_spatial``): the bivariate test on the imputed
  spots, each pair's driver status and its measured-data comparison, and LIANA's local scores.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from .._constants import Keys, subunits
from ._bivariate import empty_bivariate_table, spatial_bivariate, spatial_graph
from ._diagnostics import compare_measured, driver_status, measured_genes, measured_view
from ._liana import usable_pairs
from ._moran import INFLATION_MARGIN, moran_inflation

logger = logging.getLogger(__name__)

#: Label column of imputed spots (the dominant cell type of their matched reference cells).
LABELS_KEY = Keys.obs.matched_cell_type


def _bivariate(
    adata: ad.AnnData,
    resource: pd.DataFrame,
    options: Mapping[str, Any],
    *,
    uncertainty_layer: str | None,
    seed: int,
    sample: str | None,
    path: str | None,
    step: str,
) -> tuple[ad.AnnData | None, pd.DataFrame]:
    return spatial_bivariate(
        adata,
        resource,
        bandwidth=options["bandwidth"],
        cutoff=options["cutoff"],
        local_name=options["local_metric"],
        global_name=options["global_metric"],
        null=options["null_model"],
        n_perms=options["n_perms"],
        n_draws=options["n_draws"],
        fdr=options["fdr"],
        labels_key=LABELS_KEY,
        uncertainty_layer=uncertainty_layer,
        seed=seed,
        sample=sample,
        path=path,
        step=step,
    )


def measured_communication(
    spatial: ad.AnnData,
    imputed: ad.AnnData,
    resource: pd.DataFrame,
    options: Mapping[str, Any],
    *,
    seed: int = 0,
    sample: str | None = None,
    path: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The bivariate test on the data as measured and the Moran's I inflation check.

    Parameters
    ----------
    spatial
        Prepared spatial data (log-normalised ``X`` over all measured genes, raw
        ``layers['counts']``).
    imputed
        The imputed output of the same spots (its ``obs['matched_cell_type']`` labels the
        measured spots too: same spots, no second label transfer).
    resource
        LR table.
    options
        ``ccc:`` options ``bandwidth``, ``cutoff``, ``local_metric``, ``global_metric``, ``null_model``,
        ``n_perms``, ``n_draws``, ``fdr`` (defaults in the config schema).
    seed, sample, path
        Seed of the test; named in warnings and errors.

    Returns
    -------
    ``(bivariate_measured, moran)``: the bivariate table (:func:`spatial_bivariate`; the LR
    pairs whose genes are all imputed targets and all measured; measured values are not
    redrawn, so the draw nulls reduce to their permutation) and :func:`moran_inflation`'s
    table of the measured LR targets.
    """
    measured = measured_view(spatial, imputed, labels_key=LABELS_KEY)
    pairs = usable_pairs(usable_pairs(resource, imputed.var_names), measured.var_names)
    logger.info("measured data: %d of the imputed genes' LR pairs have all their genes measured", len(pairs))
    genes = sorted({g for col in ("ligand", "receptor") for x in pairs[col] for g in subunits(x)})
    keep = list(dict.fromkeys([*genes, *[g for g in measured_genes(imputed) if g in measured.var_names]]))
    measured = measured[:, keep].copy()
    if pairs.empty:
        logger.info("the measured data hold no complete LR pair of the imputed genes: no pair to compare")
        spatial_graph(
            measured,
            bandwidth=options["bandwidth"],
            cutoff=options["cutoff"],
            sample=sample,
            path=path,
            step="ccc_measured",
        )
        table = empty_bivariate_table(options["local_metric"], options["global_metric"])
    else:
        _, table = _bivariate(
            measured, pairs, options, uncertainty_layer=None, seed=seed, sample=sample, path=path, step="ccc_measured"
        )
    graph = imputed.copy()
    graph.obsp[Keys.obsp.spatial_connectivities] = measured.obsp[Keys.obsp.spatial_connectivities]
    moran = moran_inflation(measured, graph, seed=seed)
    inflated = moran[moran["inflated"].astype(bool)]
    if len(inflated):
        excess = inflated["moran_imputed"] - inflated["bound"]
        logger.warning(
            "%simputation made %d of %d measured LR genes more spatially structured than their measurement "
            "supports (Moran's I imputed above the bound: noise-corrected observed + max(%g, 2 sd), at least "
            "observed + %g, the bound of %d of them whose noise correction is undefined; by a median of %.2f; "
            "e.g. %s): "
            "communication calls that rest on them rest on structure the imputation added (ccc/moran.tsv)",
            f"sample {sample!r}: " if sample else "",
            len(inflated),
            len(moran),
            INFLATION_MARGIN,
            INFLATION_MARGIN,
            int(inflated["moran_observed_denoised"].isna().sum()),
            float(np.nanmedian(excess)),
            ", ".join(inflated.assign(excess=excess).sort_values("excess", ascending=False)["gene"].head(5)),
        )
    return table, moran


def imputed_communication(
    imputed: ad.AnnData,
    resource: pd.DataFrame,
    measured_table: pd.DataFrame,
    options: Mapping[str, Any],
    *,
    seed: int = 0,
    sample: str | None = None,
    path: str | None = None,
) -> tuple[ad.AnnData, pd.DataFrame]:
    """The bivariate test on the imputed spots, with driver status and the measured comparison.

    Parameters
    ----------
    imputed
        The imputed output (``layers['uncertainty']``, ``obs['matched_cell_type']``).
    resource
        LR table.
    measured_table
        :func:`measured_communication`'s bivariate table.
    options
        ``ccc:`` options ``bandwidth``, ``cutoff``, ``local_metric``, ``global_metric``, ``null_model``,
        ``n_perms``, ``n_draws``, ``fdr`` (defaults in the config schema).
    seed, sample, path
        Seed of the test; named in warnings and errors.

    Returns
    -------
    ``(local_scores, table)``: LIANA's spots × interactions local scores with the table in
    ``var`` (an AnnData without interactions when none was scored) and the bivariate table of
    :func:`spatial_bivariate` plus :func:`driver_status`'s and :func:`compare_measured`'s
    columns.
    """
    local, table = _bivariate(
        imputed,
        resource,
        options,
        uncertainty_layer=Keys.layers.uncertainty,
        seed=seed,
        sample=sample,
        path=path,
        step="ccc_spatial",
    )
    table = compare_measured(driver_status(imputed, table), measured_table)
    if local is None:
        local = ad.AnnData(
            obs=imputed.obs.copy(), obsm={Keys.obsm.spatial: np.asarray(imputed.obsm[Keys.obsm.spatial]).copy()}
        )
    else:
        local.var = table.set_index("interaction")
    only = int(table["only_after_imputation"].sum())
    if only:
        logger.info(
            "%d of %d significant pairs are significant only after imputation", only, int(table["significant"].sum())
        )
    return local, table
