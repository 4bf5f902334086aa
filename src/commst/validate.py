"""Input validation: stop early on bad input with a message naming file, problem and fix.

Every check takes the :class:`~anndata.AnnData` plus the path it was read from, and raises
:class:`CommstInputError` when the input cannot be used. Checks that find something odd but
usable log a warning instead. Preprocessing calls :func:`validate_spatial` and
:func:`validate_reference` (or the single checks) right after reading.

Examples
--------
>>> from commst.io import read_spatial
>>> from commst import validate
>>> sp = read_spatial("outs/", "visium")  # doctest: +SKIP
>>> validate.validate_spatial(sp, "outs/", species="human")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

__all__ = [
    "CommstInputError",
    "check_cell_types",
    "check_coordinates",
    "check_counts",
    "check_gene_symbols",
    "check_not_empty",
    "check_shared_genes",
    "check_unique_names",
    "estimate_memory",
    "validate_reference",
    "validate_spatial",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
_F = TypeVar("_F", bound=Callable[..., Any])

#: Ensembl gene IDs (human ENSG, mouse ENSMUSG, other species ENS<code>G), optional version.
_ENSEMBL = re.compile(r"^ENS[A-Z]*G\d{6,}(\.\d+)?$")
#: Human symbols: upper case letters, digits, '-', '.', '_' (``C2orf74``-style open reading frames too).
_HUMAN = re.compile(r"^(?=.*[A-Z])[A-Z0-9][A-Z0-9._-]*$|^C(\d+|X|Y)orf\d+[A-Z]?$")
#: Mouse symbols: capitalised (``Cxcl12``), ``mt-`` genes, RIKEN clones (``1700001C19Rik``).
_MOUSE = re.compile(r"^[A-Z][a-z][A-Za-z0-9._-]*$|^[A-Z][0-9]+[a-z][A-Za-z0-9._-]*$|^mt-|Rik\d*$")
#: var columns that commonly hold gene symbols when var_names are IDs.
_SYMBOL_COLUMNS = (
    "gene_symbols",
    "gene_symbol",
    "symbol",
    "gene_name",
    "gene_names",
    "feature_name",
    "name",
)
#: Species accepted by :func:`check_gene_symbols`.
SPECIES = ("human", "mouse")


class CommstInputError(ValueError):
    """Bad input: the message always names the file, the problem and the fix.

    Parameters
    ----------
    path
        The offending file (or several files, e.g. a spatial/reference pair).
    problem
        What is wrong, with numbers where they help (``"contains 3 NaN values"``).
    fix
        What the user should do about it.

    Examples
    --------
    >>> err = CommstInputError("a.h5ad", "contains negative values (min -1.2)", "pass raw UMI counts")
    >>> str(err)
    'a.h5ad: contains negative values (min -1.2). Fix: pass raw UMI counts.'
    """

    def __init__(self, path: PathLike | Sequence[PathLike], problem: str, fix: str) -> None:
        if isinstance(path, (str, os.PathLike)):
            self.path = os.fspath(path)
        else:
            self.path = " and ".join(os.fspath(p) for p in path)
        self.problem = problem.rstrip(". ")
        self.fix = fix.rstrip(". ")
        super().__init__(f"{self.path}: {self.problem}. Fix: {self.fix}.")

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:
        # keep the exception picklable (multiprocessing, Snakemake) despite the 3-argument init
        return (type(self), (self.path, self.problem, self.fix))


# --------------------------------------------------------------------------- helpers

_COMMON_PARAMS = """adata
        Data to check.
    path
        File ``adata`` was read from (named in the error message)."""


def _doc(func: _F) -> _F:
    """Fill the shared ``adata``/``path`` parameter text into ``func``'s docstring."""
    func.__doc__ = func.__doc__.replace("{common}", _COMMON_PARAMS)
    return func


def _matrix(adata: AnnData, layer: str | None) -> np.ndarray | sparse.spmatrix:
    if layer is None:
        return adata.X
    return adata.layers[layer]


def _values(mat: np.ndarray | sparse.spmatrix) -> np.ndarray:
    """Stored values: the nonzeros of a sparse matrix, all entries of a dense one."""
    if sparse.issparse(mat):
        return np.asarray(mat.data)
    return np.asarray(mat).ravel()


def _examples(items: Sequence[object] | pd.Index, n: int = 5) -> str:
    items = list(items)
    shown = ", ".join(repr(str(x)) for x in items[:n])
    return shown + (f" … (+{len(items) - n} more)" if len(items) > n else "")


def _row_sums(mat: np.ndarray | sparse.spmatrix) -> np.ndarray:
    return np.asarray(mat.sum(axis=1)).ravel()


