"""Checks of a spatial/reference pair: shared genes, what QC leaves, neighbours per spot."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from anndata import AnnData

from ._common import CommstInputError, PathLike, examples

logger = logging.getLogger("commst.validate")


def check_shared_genes(
    n_shared: int,
    min_shared: int,
    spatial_path: PathLike,
    reference_path: PathLike,
    *,
    warn_below: int | None = None,
    spatial_genes: Sequence[str] | None = None,
    reference_genes: Sequence[str] | None = None,
) -> bool:
    """Check that spatial data and reference share enough input genes.

    Parameters
    ----------
    n_shared
        Number of input genes (measured in both, not imputed).
    min_shared
        Hard floor (``preprocess.min_shared_genes_hard``): fewer make imputation meaningless.
    spatial_path, reference_path
        The two files.
    warn_below
        Warning level (``preprocess.min_shared_genes``): fewer give a warning that the result is
        weaker, not an error (imaging panels of 20–150 genes are a main use case).
    spatial_genes, reference_genes
        Optional gene names of both; when given, the error says whether the sets would
        overlap ignoring case (species or symbol-case mismatch) and shows examples.

    Returns
    -------
    Whether a warning was logged.

    Raises
    ------
    CommstInputError
        Fewer than ``min_shared`` shared genes.
    """
    if n_shared >= min_shared:
        if warn_below is not None and n_shared < warn_below:
            logger.warning(
                "%s and %s share only %d input genes (fewer than preprocess.min_shared_genes = %d): "
                "spots are matched to reference cells on few genes, so the imputation is less reliable; "
                "a reference and a panel sharing more genes give stronger results",
                spatial_path,
                reference_path,
                n_shared,
                warn_below,
            )
            return True
        return False
    problem = (
        f"spatial data and reference share only {n_shared} input genes (at least {min_shared} needed, "
        "preprocess.min_shared_genes_hard)"
    )
    fix = (
        "use a reference of the same species measured on a comparable gene panel, or lower "
        "preprocess.min_shared_genes_hard if you know the shared genes suffice"
    )
    if spatial_genes is not None and reference_genes is not None:
        sp_upper = {str(g).upper() for g in spatial_genes}
        ref_upper = {str(g).upper() for g in reference_genes}
        n_ci = len(sp_upper & ref_upper)
        problem += (
            f" (spatial e.g. {examples(list(spatial_genes)[:3])}; reference e.g. {examples(list(reference_genes)[:3])})"
        )
        if n_ci >= max(min_shared, 2 * n_shared):
            problem += f"; ignoring case they share {n_ci}, so symbol case differs"
            fix = (
                "check that both files have the same species setting (human symbols upper case, "
                "mouse capitalised) or map one to the other's orthologs"
            )
    raise CommstInputError((spatial_path, reference_path), problem, fix)


#: Fewest spots left after QC: spatial neighbour graphs, Moran's R and the matched labels of
#: fewer spots mean nothing.
MIN_SPOTS = 10


def check_after_qc(
    adata: AnnData,
    path: PathLike,
    *,
    n_before: int,
    what: str,
    minimum: int,
    qc_key: str,
) -> None:
    """Re-check what QC left of a dataset: enough spots/cells to work with.

    Parameters
    ----------
    adata
        The data after QC.
    path
        File it was read from.
    n_before
        Observations before QC.
    what
        ``"spots"`` or ``"reference cells"``.
    minimum
        Fewest observations needed.
    qc_key
        The config key of the QC threshold (named in the fix).

    Raises
    ------
    CommstInputError
        Fewer than ``minimum`` observations left.
    """
    if adata.n_obs >= minimum:
        return
    removed = n_before - adata.n_obs
    raise CommstInputError(
        path,
        f"only {adata.n_obs} {what} left after QC ({removed} of {n_before} removed with fewer counts "
        f"than {qc_key}); at least {minimum} are needed",
        f"check that the file holds the whole section/reference with raw counts, use smaller bins "
        f"(stereo_gem bin_size) if this is binned data, or lower {qc_key}",
    )


def neighbour_setting(config: dict[str, Any]) -> tuple[int | None, str | None]:
    """Neighbours per spot of the configured imputation and its config key.

    The method's registry entry names the setting (:attr:`commst.tl.methods.MethodMeta.neighbours`):
    ``impute.knn.k`` for ``knn``; ``(None, None)`` for methods without such a setting (commst
    caps its matched cells by each type's size itself).
    """
    from ..tl.methods import REGISTRY

    method = config.get("impute", {}).get("method", "knn")
    meta = REGISTRY.get(method)
    if meta is None or meta.neighbours is None:
        return None, None
    section: Any = config
    for part in meta.config_section.split("."):
        section = section.get(part, {})
    return section.get(meta.neighbours), f"{meta.config_section}.{meta.neighbours}"


def check_neighbours(k: int, n_cells: int, *, key: str, path: PathLike) -> None:
    """Check that a spot can have ``k`` distinct reference neighbours.

    Parameters
    ----------
    k
        Neighbours per spot (``impute.knn.k``).
    n_cells
        Reference cells after QC.
    key
        The config key of ``k`` (named in the message).
    path
        The reference file.

    Raises
    ------
    CommstInputError
        ``k`` is not smaller than ``n_cells``: every spot would average (nearly) the whole reference.
    """
    if k < n_cells:
        return
    raise CommstInputError(
        path,
        f"{key} = {k} but the reference has only {n_cells} cells after QC, so every spot would "
        "average the whole reference",
        f"set {key} to fewer than {n_cells} (e.g. {max(1, n_cells // 5)}) or use a larger reference",
    )
