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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

__all__ = [
    "CommstInputError",
    "DataSize",
    "MemoryEstimate",
    "MemoryLimit",
    "check_cell_types",
    "check_coordinates",
    "check_counts",
    "check_gene_symbols",
    "check_memory",
    "check_after_qc",
    "check_neighbours",
    "check_not_empty",
    "check_prior_file",
    "check_shared_genes",
    "check_unique_names",
    "estimate_memory",
    "memory_limit",
    "neighbour_setting",
    "peek_size",
    "preflight_memory",
    "read_lr_table",
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


def _shown_key(adata: AnnData, key: str) -> str:
    """The user's name of the label column (the reader copies obs[cell_type_key] to obs['cell_type'])."""
    return adata.uns.get("commst_input", {}).get("cell_type_key", key) if key == "cell_type" else key


@_doc
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
            f"has no cell-type column {key!r} in obs (columns: {_examples(adata.obs.columns, 20)})",
            "set cell_type_key in the sample sheet to the obs column holding the labels",
        )
    labels = adata.obs[key]
    shown = _shown_key(adata, key)
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
            f"obs[{shown!r}] has {len(counts)} cell type(s) ({_examples(counts.index)}){note}; at least 2 are needed",
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


def _symbol_column(adata: AnnData, known: frozenset[str] | None = None) -> str | None:
    """A var column whose values look like gene symbols (known ones, when ``known`` is given)."""
    for col in _SYMBOL_COLUMNS:
        if col not in adata.var or adata.var[col].dtype.kind in "biuf":
            continue
        values = adata.var[col].astype(str)
        if known is not None:
            if values.isin(known).mean() >= 0.5:
                return col
        elif values.str.match(_ENSEMBL).mean() < 0.5:
            return col
    return None


#: Below this share of known symbols (either species, any case) the var_names are not gene symbols.
MIN_KNOWN_SYMBOLS = 0.1


def _known_symbols() -> dict[str, frozenset[str]]:
    from .priors import known_symbols

    return {s: known_symbols(s) for s in SPECIES}


@_doc
def check_gene_symbols(adata: AnnData, path: PathLike, species: str) -> None:
    """Check that ``var_names`` are gene symbols of ``species``.

    Names are looked up in the bundled symbol tables of both species
    (:func:`commst.priors.known_symbols`: current symbols, aliases and orthologs, exact case):
    fewer than :data:`MIN_KNOWN_SYMBOLS` of them known in either species (ignoring case) means
    the names are not symbols at all; more than half known only in the other species means the
    sample's species is wrong.

    Parameters
    ----------
    {common}
    species
        ``"human"`` or ``"mouse"``.

    Raises
    ------
    CommstInputError
        Most var_names are Ensembl IDs or unknown names (the fix names a var column with
        symbols when there is one), or most symbols are the other species'.
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
    known = _known_symbols()
    any_case = {g.upper() for symbols in known.values() for g in symbols}
    is_known = names.str.upper().isin(any_case)
    if is_known.mean() < MIN_KNOWN_SYMBOLS:
        unknown = names[~is_known]
        col = _symbol_column(adata, known[species] | known["mouse" if species == "human" else "human"])
        fix = (
            f"use the gene symbols in var[{col!r}]: adata.var['gene_ids'] = adata.var_names; "
            f"adata.var_names = adata.var[{col!r}].astype(str); adata.var_names_make_unique()"
            if col is not None
            else "use gene symbols as var_names, or name the var column that holds them "
            "(adata.var_names = adata.var['<column>'].astype(str)) and save the file again"
        )
        raise CommstInputError(
            path,
            f"{int(is_known.sum())} of {len(names)} genes are known human or mouse symbols "
            f"(e.g. {_examples(unknown, 3)})",
            fix,
        )
    other = "mouse" if species == "human" else "human"
    own = names.isin(known[species])
    wrong = names.isin(known[other]) & ~own
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

    ``impute.knn.k`` for ``knn``, ``model.k_neighbours`` for ``commst``, ``(None, None)`` for
    other methods (they have no such setting).
    """
    method = config.get("impute", {}).get("method", "knn")
    if method == "knn":
        return config.get("impute", {}).get("knn", {}).get("k"), "impute.knn.k"
    if method == "commst":
        return config.get("model", {}).get("k_neighbours"), "model.k_neighbours"
    return None, None