def _describe_non_integer(mat: np.ndarray | sparse.spmatrix, values: np.ndarray) -> str:
    """Guess what non-integer data are: log1p-normalised, total-normalised, or else."""
    rows = mat[: min(mat.shape[0], 2000)]
    sums = _row_sums(rows)
    sums = sums[sums > 0]
    if values.max() < 30:
        unlogged = rows.expm1() if sparse.issparse(rows) else np.expm1(rows)
        totals = _row_sums(unlogged)
        totals = totals[totals > 0]
        if totals.size and np.std(totals) <= 0.01 * np.mean(totals):
            return f"looks log1p-normalised (expm1 row sums all ≈ {np.mean(totals):.4g})"
        return f"looks log-transformed (max {values.max():.3g})"
    if sums.size and np.std(sums) <= 0.01 * np.mean(sums):
        return f"looks normalised to a fixed total per row (≈ {np.mean(sums):.4g})"
    return "looks like estimated or corrected counts rather than raw UMI counts"


# --------------------------------------------------------------------------- checks


@_doc
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
    mat = _matrix(adata, layer)
    where = "X" if layer is None else f"layers[{layer!r}]"
    values = _values(mat)
    if values.size == 0:
        return
    finite = np.isfinite(values)
    if not finite.all():
        n_bad = int((~finite).sum())
        raise CommstInputError(
            path,
            f"{where} contains {n_bad} NaN or infinite values",
            "pass raw UMI counts without missing values (NaN often comes from a failed merge or "
            "from scaled data)",
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
        problem = (
            f"{where} contains {n_bad} non-integer values (e.g. {example:.4g}); it "
            + _describe_non_integer(mat, values)
        )
        if not allow_non_integer:
            raise CommstInputError(
                path,
                problem,
                "pass raw UMI counts (layers['counts'] if present, else X), or set "
                "preprocess.allow_non_counts: true in the config if the values really are count-like (e.g. CellBender output)",
            )
        logger.warning(
            "%s: %s; using it anyway because non-integer values are allowed", path, problem
        )


@_doc
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
            "give every spot/cell its own id (adata.obs_names_make_unique() appends -1, -2 …; "
            "when merging samples, prefix ids with the sample name)",
        ),
        (
            "gene names",
            adata.var_names,
            "sum or drop duplicated genes, or call adata.var_names_make_unique() "
            "(the commst.io readers do this)",
        ),
    ):
        dup = names[names.duplicated()].unique()
        if len(dup):
            raise CommstInputError(path, f"{len(dup)} duplicated {axis}: {_examples(dup)}", fix)


@_doc
def check_coordinates(adata: AnnData, path: PathLike, *, key: str = "spatial") -> None:
    """Check spatial coordinates: present, numeric, n × 2, finite and not all identical.

    Parameters
    ----------
    {common}
    key
        ``obsm`` key holding the coordinates.

    Raises
    ------
    CommstInputError
        Missing, non-numeric, wrongly shaped, NaN/infinite or all-identical coordinates.
    """
    if key not in adata.obsm:
        raise CommstInputError(
            path,
            f"has no spatial coordinates (obsm[{key!r}] missing; obsm keys: {list(adata.obsm)})",
            "store coordinates as obsm['spatial'] (n × 2) or obs columns 'x' and 'y', or read the "
            "raw output with the matching spatial_format (visium, stereo_gem, csv)",
        )
    raw = adata.obsm[key]
    raw = raw.to_numpy() if isinstance(raw, pd.DataFrame) else np.asarray(raw)
    if raw.ndim != 2 or raw.shape[0] != adata.n_obs or raw.shape[1] != 2:
        raise CommstInputError(
            path,
            f"obsm[{key!r}] has shape {raw.shape}, expected ({adata.n_obs}, 2)",
            "store two coordinate columns (x, y) per spot; for 3-D data choose a section",
        )
    try:
        coords = raw.astype(np.float64)
    except (TypeError, ValueError) as err:
        raise CommstInputError(
            path,
            f"obsm[{key!r}] is not numeric (dtype {raw.dtype}: {err})",
            "store numeric x/y coordinates (pixels or µm)",
        ) from None
    bad = ~np.isfinite(coords).all(axis=1)
    if bad.any():
        raise CommstInputError(
            path,
            f"{int(bad.sum())} of {adata.n_obs} spots have NaN or infinite coordinates "
            f"(e.g. {_examples(adata.obs_names[bad])})",
            "remove these spots or fill in their coordinates",
        )
    if adata.n_obs > 1 and np.all(coords == coords[0]):
        raise CommstInputError(
            path,
            f"all {adata.n_obs} spots have the same coordinates ({coords[0, 0]:g}, {coords[0, 1]:g})",
            "store each spot's own position (for Visium: pxl_col/pxl_row of tissue_positions.csv)",
        )
    n_dup = int(pd.DataFrame(coords).duplicated().sum())
    if n_dup:
        logger.warning("%s: %d spots share their coordinates with another spot", path, n_dup)


