"""One call from two AnnData objects to the imputed LR genes: what the workflow's preprocess and
impute rules do, for a notebook."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import anndata as ad

from .._constants import Keys

logger = logging.getLogger("commst")

#: ``impute: method:``'s default in the workflow (``tests/test_config.py`` keeps them equal).
DEFAULT_METHOD = "commst"

#: ``lr_resource: name:``'s default in the workflow.
DEFAULT_LR_RESOURCE = "consensus"


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
) -> ad.AnnData:
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

    Returns
    -------
    Spots × LR targets AnnData: ``X`` log-normalised imputed expression, ``layers`` and
    ``uns['commst']`` as in the workflow's ``results/{sample}/imputed.h5ad`` (README, "Output
    contract").

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
    from ._output import build_imputed
    from ._uncertainty import fill_missing
    from .methods import get_meta

    meta = get_meta(method)
    settings = {**meta.defaults, **dict(params or {})}
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
    # as the impute step: a method without its own uncertainty or spot labels gets the kNN neighbours'
    result = fill_missing(result, spatial, reference, input_genes=genes.input, seed=seed)
    provenance = {
        "lr_resource": {"name": lr_resource},
        "preprocess": options,
        "impute": {"method": method, "seed": seed, method: settings},
    }
    return build_imputed(spatial, result, method=method, params=provenance, resources={"lr_resource": lr_resource})