def check_neighbours(k: int, n_cells: int, *, key: str, path: PathLike) -> None:
    """Check that a spot can have ``k`` distinct reference neighbours.

    Parameters
    ----------
    k
        Neighbours per spot (``impute.knn.k`` or ``model.k_neighbours``).
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


# --------------------------------------------------------------------------- memory

#: Bytes per stored entry of a CSR count matrix as the readers hold it: float32 value + int32
#: column index (plus 8 bytes per row for the int64 row pointer).
_CSR_ENTRY_BYTES = 8
#: Resident memory of the Python process before any data: interpreter, numpy/scipy/pandas,
#: anndata, scanpy and scikit-learn (measured ≈ 0.33 GB RSS after the imports of preprocess),
#: plus the LR table and alias map; torch adds ≈ 0.35 GB for the model (``commst``).
_BASE_BYTES = {"preprocess": 512 * 2**20, "knn": 512 * 2**20, "commst": 1024 * 2**20}
#: Preprocess holds, besides what reading the file holds, about four CSR copies of each matrix
#: (reader's X and layers['counts'], harmonised copy, normalised X + counts).
_PREPROCESS_COPIES = 4
#: knn: per spot/cell × input gene, the dense float64 log-profile, its z-score (two temporaries)
#: and the PCA transform: 4 × 8 bytes.
_KNN_INPUT_BYTES = 32
#: knn: per spot × LR target, the dense neighbour means, squares, spread, expressing count,
#: expected counts and uncertainty (float64) plus the output layers (float32): ≈ 40 bytes.
_KNN_TARGET_BYTES = 40
#: commst: per spot × LR target, decoder output, neighbour mean/variance/fraction, prediction,
#: counts, uncertainty and temporaries (float32) plus the output layers: ≈ 80 bytes.
_COMMST_TARGET_BYTES = 80
#: commst: rows encoded at once (model chunk) and the dense-thinning cap (model ``_DENSE_MAX``).
_COMMST_CHUNK = 4096
_COMMST_DENSE_MAX = 20_000_000

#: Impute methods :func:`estimate_memory` knows; others are estimated like ``knn``.
MEMORY_METHODS = ("knn", "commst")


def _matrix_bytes(mat: Any) -> int:
    if sparse.issparse(mat):
        return int(sum(a.nbytes for a in (mat.data, mat.indices, mat.indptr)))
    if isinstance(mat, pd.DataFrame):
        return int(sum(np.asarray(mat[c]).nbytes for c in mat.columns))
    return int(np.asarray(mat).nbytes)


def _stored_matrices(adata: AnnData) -> list[Any]:
    """Every matrix reading the file holds: X, layers, obsm, obsp and .raw's X."""
    mats = [adata.X, *adata.layers.values(), *adata.obsm.values(), *adata.obsp.values()]
    if adata.raw is not None:
        mats.append(adata.raw.X)
    return [m for m in mats if m is not None]


