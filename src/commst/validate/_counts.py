"""Checks of the counts matrix: raw, finite, non-negative, integer counts; not empty."""

from __future__ import annotations

import logging

import numpy as np
from anndata import AnnData
from scipy import sparse

from ._common import CommstInputError, PathLike, examples, matrix, row_sums, shared_doc, stored_values

logger = logging.getLogger("commst.validate")


def _describe_non_integer(mat: np.ndarray | sparse.spmatrix, values: np.ndarray) -> str:
    """Guess what non-integer data are: log1p-normalised, total-normalised, or else."""
    rows = mat[: min(mat.shape[0], 2000)]
    sums = row_sums(rows)
    sums = sums[sums > 0]
    if values.max() < 30:
        unlogged = rows.expm1() if sparse.issparse(rows) else np.expm1(rows)
        totals = row_sums(unlogged)
        totals = totals[totals > 0]
        if totals.size and np.std(totals) <= 0.01 * np.mean(totals):
            return f"looks log1p-normalised (expm1 row sums all ≈ {np.mean(totals):.4g})"
        return f"looks log-transformed (max {values.max():.3g})"
    if sums.size and np.std(sums) <= 0.01 * np.mean(sums):
        return f"looks normalised to a fixed total per row (≈ {np.mean(sums):.4g})"
    return "looks like estimated or corrected counts rather than raw UMI counts"


@shared_doc
def check_counts(
    adata: AnnData,
    path: PathLike,
    *,
    allow_non_integer: bool = False,
    layer: str | None = None,
) -> None:
    """Check that a matrix holds raw counts: finite, non-negative, integer.

    Parameters
    ----------
    {common}
    allow_non_integer
        Accept non-integer values (e.g. CellBender/SoupX output) with a warning instead of
        an error. Negative and non-finite values are always errors.
    layer
        Layer to check; ``None`` checks ``X`` (where the CommST readers put raw counts).

    Raises
    ------
    CommstInputError
        NaN/infinite values, negative values, or (unless ``allow_non_integer``) non-integer
        values; the message says whether the data look log-normalised or scaled.
    """
    mat = matrix(adata, layer)
    where = "X" if layer is None else f"layers[{layer!r}]"
    values = stored_values(mat)
    if values.size == 0:
        return
    finite = np.isfinite(values)
    if not finite.all():
        n_bad = int((~finite).sum())
        raise CommstInputError(
            path,
            f"{where} contains {n_bad} NaN or infinite values",
            "pass raw UMI counts without missing values (NaN often comes from a failed merge or from scaled data)",
        )
    vmin = float(values.min())
    if vmin < 0:
        raise CommstInputError(
            path,
            f"{where} contains negative values (min {vmin:.3g}): looks scaled or centred "
            "(e.g. sc.pp.scale or a batch-corrected matrix)",
            "pass raw UMI counts (store them in layers['counts'] or X); scaled data cannot be used",
        )
    non_integer = values != np.round(values)
    if non_integer.any():
        n_bad = int(non_integer.sum())
        example = float(values[np.argmax(non_integer)])
        problem = f"{where} contains {n_bad} non-integer values (e.g. {example:.4g}); it " + _describe_non_integer(
            mat, values
        )
        if not allow_non_integer:
            raise CommstInputError(
                path,
                problem,
                "pass raw UMI counts (layers['counts'] if present, else X), or set "
                "preprocess.allow_non_counts: true in the config if the values really are count-like "
                "(e.g. CellBender output)",
            )
        logger.warning("%s: %s; using it anyway because non-integer values are allowed", path, problem)


@shared_doc
def check_not_empty(adata: AnnData, path: PathLike, *, layer: str | None = None) -> np.ndarray:
    """Check that there are spots/cells and genes, and report observations without counts.

    Parameters
    ----------
    {common}
    layer
        Layer with counts; ``None`` uses ``X``.

    Returns
    -------
    Boolean mask over observations, ``True`` where an observation has zero total counts
    (a warning says how many; preprocessing QC removes them).

    Raises
    ------
    CommstInputError
        No observations, no genes, or every observation empty.
    """
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise CommstInputError(
            path,
            f"is empty ({adata.n_obs} observations × {adata.n_vars} genes)",
            "check the file is the intended one and was fully written",
        )
    totals = row_sums(matrix(adata, layer))
    empty = totals == 0
    if empty.all():
        raise CommstInputError(
            path,
            f"all {adata.n_obs} observations have zero counts",
            "check the counts matrix (wrong layer, or a filtered/empty export)",
        )
    if empty.any():
        logger.warning(
            "%s: %d of %d observations have zero counts (e.g. %s); preprocessing removes them",
            path,
            int(empty.sum()),
            adata.n_obs,
            examples(adata.obs_names[empty], 3),
        )
    n_zero_genes = int((np.asarray((matrix(adata, layer) != 0).sum(axis=0)).ravel() == 0).sum())
    if n_zero_genes:
        logger.info("%s: %d of %d genes have zero counts everywhere", path, n_zero_genes, adata.n_vars)
    return empty