@_doc
def check_cell_types(adata: AnnData, path: PathLike, key: str, min_cells: int) -> None:
    """Check reference cell-type labels: present, complete, ≥ 2 types, ≥ ``min_cells`` each.

    Parameters
    ----------
    {common}
    key
        ``obs`` column with the labels.
    min_cells
        Fewest cells a type needs.

    Raises
    ------
    CommstInputError
        Missing column, unlabelled cells, fewer than two types, or types with fewer than
        ``min_cells`` cells (all listed with their counts).
    """
    if key not in adata.obs:
        raise CommstInputError(
            path,
            f"has no cell-type column {key!r} in obs (columns: {_examples(adata.obs.columns, 20)})",
            "set cell_type_key in the sample sheet to the obs column holding the labels",
        )
    labels = adata.obs[key]
    missing = labels.isna() | labels.astype(str).str.strip().isin(["", "nan", "NaN", "None"])
    if missing.any():
        raise CommstInputError(
            path,
            f"{int(missing.sum())} of {adata.n_obs} cells have no label in obs[{key!r}]",
            "drop unlabelled cells or give them an explicit label such as 'unknown'",
        )
    counts = labels.astype(str).value_counts()
    if len(counts) < 2:
        raise CommstInputError(
            path,
            f"obs[{key!r}] has {len(counts)} cell type(s) ({_examples(counts.index)}); at least 2 are needed",
            "use a reference annotated with the cell types present in the tissue",
        )
    rare = counts[counts < min_cells]
    if len(rare):
        listed = ", ".join(f"{name} ({n})" for name, n in rare.items())
        raise CommstInputError(
            path,
            f"{len(rare)} cell types in obs[{key!r}] have fewer than {min_cells} cells: {listed}",
            f"drop or merge these types, or lower preprocess.min_cells_per_type (now {min_cells})",
        )


def _symbol_column(adata: AnnData) -> str | None:
    """A var column whose values look like gene symbols rather than Ensembl IDs."""
    for col in _SYMBOL_COLUMNS:
        if col not in adata.var or adata.var[col].dtype.kind in "biuf":
            continue
        if adata.var[col].astype(str).str.match(_ENSEMBL).mean() < 0.5:
            return col
    return None


@_doc
def check_gene_symbols(adata: AnnData, path: PathLike, species: str) -> None:
    """Check that ``var_names`` are gene symbols of ``species``.

    Human symbols are upper case (``CXCL12``), mouse symbols capitalised (``Cxcl12``).

    Parameters
    ----------
    {common}
    species
        ``"human"`` or ``"mouse"``.

    Raises
    ------
    CommstInputError
        Most var_names are Ensembl IDs (the fix names a var column with symbols when there is
        one), or most symbols look like the other species.
    ValueError
        ``species`` is not one of :data:`SPECIES`.
    """
    if species not in SPECIES:
        raise ValueError(f"species must be one of {SPECIES}, got {species!r}")
    names = pd.Series(adata.var_names.astype(str))
    if names.empty:
        return
    ensembl = names.str.match(_ENSEMBL)
    if ensembl.mean() >= 0.5:
        mouse_ids = names[ensembl].str.startswith("ENSMUSG").mean() >= 0.5
        id_species = (
            "mouse"
            if mouse_ids
            else "human" if names[ensembl].str.startswith("ENSG").mean() >= 0.5 else None
        )
        problem = (
            f"{int(ensembl.sum())} of {len(names)} gene names are Ensembl IDs "
            f"(e.g. {_examples(names[ensembl], 3)}), CommST needs gene symbols"
        )
        if id_species is not None and id_species != species:
            problem += f"; the IDs are {id_species} but species is {species}"
        col = _symbol_column(adata)
        if col is not None:
            fix = (
                f"use the symbols in var[{col!r}]: adata.var['gene_ids'] = adata.var_names; "
                f"adata.var_names = adata.var[{col!r}].astype(str); adata.var_names_make_unique()"
            )
        else:
            fix = (
                "map the IDs to symbols (10x features.tsv column 2, Ensembl BioMart or mygene) and "
                "store symbols as var_names, keeping the IDs in var['gene_ids']"
            )
        raise CommstInputError(path, problem, fix)
    mouse_like = names.str.contains(_MOUSE) & ~names.str.match(_HUMAN)
    human_like = names.str.match(_HUMAN) & ~mouse_like
    other = "mouse" if species == "human" else "human"
    wrong = mouse_like if species == "human" else human_like
    if wrong.mean() > 0.5:
        raise CommstInputError(
            path,
            f"{int(wrong.sum())} of {len(names)} gene symbols look {other} "
            f"(e.g. {_examples(names[wrong], 4)}) but species is {species}",
            f"set species: {other} for this sample if the data are {other}, or map the genes to "
            f"{species} orthologs first",
        )


