"""Checks of observation and gene names: unique."""

from __future__ import annotations

from anndata import AnnData

from ._common import CommstInputError, PathLike, examples, shared_doc


@shared_doc
def check_unique_names(adata: AnnData, path: PathLike) -> None:
    """Check that observation and variable names are unique.

    Parameters
    ----------
    {common}

    Raises
    ------
    CommstInputError
        Duplicated ``obs_names`` or ``var_names``; the message gives examples.
    """
    for axis, names, fix in (
        (
            "observation (spot/cell) names",
            adata.obs_names,
            (
                "give every spot/cell its own id (adata.obs_names_make_unique() appends -1, -2 …; "
                "when merging samples, prefix ids with the sample name) and save the file again"
            ),
        ),
        (
            "gene names",
            adata.var_names,
            (
                "sum the counts of duplicated genes (they are usually one symbol of several "
                "Ensembl IDs), drop the extra copies, or call adata.var_names_make_unique() "
                "and save the file again"
            ),
        ),
    ):
        dup = names[names.duplicated()].unique()
        if len(dup):
            raise CommstInputError(path, f"{len(dup)} duplicated {axis}: {examples(dup)}", fix)
