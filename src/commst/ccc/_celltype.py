"""Label-level (cell-type-level) communication with LIANA+ methods.

Groups with fewer than ``min_cells`` observations are left out (LIANA's rule), with a warning;
data that leave nothing to score give an empty table with LIANA's columns and a warning.
"""

from __future__ import annotations

import functools
import logging

import anndata as ad
import liana as li
import pandas as pd

from ._liana import liana_errors, probe_data, usable_pairs

logger = logging.getLogger(__name__)

#: Cell-type-level methods of LIANA+ (``li.mt.<name>``) selectable in the config.
CELLTYPE_METHODS = (
    "rank_aggregate",
    "cellphonedb",
    "cellchat",
    "connectome",
    "natmi",
    "logfc",
    "singlecellsignalr",
    "geometric_mean",
    "scseqcomm",
)


def _run_celltype(
    adata: ad.AnnData,
    resource: pd.DataFrame,
    *,
    groupby: str,
    method: str,
    expr_prop: float,
    min_cells: int,
    n_perms: int,
    seed: int,
) -> pd.DataFrame:
    kwargs = (
        {"n_perms": n_perms, "seed": seed}
        if method in {"rank_aggregate", "cellphonedb", "cellchat", "geometric_mean"}
        else {}
    )
    getattr(li.mt, method)(
        adata,
        groupby=groupby,
        resource=resource,
        expr_prop=expr_prop,
        min_cells=min_cells,
        use_raw=False,
        key_added="liana_res",
        verbose=False,
        **kwargs,
    )
    return adata.uns.pop("liana_res").reset_index(drop=True)


@functools.cache
def _celltype_columns(method: str) -> tuple[str, ...]:
    """The columns LIANA's ``method`` returns (learnt from a tiny run, so they match the version)."""
    adata, resource = probe_data()
    return tuple(
        _run_celltype(
            adata, resource, groupby="group", method=method, expr_prop=0.0, min_cells=1, n_perms=2, seed=0
        ).columns
    )


def celltype_communication(
    adata: ad.AnnData,
    resource: pd.DataFrame,
    *,
    groupby: str,
    method: str = "rank_aggregate",
    expr_prop: float = 0.1,
    min_cells: int = 5,
    n_perms: int = 100,
    seed: int = 0,
    sample: str | None = None,
    step: str = "ccc",
    path: str | None = None,
) -> pd.DataFrame:
    """Run a LIANA+ cell-type-level method and return its result table.

    Groups with fewer than ``min_cells`` observations are left out (LIANA's rule), with a
    warning naming them: a rare reference cell type stays in the imputation but has too few
    cells for a per-type statistic.

    Parameters
    ----------
    adata
        Observations × genes with log-normalised ``X`` and ``obs[groupby]``.
    resource
        LR table with ``ligand`` and ``receptor`` columns.
    groupby
        Column of ``obs`` with the group of each observation (cell type, or for imputed
        spots their ``matched_cell_type`` label).
    method
        One of :data:`CELLTYPE_METHODS`.
    expr_prop, min_cells, n_perms, seed
        Passed to LIANA.
    sample, step, path
        Named in warnings and errors.

    Returns
    -------
    LIANA's long table (one row per source, target, ligand complex, receptor complex). Empty,
    with the same columns and a warning, when no LR pair has all its genes measured or fewer
    than two groups have ``min_cells`` observations.

    Raises
    ------
    ValueError
        Unknown ``method``.
    CommstCCCError
        LIANA failed.
    """
    if method not in CELLTYPE_METHODS:
        raise ValueError(f"unknown LIANA method {method!r}; choose one of {CELLTYPE_METHODS}")
    what = path or "data"
    step = f"{step} (LIANA {method} over {groupby})"
    counts = adata.obs[groupby].astype(str).value_counts()
    small = counts[counts < min_cells]
    if len(small):
        logger.warning(
            "%s: label-level CCC (%s) leaves out %d group(s) of obs[%r] with fewer than ccc.min_cells = %d "
            "observations: %s",
            what,
            method,
            len(small),
            groupby,
            min_cells,
            ", ".join(f"{k} ({v})" for k, v in small.items()),
        )
    with liana_errors(step, sample=sample):
        empty = pd.DataFrame(columns=list(_celltype_columns(method)))
    if len(counts) - len(small) < 2:
        logger.warning(
            "%s: fewer than 2 groups of obs[%r] have at least ccc.min_cells = %d observations; the %s table is empty",
            what,
            groupby,
            min_cells,
            method,
        )
        return empty
    pairs = usable_pairs(resource, adata.var_names)
    if pairs.empty:
        logger.warning(
            "%s: none of the %d LR pairs of the resource has all its genes among the %d genes here; the %s "
            "table is empty",
            what,
            len(resource),
            adata.n_vars,
            method,
        )
        return empty
    with liana_errors(step, sample=sample):
        result = _run_celltype(
            adata,
            pairs,
            groupby=groupby,
            method=method,
            expr_prop=expr_prop,
            min_cells=min_cells,
            n_perms=n_perms,
            seed=seed,
        )
    logger.info("%s over %s: %d rows from %d usable LR pairs", method, groupby, len(result), len(pairs))
    if result.empty:
        logger.warning(
            "%s: no LR pair passes LIANA's filters (ccc.expr_prop = %g); the %s table is empty", what, expr_prop, method
        )
        return empty
    return result


def celltype_tables(
    adata: ad.AnnData,
    resource: pd.DataFrame,
    *,
    groupby: str,
    methods: list[str],
    options: dict,
    seed: int = 0,
    sample: str | None = None,
    step: str = "ccc",
    path: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Run several cell-type-level methods with the workflow's ``ccc:`` options.

    Returns
    -------
    Method name → LIANA result table (see :func:`celltype_communication`).
    """
    return {
        method: celltype_communication(
            adata,
            resource,
            groupby=groupby,
            method=method,
            expr_prop=options["expr_prop"],
            min_cells=options["min_cells"],
            n_perms=options["n_perms"],
            seed=seed,
            sample=sample,
            step=step,
            path=path,
        )
        for method in methods
    }
