"""One call from two AnnData objects to the imputed LR genes: what the workflow's preprocess and
impute rules do, for a notebook."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import anndata as ad
import numpy as np

from .._constants import Keys

logger = logging.getLogger("commst")

#: ``impute: method:``'s default in the workflow (``tests/test_config.py`` keeps them equal).
DEFAULT_METHOD = "commst"

#: ``lr_resource: name:``'s default in the workflow.
DEFAULT_LR_RESOURCE = "consensus"

#: Where ``copy=False`` writes by default (``obsm``/``uns`` key of the spatial AnnData).
DEFAULT_KEY_ADDED = "commst_imputed"

#: Layers of the imputed output that ``copy=False`` also writes, as ``obsm[f"{key_added}_{layer}"]``.
WRITTEN_LAYERS = (Keys.layers.uncertainty, Keys.layers.guarded)


def impute(
    spatial: ad.AnnData,
    reference: ad.AnnData,
    *,
    method: str = DEFAULT_METHOD,
    cell_type_key: str = "cell_type",
    species: str = "human",
    lr_resource: str = DEFAULT_LR_RESOURCE,
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
    preprocess: Mapping[str, Any] | None = None,
    allow_non_counts: bool = False,
    heldout_rounds: int | None = None,
    key_added: str = DEFAULT_KEY_ADDED,
    copy: bool = True,
) -> ad.AnnData | None:
    """Impute the LR genes of every spot from a single-cell reference, in one call.

    The same steps and checks as the workflow (rules ``preprocess`` and ``impute``): both
    inputs are brought into the reader layout and validated (counts, names, coordinates,
    cell types, gene symbols of ``species``), prepared (:func:`commst.pp.prepare`: alias
    harmonisation, QC, LR targets the reference expresses, input genes, normalisation, the
    checks after QC), imputed with the registered ``method`` (one without its own uncertainty
    or spot labels gets the kNN neighbours', :func:`commst.tl.fill_missing`) and assembled
    into the output of :func:`commst.tl.build_imputed`. Neither input is modified.

    Parameters
    ----------
    spatial
        Spots × genes, raw counts in ``layers['counts']`` or ``X``, coordinates in
        ``obsm['spatial']`` (or obs ``x``/``y``).
    reference
        Cells × genes, raw counts in ``layers['counts']`` or ``X``.
    method
        A registered method (:data:`commst.tl.REGISTRY`: ``commst``, ``knn``, ``spage``, ...).
    cell_type_key
        The reference's obs column of cell-type labels.
    species
        ``"human"`` or ``"mouse"``: the gene symbols' species (LR database, aliases).
    lr_resource
        LR database name (a liana resource) or the path of a TSV with ``ligand`` and
        ``receptor`` columns, as ``lr_resource: name:`` in the workflow.
    seed
        Random seed.
    params
        The method's settings (``impute: <method>:`` in the workflow); its defaults otherwise.
    preprocess
        :func:`commst.pp.prepare` settings (``preprocess:`` in the workflow).
    allow_non_counts
        Accept non-integer values (with a warning) instead of stopping.
    heldout_rounds
        Rounds of the built-in held-out check of a method without its own (all but ``commst``;
        :func:`commst.tl.heldout_check`), ``impute: heldout_rounds:`` in the workflow; each round
        runs the method once more. ``None``: :data:`~commst.tl.DEFAULT_HELDOUT_ROUNDS`; 0: off.
    key_added
        With ``copy=False``: the key the results are written under in ``spatial``.
    copy
        ``True`` (default): return the imputed AnnData and leave ``spatial`` as it was.
        ``False``: write the results into ``spatial`` (see Returns) and return ``None``.

    Returns
    -------
    With ``copy=True``, spots × LR targets AnnData: ``X`` log-normalised imputed expression,
    ``layers`` and ``uns['commst']`` as in the workflow's ``results/{sample}/imputed.h5ad``
    (README, "Output contract"), the held-out check in ``uns['commst']['method_info']['quality']``
    (the workflow's ``quality.tsv``; :func:`commst.pl.quality_verdict` reads it). With
    ``copy=False``, ``None``, and ``spatial`` gets (see :func:`write_into`):

    - ``obsm[key_added]``: spots × targets, the imputed ``X`` (float32; NaN rows for spots
      that QC removed);
    - ``obsm[f"{key_added}_uncertainty"]``, ``obsm[f"{key_added}_guarded"]``: the layers of
      the same names;
    - ``obs[f"{key_added}_matched_cell_type"]``: the spots' matched cell-type label;
    - ``uns[key_added]``: ``genes`` (the column names of the matrices), ``var`` (the targets'
      flags), ``obsm_keys`` and the run's ``uns['commst']`` record as ``commst``.

    Raises
    ------
    CommstInputError
        Input the workflow would stop on, with the problem and the fix.
    ValueError
        ``method`` is not registered.
    """
    from ..io import reference_from_anndata, spatial_from_anndata
    from ..pp import get_gene_sets, prepare
    from ..priors import load_alias_map, load_lr_resource, lr_genes
    from ..validate import check_neighbours, validate_reference, validate_spatial
    from ._heldout import DEFAULT_HELDOUT_ROUNDS, with_heldout_check
    from ._output import build_imputed
    from ._selection import log_selection
    from ._uncertainty import fill_missing
    from .methods import get_meta

    meta = get_meta(method)
    settings = {**meta.defaults, **dict(params or {})}
    given = spatial
    spatial = spatial_from_anndata(spatial)
    reference = reference_from_anndata(reference, cell_type_key)
    where = (spatial.uns[Keys.uns.commst_input]["path"], reference.uns[Keys.uns.commst_input]["path"])
    validate_spatial(spatial, where[0], species=species, allow_non_integer=allow_non_counts)
    validate_reference(reference, where[1], species=species, allow_non_integer=allow_non_counts)
    lr = load_lr_resource(lr_resource, species)
    options = dict(preprocess or {})
    spatial, reference = prepare(spatial, reference, lr_genes(lr), alias_map=load_alias_map(species), **options)
    if meta.neighbours in settings:
        key = f"{meta.config_section}.{meta.neighbours}"
        check_neighbours(settings[meta.neighbours], reference.n_obs, key=key, path=where[1])
    genes = get_gene_sets(spatial)
    logger.info("imputing %d LR targets with %s", len(genes.lr_targets), method)
    result = meta.function()(
        spatial, reference, targets=genes.lr_targets, input_genes=genes.input, seed=seed, **settings
    )
    log_selection(result.extra)
    rounds = DEFAULT_HELDOUT_ROUNDS if heldout_rounds is None else heldout_rounds
    result = with_heldout_check(
        result, method, spatial, reference, input_genes=genes.input, seed=seed, params=settings, rounds=rounds
    )
    # as the impute step: a method without its own uncertainty or spot labels gets the kNN neighbours'
    result = fill_missing(result, spatial, reference, input_genes=genes.input, seed=seed)
    provenance = {
        "lr_resource": {"name": lr_resource},
        "preprocess": options,
        "impute": {"method": method, "seed": seed, "heldout_rounds": rounds, method: settings},
    }
    imputed = build_imputed(spatial, result, method=method, params=provenance, resources={"lr_resource": lr_resource})
    if copy:
        return imputed
    write_into(given, imputed, key_added=key_added)
    return None


def write_into(spatial: ad.AnnData, imputed: ad.AnnData, *, key_added: str = DEFAULT_KEY_ADDED) -> None:
    """Write an imputed AnnData's results into the spatial AnnData it was made from (in place).

    Parameters
    ----------
    spatial
        The spots the imputation ran on (a superset of ``imputed``'s: QC may have removed some).
    imputed
        The output of :func:`commst.tl.build_imputed` (or :func:`impute` with ``copy=True``).
    key_added
        Key of the results: ``obsm[key_added]`` (``X``), ``obsm[f"{key_added}_{layer}"]`` for
        :data:`WRITTEN_LAYERS`, ``obs[f"{key_added}_matched_cell_type"]`` and ``uns[key_added]``
        (``genes``, ``var``, ``obsm_keys``, ``commst``). Spots the imputation did not keep get
        NaN rows (``guarded``: 0) and a missing label.

    Raises
    ------
    ValueError
        ``imputed`` has spots that ``spatial`` does not.
    """
    import pandas as pd
    import scipy.sparse as sp

    rows = spatial.obs_names.get_indexer(imputed.obs_names)
    if (rows < 0).any():
        missing = list(imputed.obs_names[rows < 0][:3])
        raise ValueError(
            f"imputed has spots that spatial does not have (e.g. {missing}); pass the spots it was made from"
        )

    def spread(values: np.ndarray) -> np.ndarray:
        """``values`` on every spot of ``spatial``: NaN rows (0 for the integer guard) where not imputed."""
        dense = values.toarray() if sp.issparse(values) else np.asarray(values)
        fill = np.nan if np.issubdtype(dense.dtype, np.floating) else 0
        out = np.full((spatial.n_obs, imputed.n_vars), fill, dtype=dense.dtype)
        out[rows] = dense
        return out

    keys = {"X": key_added}
    spatial.obsm[key_added] = spread(imputed.X)
    for layer in WRITTEN_LAYERS:
        if layer in imputed.layers:
            keys[layer] = f"{key_added}_{layer}"
            spatial.obsm[keys[layer]] = spread(imputed.layers[layer])
    label = Keys.obs.matched_cell_type
    if label in imputed.obs:
        keys[label] = f"{key_added}_{label}"
        spatial.obs[keys[label]] = imputed.obs[label].reindex(spatial.obs_names)
    spatial.uns[key_added] = {
        "genes": list(imputed.var_names),
        "var": pd.DataFrame(imputed.var).copy(),
        "obsm_keys": keys,
        "n_spots_imputed": int(imputed.n_obs),
        Keys.uns.commst: dict(imputed.uns[Keys.uns.commst]),
    }