@_doc
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
    totals = _row_sums(_matrix(adata, layer))
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
            _examples(adata.obs_names[empty], 3),
        )
    n_zero_genes = int((np.asarray((_matrix(adata, layer) != 0).sum(axis=0)).ravel() == 0).sum())
    if n_zero_genes:
        logger.info(
            "%s: %d of %d genes have zero counts everywhere", path, n_zero_genes, adata.n_vars
        )
    return empty


def check_shared_genes(
    n_shared: int,
    min_shared: int,
    spatial_path: PathLike,
    reference_path: PathLike,
    *,
    spatial_genes: Sequence[str] | None = None,
    reference_genes: Sequence[str] | None = None,
) -> None:
    """Check that spatial data and reference share enough genes.

    Parameters
    ----------
    n_shared
        Number of genes measured in both.
    min_shared
        Fewest shared genes the model needs.
    spatial_path, reference_path
        The two files.
    spatial_genes, reference_genes
        Optional gene names of both; when given, the message says whether the sets would
        overlap ignoring case (species or symbol-case mismatch) and shows examples.

    Raises
    ------
    CommstInputError
        Fewer than ``min_shared`` shared genes.
    """
    if n_shared >= min_shared:
        return
    problem = (
        f"spatial data and reference share only {n_shared} genes (at least {min_shared} needed)"
    )
    fix = "use a reference of the same species measured on a comparable gene panel, or lower preprocess.min_shared_genes"
    if spatial_genes is not None and reference_genes is not None:
        sp_upper = {str(g).upper() for g in spatial_genes}
        ref_upper = {str(g).upper() for g in reference_genes}
        n_ci = len(sp_upper & ref_upper)
        problem += (
            f" (spatial e.g. {_examples(list(spatial_genes)[:3])}; reference e.g. "
            f"{_examples(list(reference_genes)[:3])})"
        )
        if n_ci >= max(min_shared, 2 * n_shared):
            problem += f"; ignoring case they share {n_ci}, so symbol case differs"
            fix = (
                "check that both files have the same species setting (human symbols upper case, "
                "mouse capitalised) or map one to the other's orthologs"
            )
    raise CommstInputError((spatial_path, reference_path), problem, fix)


def estimate_memory(
    n_obs: int,
    n_vars: int,
    *,
    density: float = 0.1,
    n_copies: int = 3,
    dense: bool = False,
) -> int:
    """Rough peak memory in bytes for holding a count matrix during preprocessing.

    Parameters
    ----------
    n_obs, n_vars
        Matrix shape.
    density
        Share of nonzero entries (Visium ≈ 0.05–0.2, Stereo-seq bin50 ≈ 0.01–0.05).
    n_copies
        Copies alive at once (``X``, ``layers['counts']``, a working copy).
    dense
        Whether the matrix is densified (e.g. for a model's input).

    Returns
    -------
    Estimated bytes (CSR float32 with int32 indices, or dense float32).
    """
    if dense:
        per_copy = 4 * n_obs * n_vars
    else:
        nnz = int(density * n_obs * n_vars)
        per_copy = 8 * nnz + 8 * (n_obs + 1)
    return int(n_copies * per_copy)


# --------------------------------------------------------------------------- bundles


def validate_spatial(
    adata: AnnData,
    path: PathLike,
    *,
    species: str,
    allow_non_integer: bool = False,
) -> np.ndarray:
    """Run every check that applies to spatial data.

    Names, emptiness, counts, coordinates and gene symbols, in that order.

    Returns
    -------
    Boolean mask of spots with zero counts (see :func:`check_not_empty`).
    """
    check_unique_names(adata, path)
    empty = check_not_empty(adata, path)
    check_counts(adata, path, allow_non_integer=allow_non_integer)
    check_coordinates(adata, path)
    check_gene_symbols(adata, path, species)
    return empty


def validate_reference(
    adata: AnnData,
    path: PathLike,
    *,
    species: str,
    min_cells: int,
    cell_type_key: str = "cell_type",
    allow_non_integer: bool = False,
) -> np.ndarray:
    """Run every check that applies to a single-cell reference.

    Names, emptiness, counts, cell types and gene symbols, in that order.

    Returns
    -------
    Boolean mask of cells with zero counts (see :func:`check_not_empty`).
    """
    check_unique_names(adata, path)
    empty = check_not_empty(adata, path)
    check_counts(adata, path, allow_non_integer=allow_non_integer)
    check_cell_types(adata, path, cell_type_key, min_cells)
    check_gene_symbols(adata, path, species)
    return empty
