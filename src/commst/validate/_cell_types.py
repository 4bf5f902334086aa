"""Checks of reference cell-type labels."""

from __future__ import annotations

import logging

from anndata import AnnData

from ._common import CommstInputError, PathLike, examples, shared_doc, shown_key

logger = logging.getLogger("commst.validate")


@shared_doc
def check_cell_types(
    adata: AnnData, path: PathLike, key: str, min_cells: int | None = None, *, note: str = ""
) -> dict[str, int]:
    """Check reference cell-type labels: present, complete, at least two types.

    A type with fewer than ``min_cells`` cells does not stop the run: its cells stay in the
    reference (imputation matches spots to single cells, so a rare type's cells are as usable as
    any), a warning names it, and only statistics computed per type leave it out where they
    need more cells (label-level CCC: ``ccc.min_cells``).

    Parameters
    ----------
    {common}
    key
        ``obs`` column with the labels.
    min_cells
        Types with fewer cells are warned about (``preprocess.min_cells_per_type``); ``None``
        skips that check.
    note
        Appended to the problem of the fewer-than-two-types error (e.g. that QC removed cells).

    Returns
    -------
    The rare types (label → number of cells), empty when there are none.

    Raises
    ------
    CommstInputError
        Missing column, unlabelled cells, or fewer than two types.
    """
    if key not in adata.obs:
        raise CommstInputError(
            path,
            f"has no cell-type column {key!r} in obs (columns: {examples(adata.obs.columns, 20)})",
            "set cell_type_key in the sample sheet to the obs column holding the labels",
        )
    labels = adata.obs[key]
    shown = shown_key(adata, key)
    missing = labels.isna() | labels.astype(str).str.strip().isin(["", "nan", "NaN", "None"])
    if missing.any():
        raise CommstInputError(
            path,
            f"{int(missing.sum())} of {adata.n_obs} cells have no label in obs[{shown!r}]",
            "drop unlabelled cells or give them an explicit label such as 'unknown'",
        )
    counts = labels.astype(str).value_counts()
    if len(counts) < 2:
        raise CommstInputError(
            path,
            f"obs[{shown!r}] has {len(counts)} cell type(s) ({examples(counts.index)}){note}; at least 2 are needed",
            "use a reference annotated with the cell types present in the tissue",
        )
    if min_cells is None:
        return {}
    rare = counts[counts < min_cells]
    if len(rare):
        listed = ", ".join(f"{name} ({n})" for name, n in rare.items())
        logger.warning(
            "%s: %d cell type(s) in obs[%r] have fewer than %d cells (preprocess.min_cells_per_type): %s; "
            "their cells are kept as reference cells for imputation, and label-level CCC leaves out "
            "types with fewer than ccc.min_cells cells",
            path,
            len(rare),
            shown,
            min_cells,
            listed,
        )
    return {str(k): int(v) for k, v in rare.items()}