@dataclass(frozen=True)
class DataSize:
    """Size of one input: the counts matrix's shape and non-zeros, and what reading it holds.

    Attributes
    ----------
    n_obs, n_vars
        Spots/cells and genes.
    nnz
        Non-zero counts (of ``layers['counts']`` when present, else ``X``).
    stored_bytes
        Memory the matrices of the file take once read, as stored: ``X``, every layer, every
        ``obsm`` and ``obsp`` entry and ``.raw``'s matrix.
    var_names
        Gene names, when known (they give the shared genes and the LR targets exactly).
    """

    n_obs: int
    n_vars: int
    nnz: int
    stored_bytes: int
    var_names: tuple[str, ...] | None = None

    @property
    def csr_bytes(self) -> int:
        """Bytes of one CSR float32 copy of the counts (the readers' layout)."""
        return _CSR_ENTRY_BYTES * self.nnz + 8 * (self.n_obs + 1)

    @property
    def density(self) -> float:
        """Share of non-zero entries."""
        return self.nnz / max(self.n_obs * self.n_vars, 1)

    @classmethod
    def from_anndata(cls, adata: AnnData) -> DataSize:
        """Size of data already read (used where the file format cannot be peeked at)."""
        counts = adata.layers.get("counts", adata.X)
        if counts is None:
            nnz = 0
        elif sparse.issparse(counts):
            nnz = int(counts.nnz)
        else:
            nnz = int(np.count_nonzero(counts))
        return cls(
            adata.n_obs,
            adata.n_vars,
            nnz,
            sum(_matrix_bytes(m) for m in _stored_matrices(adata)),
            tuple(map(str, adata.var_names)),
        )


#: Most entries of a dense matrix read to estimate its share of non-zeros (4 MiB of float32).
_DENSE_SAMPLE = 2**20


