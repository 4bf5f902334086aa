"""Plain tables: a counts table plus a coordinates table."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from .._errors import CommstInputError
from ._common import PathLike, require_path, spatial_anndata

logger = logging.getLogger("commst.io")

#: Coordinate column pairs (x, y) recognised by name, case-insensitively; first match wins.
COORD_COLUMN_PAIRS = (
    ("x", "y"),
    ("imagecol", "imagerow"),
    ("pxl_col_in_fullres", "pxl_row_in_fullres"),
    ("xcoord", "ycoord"),
)
_COUNTS_FIX = "write the counts table as spots × genes with the spot id in the first column (header: id, gene names)"
_COORDS_FIX = "write the coordinates table with the spot id in the first column and columns x, y"


#: Text encoding of the tables: UTF-8, with or without the byte-order mark Excel's "CSV UTF-8" writes.
_ENCODING = "utf-8-sig"


def _sep(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    return "\t" if name.endswith((".tsv", ".txt", ".tab")) else ","


def _read_header(path: Path, fix: str) -> list[str]:
    try:
        head = pd.read_csv(path, sep=_sep(path), encoding=_ENCODING, nrows=0, index_col=0)
    except Exception as err:  # pandas raises many types on binary or malformed files
        raise CommstInputError(path, f"cannot be read as a table ({type(err).__name__}: {err})", fix) from err
    return [str(c) for c in head.columns]


def _read_coords(path: Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, sep=_sep(path), encoding=_ENCODING, index_col=0)
    except Exception as err:
        raise CommstInputError(path, f"cannot be read as a table ({type(err).__name__}: {err})", _COORDS_FIX) from err
    table.index = table.index.astype(str)
    lower = {str(c).lower(): c for c in table.columns}
    pair = next(((lower[a], lower[b]) for a, b in COORD_COLUMN_PAIRS if a in lower and b in lower), None)
    if pair is None:
        numeric = [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])]
        if len(numeric) < 2:
            raise CommstInputError(
                path,
                f"has no coordinate columns (columns: {list(table.columns)[:10]}; need x/y, "
                "imagecol/imagerow or two numeric columns)",
                _COORDS_FIX,
            )
        pair = (numeric[0], numeric[1])
        logger.info("%s: using columns %s and %s as x and y", path, *pair)
    coords = table[list(pair)]
    for col in pair:
        if not pd.api.types.is_numeric_dtype(coords[col]):
            raise CommstInputError(path, f"coordinate column {col!r} is not numeric", _COORDS_FIX)
    if coords.index.duplicated().any():
        dup = coords.index[coords.index.duplicated()].unique()
        raise CommstInputError(path, f"{len(dup)} duplicated spot ids (e.g. {', '.join(dup[:3])})", _COORDS_FIX)
    return coords


def _read_counts(path: Path, chunksize: int) -> tuple[sparse.csr_matrix, pd.Index, pd.Index]:
    """Counts as CSR (rows of the file × columns), read ``chunksize`` rows at a time."""
    blocks: list[sparse.csr_matrix] = []
    index: list[pd.Index] = []
    columns: pd.Index | None = None
    try:
        for chunk in pd.read_csv(path, sep=_sep(path), encoding=_ENCODING, index_col=0, chunksize=chunksize):
            columns = chunk.columns.astype(str)
            bad = [c for c in chunk.columns if not pd.api.types.is_numeric_dtype(chunk[c])]
            if bad:
                raise CommstInputError(path, f"has non-numeric count columns {[str(b) for b in bad[:5]]}", _COUNTS_FIX)
            blocks.append(sparse.csr_matrix(chunk.to_numpy(dtype=np.float32)))
            index.append(chunk.index.astype(str))
    except CommstInputError:
        raise
    except Exception as err:
        raise CommstInputError(path, f"cannot be read as a table ({type(err).__name__}: {err})", _COUNTS_FIX) from err
    if columns is None or not blocks:
        raise CommstInputError(path, "has no data rows", _COUNTS_FIX)
    return sparse.vstack(blocks, format="csr"), pd.Index(np.concatenate(index)), columns


def read_csv_spatial(path: PathLike, coords: PathLike | None, *, chunksize: int = 1000) -> AnnData:
    """Read a counts table plus a coordinates table.

    Parameters
    ----------
    path
        Counts table, spots × genes, spot id in the first column (``.csv``, ``.tsv``,
        ``.txt``, optionally ``.gz``). A genes × spots table (header = spot ids of the
        coordinates table) is recognised and transposed.
    coords
        Coordinates table: spot id in the first column and columns ``x``/``y``,
        ``imagecol``/``imagerow``, ``pxl_col_in_fullres``/``pxl_row_in_fullres``,
        ``xcoord``/``ycoord`` (Slide-seq; any case),
        or else the first two numeric columns.
    chunksize
        Rows of the counts table converted to sparse at a time.

    Returns
    -------
    AnnData in the common reader layout (see :mod:`commst.io`), spots in the counts table's
    order; ``uns['commst_input']['coords']`` is the coordinates file.

    Raises
    ------
    CommstInputError
        Missing or unreadable files, non-numeric values, duplicated ids, or spot ids that
        differ between the two tables.
    """
    path = require_path(path)
    if coords is None:
        raise CommstInputError(
            path,
            "spatial_format csv needs a coordinates table",
            "set the sample sheet column spatial_coords to it",
        )
    coords_path = require_path(coords)
    xy = _read_coords(coords_path)
    header = _read_header(path, _COUNTS_FIX)
    transposed = len(header) > 0 and set(header) == set(xy.index)
    matrix, rows, cols = _read_counts(path, chunksize)
    if transposed:
        logger.info("%s: header holds the spot ids, reading the table as genes × spots", path)
        matrix, rows, cols = matrix.T.tocsr(), cols, rows
    if rows.duplicated().any():
        dup = rows[rows.duplicated()].unique()
        raise CommstInputError(path, f"{len(dup)} duplicated spot ids (e.g. {', '.join(dup[:3])})", _COUNTS_FIX)
    no_xy = rows[~rows.isin(xy.index)]
    extra = xy.index[~xy.index.isin(rows)]
    if len(no_xy) or len(extra):
        raise CommstInputError(
            (path, coords_path),
            f"spot ids differ: {len(no_xy)} of {len(rows)} counts rows have no coordinates "
            f"(e.g. {', '.join(no_xy[:3])}) and {len(extra)} coordinate rows have no counts "
            f"(e.g. {', '.join(extra[:3])})",
            "use the same spot ids in the first column of both tables (drop extra rows)",
        )
    return spatial_anndata(
        matrix,
        xy.loc[rows].to_numpy(),
        path=path,
        spatial_format="csv",
        obs=pd.DataFrame(index=rows),
        var=pd.DataFrame(index=cols),
        details={
            "coords": str(coords_path),
            "coordinate_columns": [str(c) for c in xy.columns],
            "transposed": transposed,
        },
    )