def _h5_matrix_size(elem: Any) -> tuple[tuple[int, ...], int, int]:
    """(shape, nnz, bytes in memory) of an h5ad matrix element, from metadata and a small sample."""
    import h5py

    if isinstance(elem, h5py.Group):
        if "data" in elem and "indptr" in elem:  # sparse (csr/csc): data, indices, indptr
            shape = tuple(int(x) for x in elem.attrs["shape"])
            data, indices, indptr = elem["data"], elem["indices"], elem["indptr"]
            nnz = int(data.shape[0])
            nbytes = nnz * (data.dtype.itemsize + indices.dtype.itemsize)
            nbytes += int(indptr.shape[0]) * indptr.dtype.itemsize
            return shape, nnz, nbytes
        # a data frame (obsm) or other group: the bytes of its datasets, no non-zero count
        sizes: list[int] = []
        elem.visititems(
            lambda _, obj: sizes.append(int(np.prod(obj.shape)) * obj.dtype.itemsize)
            if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "biuf"
            else None
        )
        return (), 0, sum(sizes)
    shape = tuple(int(x) for x in elem.shape)
    nbytes = int(np.prod(shape)) * elem.dtype.itemsize
    if len(shape) != 2 or not shape[0] or not shape[1]:
        return shape, int(np.prod(shape)), nbytes
    # a bounded block of rows (all of them for small matrices): never loads the matrix
    n_cols = min(shape[1], _DENSE_SAMPLE)
    n_rows = max(1, min(shape[0], _DENSE_SAMPLE // n_cols))
    block = elem[:n_rows, :n_cols]
    nnz = round(np.count_nonzero(block) / block.size * shape[0] * shape[1])
    return shape, nnz, nbytes


def peek_size(path: PathLike, spatial_format: str = "h5ad") -> DataSize | None:
    """Size of an input read from its metadata, without loading the matrix.

    Reads the shapes, dtypes and non-zero counts of ``X``, every layer, ``obsm``, ``obsp`` and
    ``.raw`` from the HDF5 metadata, the gene names, and for a dense matrix a block of at most
    2²⁰ entries to estimate its share of non-zeros: a few MB whatever the file holds.

    Parameters
    ----------
    path
        Input file.
    spatial_format
        Only ``"h5ad"`` (spatial data or reference) can be peeked at; the other formats are
        text or folders whose size is known only after reading (their readers stream).

    Returns
    -------
    The size, or ``None`` when the format cannot be peeked at or the file cannot be opened
    (the reader then reports what is wrong with it).
    """
    if spatial_format != "h5ad" or not Path(path).is_file():
        return None
    try:
        import h5py
        from anndata.io import read_elem

        with h5py.File(path, "r") as f:
            elems = {"X": f["X"]} if "X" in f else {}
            for group in ("layers", "obsm", "obsp"):
                if group in f:
                    elems.update({f"{group}/{k}": f[group][k] for k in f[group]})
            if "raw" in f and "X" in f["raw"]:
                elems["raw/X"] = f["raw"]["X"]
            sizes = {k: _h5_matrix_size(v) for k, v in elems.items()}
            var = f["var"]
            var_names = tuple(map(str, read_elem(var[var.attrs["_index"]])))
            obs = f["obs"]
            n_obs = int(obs[obs.attrs["_index"]].shape[0])
    except Exception as err:  # noqa: BLE001 - unreadable files are the reader's to report
        logger.debug("%s: cannot peek at the size (%s); estimating after reading", path, err)
        return None
    counts = sizes.get("layers/counts", sizes.get("X"))
    nnz = counts[1] if counts is not None else 0
    return DataSize(n_obs, len(var_names), nnz, sum(s[2] for s in sizes.values()), var_names)


@dataclass(frozen=True)
class MemoryEstimate:
    """Estimated peak memory (bytes) of the preprocess and impute jobs of one sample.

    Attributes
    ----------
    preprocess, impute
        Peak resident memory of each job.
    method
        Imputation method the ``impute`` figure is for.
    n_spots, n_cells, n_input, n_targets
        The sizes it was computed from (``n_input`` and ``n_targets`` are upper bounds
        before preprocessing: genes shared by both files, LR genes of the reference).
    """

    preprocess: int
    impute: int
    method: str
    n_spots: int
    n_cells: int
    n_input: int
    n_targets: int

    @property
    def peak(self) -> int:
        """The larger of the two jobs' peaks."""
        return max(self.preprocess, self.impute)

    def describe(self) -> str:
        """One line with both figures and the sizes they come from."""
        return (
            f"preprocess ≈ {self.preprocess / 2**30:.2f} GiB, impute ({self.method}) ≈ "
            f"{self.impute / 2**30:.2f} GiB for {self.n_spots} spots, {self.n_cells} reference cells, "
            f"≤ {self.n_input} input genes and ≤ {self.n_targets} LR targets"
        )


def estimate_memory(
    spatial: DataSize,
    reference: DataSize,
    *,
    method: str = "knn",
    lr_genes: Sequence[str] | set[str] | None = None,
) -> MemoryEstimate:
    """Estimate the peak memory of preprocessing and imputing one spatial/reference pair.

    With ``S``/``C`` spots/cells, ``csr(·)`` one CSR float32 copy of the counts
    (8 bytes per non-zero), ``I`` input genes (≤ genes in both files), ``T`` LR targets
    (≤ LR genes of the reference) and ``B`` the process's own memory (0.5 GiB; 1 GiB with
    torch)::

        preprocess = B + stored(spatial) + stored(reference) + 4 × (csr(spatial) + csr(reference))
        knn        = B + 2 × (csr(spatial) + csr(reference)) + 32 × I × (S + C) + 40 × T × S
        commst     = B + 2 × (csr(spatial) + csr(reference)) + 16 × min(C × I, 2·10⁷)
                       + 24 × 4096 × I + 80 × T × S

    ``stored`` is what reading the file holds (every layer, at its stored dtype). The
    per-entry byte counts follow the arrays each step allocates (knn: dense float64
    log-profiles of the input genes, then dense spots × targets arrays; commst: spots ×
    targets arrays of the imputation, the reference densified for thinning). Measured on the
    bundled demo (tracemalloc, ``tests/test_validate.py``) the terms come out within a factor
    of 1.5 of the allocations; the estimate errs on the high side because ``I`` and ``T`` are
    upper bounds.

    Parameters
    ----------
    spatial, reference
        Sizes of the two inputs (:func:`peek_size` or :meth:`DataSize.from_anndata`).
    method
        Imputation method (``knn`` or ``commst``; others are estimated like ``knn``).
    lr_genes
        Genes of the LR database; with the files' gene names they bound ``T``. Without them
        ``T`` is bounded by the reference's genes.

    Returns
    -------
    The estimate of both jobs.
    """
    if spatial.var_names is not None and reference.var_names is not None:
        ref_genes = set(reference.var_names)
        n_input = len(set(spatial.var_names) & ref_genes)
        n_targets = len(ref_genes & set(lr_genes)) if lr_genes is not None else len(ref_genes)
    else:
        n_input = min(spatial.n_vars, reference.n_vars)
        n_targets = min(len(set(lr_genes)), reference.n_vars) if lr_genes is not None else reference.n_vars
    S, C, I, T = spatial.n_obs, reference.n_obs, n_input, n_targets
    csr = spatial.csr_bytes + reference.csr_bytes
    preprocess = (
        _BASE_BYTES["preprocess"]
        + spatial.stored_bytes
        + reference.stored_bytes
        + _PREPROCESS_COPIES * csr
    )
    if method == "commst":
        impute = (
            _BASE_BYTES["commst"]
            + 2 * csr
            + 16 * min(C * I, _COMMST_DENSE_MAX)
            + 24 * _COMMST_CHUNK * I
            + _COMMST_TARGET_BYTES * T * S
        )
    else:
        impute = (
            _BASE_BYTES["knn"] + 2 * csr + _KNN_INPUT_BYTES * I * (S + C) + _KNN_TARGET_BYTES * T * S
        )
    return MemoryEstimate(int(preprocess), int(impute), method, S, C, I, T)


@dataclass(frozen=True)
class MemoryLimit:
    """Memory a job may use, in bytes, and where that number comes from."""

    bytes: int
    source: str


def available_memory() -> int:
    """Memory available to a new process now (psutil when installed, else ``os.sysconf``)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with the lock file
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    return int(psutil.virtual_memory().available)


def memory_limit(max_memory_gb: float | None = None, mem_mb: float | None = None) -> MemoryLimit:
    """The memory budget of a job.

    Parameters
    ----------
    max_memory_gb
        ``preprocess.max_memory_gb`` of the config; wins when set.
    mem_mb
        The job's ``resources.mem_mb`` (what the scheduler reserves and enforces).

    Returns
    -------
    The first of the two that is set, else the memory available on this machine now.
    """
    if max_memory_gb is not None:
        return MemoryLimit(int(float(max_memory_gb) * 2**30), f"preprocess.max_memory_gb = {max_memory_gb:g}")
    if mem_mb is not None:
        return MemoryLimit(int(float(mem_mb) * 2**20), f"the job's mem_mb = {float(mem_mb):g}")
    return MemoryLimit(available_memory(), "memory available on this machine")


def check_memory(
    spatial: DataSize | AnnData,
    reference: DataSize | AnnData,
    paths: Sequence[PathLike],
    *,
    limit: MemoryLimit,
    method: str = "knn",
    lr_genes: Sequence[str] | set[str] | None = None,
) -> MemoryEstimate:
    """Stop before the heavy work when the sample needs more memory than the job has.

    Parameters
    ----------
    spatial, reference
        Sizes of the inputs (or the data already read).
    paths
        The spatial file and the reference (named in the message).
    limit
        What the job may use (:func:`memory_limit`).
    method, lr_genes
        See :func:`estimate_memory`.

    Returns
    -------
    The estimate (logged), when it fits.

    Raises
    ------
    CommstInputError
        The estimated peak exceeds ``limit``; the message gives both numbers, the sizes
        behind the estimate and what to change.
    """
    sizes = [x if isinstance(x, DataSize) else DataSize.from_anndata(x) for x in (spatial, reference)]
    est = estimate_memory(sizes[0], sizes[1], method=method, lr_genes=lr_genes)
    logger.info("memory estimate: %s; limit %.2f GiB (%s)", est.describe(), limit.bytes / 2**30, limit.source)
    if est.peak <= limit.bytes:
        return est
    need_mb = int(np.ceil(est.peak * 1.25 / 2**20 / 1000) * 1000)
    fix = (
        f"give the jobs more memory (e.g. --set-resources preprocess:mem_mb={need_mb} "
        f"impute:mem_mb={need_mb} train:mem_mb={need_mb}, or set-resources in the profile), or set "
        f"preprocess.max_memory_gb in the config where the machine has that much; or make the "
        "sample smaller: bin Stereo-seq data larger (bin_size: memory falls with its square), "
        "crop the section or subset the reference to fewer cells"
    )
    if est.impute > est.preprocess and method == "knn":
        fix += "; knn densifies spots × input genes, so a spatial panel with fewer genes also helps"
    raise CommstInputError(
        paths,
        f"needs an estimated {est.peak / 2**30:.1f} GiB of memory ({est.describe()}) but the job "
        f"may use {limit.bytes / 2**30:.1f} GiB ({limit.source})",
        fix,
    )


def preflight_memory(
    spatial_path: PathLike,
    reference_path: PathLike,
    *,
    spatial_format: str,
    limit: MemoryLimit,
    method: str = "knn",
    lr_genes: Sequence[str] | set[str] | None = None,
    spatial: AnnData | None = None,
    reference: AnnData | None = None,
) -> bool:
    """Memory check of preprocess: before reading when the files can be peeked at, else after.

    Call it once before reading (without ``spatial``/``reference``); when it returns
    ``False`` (a format whose size is known only after reading) call it again with the data
    read, before any other work.

    Returns
    -------
    Whether the check ran.

    Raises
    ------
    CommstInputError
        See :func:`check_memory`.
    """
    if spatial is not None and reference is not None:
        sizes: tuple[DataSize | AnnData | None, ...] = (spatial, reference)
    else:
        sizes = (peek_size(spatial_path, spatial_format), peek_size(reference_path, "h5ad"))
    if any(s is None for s in sizes):
        return False
    check_memory(sizes[0], sizes[1], (spatial_path, reference_path), limit=limit, method=method, lr_genes=lr_genes)
    return True


# --------------------------------------------------------------------------- prior files

#: Columns each prior artefact must have.
_PRIOR_COLUMNS = {"lr": ("ligand", "receptor"), "ppi": ("gene_1", "gene_2", "weight")}
_PRIOR_FIX = (
    "rebuild the priors: delete results/priors/{species}/ and run the workflow again (rules priors_*); "
    "for a custom file, write it with the same columns as the bundled artefacts"
)


def _wrong_species(names: Sequence[str], species: str) -> tuple[int, str] | None:
    """``(n, other species)`` when most symbols look like the other species' symbols."""
    s = pd.Series(list(map(str, names)))
    if s.empty:
        return None
    mouse_like = s.str.contains(_MOUSE) & ~s.str.match(_HUMAN)
    human_like = s.str.match(_HUMAN) & ~mouse_like
    wrong = mouse_like if species == "human" else human_like
    if wrong.mean() > 0.5:
        return int(wrong.sum()), "mouse" if species == "human" else "human"
    return None


def _check_prior_species(path: PathLike, names: Sequence[str], species: str, what: str) -> None:
    wrong = _wrong_species(names, species)
    if wrong is not None:
        n, other = wrong
        raise CommstInputError(
            path,
            f"{n} of {len(names)} {what} look {other} but the sample's species is {species}",
            _PRIOR_FIX.format(species=species) + f"; or set species: {other} in the sample sheet",
        )


def read_lr_table(path: PathLike, species: str) -> pd.DataFrame:
    """Read and check an LR resource artefact (``lr_resource.tsv``).

    Parameters
    ----------
    path
        Tab-separated table with ``ligand`` and ``receptor`` columns.
    species
        The sample's species; the table's gene symbols must be of this species.

    Returns
    -------
    The table.

    Raises
    ------
    CommstInputError
        Missing or unreadable file, missing columns, no rows, or symbols of the other species.
    """
    fix = _PRIOR_FIX.format(species=species)
    path = Path(path)
    if not path.is_file():
        raise CommstInputError(path, "LR resource file does not exist", fix)
    try:
        lr = pd.read_csv(path, sep="\t")
    except Exception as err:  # noqa: BLE001 - any parser/IO error means the same to the user
        raise CommstInputError(path, f"cannot be read as a tab-separated LR table ({type(err).__name__}: {err})", fix) from None
    _require_columns(lr, path, "lr", fix)
    lr = lr.dropna(subset=["ligand", "receptor"])
    if lr.empty:
        raise CommstInputError(path, "LR table has no ligand-receptor pairs", fix)
    genes = sorted({g for col in ("ligand", "receptor") for x in lr[col].astype(str) for g in x.split("_") if g})
    _check_prior_species(path, genes, species, "LR genes")
    return lr


def _require_columns(df: pd.DataFrame, path: PathLike, kind: str, fix: str) -> None:
    missing = [c for c in _PRIOR_COLUMNS[kind] if c not in df.columns]
    if missing:
        raise CommstInputError(
            path, f"lacks column(s) {missing} (columns: {_examples(df.columns, 8)})", fix
        )


def check_prior_file(path: PathLike, kind: str, species: str) -> None:
    """Check that a prior artefact is readable, complete and of the sample's species.

    Parameters
    ----------
    path
        ``lr_resource.tsv`` (``kind="lr"``), ``ppi_edges.parquet`` (``"ppi"``, parquet or TSV)
        or ``ligand_target.npz`` (``"ligand_target"``).
    kind
        Which artefact.
    species
        The sample's species.

    Raises
    ------
    CommstInputError
        Missing, unreadable or truncated file, missing columns/arrays, or gene symbols of the
        other species.
    ValueError
        Unknown ``kind``.
    """
    if kind == "lr":
        read_lr_table(path, species)
        return
    fix = _PRIOR_FIX.format(species=species)
    path = Path(path)
    if not path.is_file():
        raise CommstInputError(path, f"{kind} prior file does not exist", fix)
    if kind == "ppi":
        try:
            df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, sep="\t")
        except Exception as err:  # noqa: BLE001
            raise CommstInputError(path, f"cannot be read as a PPI edge table ({type(err).__name__}: {err})", fix) from None
        _require_columns(df, path, "ppi", fix)
        if not pd.api.types.is_numeric_dtype(df["weight"]):
            raise CommstInputError(path, f"column 'weight' is not numeric (dtype {df['weight'].dtype})", fix)
        genes = pd.unique(pd.concat([df["gene_1"], df["gene_2"]]).astype(str))
        _check_prior_species(path, genes[:5000], species, "PPI genes")
        return
    if kind == "ligand_target":
        keys = ("data", "indices", "indptr", "shape", "targets", "ligands")
        try:
            with np.load(path, allow_pickle=False) as z:
                missing = [k for k in keys if k not in z.files]
                if missing:
                    raise CommstInputError(path, f"ligand-target matrix lacks array(s) {missing}", fix)
                names = [str(x) for x in z["ligands"]] + [str(x) for x in z["targets"][:5000]]
                sparse.csc_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
        except CommstInputError:
            raise
        except Exception as err:  # noqa: BLE001 - zip/npy/shape errors of a corrupt file
            raise CommstInputError(
                path, f"cannot be read as a ligand-target matrix (.npz; {type(err).__name__}: {err})", fix
            ) from None
        _check_prior_species(path, names, species, "ligand/target genes")
        return
    raise ValueError(f"kind must be 'lr', 'ppi' or 'ligand_target', got {kind!r}")

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
    min_cells: int | None = None,
    cell_type_key: str = "cell_type",
    allow_non_integer: bool = False,
) -> np.ndarray:
    """Run every check that applies to a single-cell reference.

    Names, emptiness, counts, cell types and gene symbols, in that order. Rare cell types
    (``min_cells``) are only warned about; :func:`commst.pp.prepare` judges them after QC.

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
