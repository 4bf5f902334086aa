"""Stereo-seq GEM files (tab-separated DNB-level counts), binned into square spots."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse
from tqdm.auto import tqdm

from .._errors import CommstInputError
from ._common import PathLike, require_path, spatial_anndata

logger = logging.getLogger("commst.io")

#: Accepted names of the count column, in order of preference.
COUNT_COLUMNS = ("MIDCount", "MIDCounts", "UMICount", "UMICounts")
_GEM_FIX = (
    "pass a Stereo-seq GEM file: tab-separated, optional '#' header lines, columns geneID, x, y "
    "and MIDCount (or MIDCounts/UMICount)"
)


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _open_text(path: Path) -> IO[str]:
    # utf-8-sig: a byte-order mark (Excel, some exporters) is not part of the first line
    return gzip.open(path, "rt", encoding="utf-8-sig") if _is_gzip(path) else path.open("rt", encoding="utf-8-sig")


def _read_preamble(path: Path) -> tuple[dict[str, str], int, list[str]]:
    """The '#key=value' header, how many lines it spans, and the column names."""
    header: dict[str, str] = {}
    n_comment = 0
    try:
        with _open_text(path) as fh:
            for line in fh:
                if not line.startswith("#"):
                    columns = line.rstrip("\r\n").split("\t")
                    break
                n_comment += 1
                key, _, value = line[1:].strip().partition("=")
                if key:
                    header[key.strip()] = value.strip()
            else:
                raise CommstInputError(path, "has no column header line (empty GEM)", _GEM_FIX)
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise CommstInputError(
            path, f"cannot be read as a text GEM file ({type(err).__name__}: {err})", _GEM_FIX
        ) from err
    return header, n_comment, columns


def read_stereo_gem(
    path: PathLike,
    bin_size: int | None,
    *,
    chunksize: int = 2_000_000,
    verbose: bool = True,
) -> AnnData:
    """Read a Stereo-seq GEM / GEM.gz file and sum DNB counts into square bins.

    DNB ``(x, y)`` goes to bin ``(x // bin_size, y // bin_size)``. The file is read in chunks
    of ``chunksize`` rows, each chunk is summed per (bin, gene), and the partial sums are
    added up in a sparse COO → CSR conversion, so memory follows the number of non-empty
    (bin, gene) pairs rather than the file size.

    Parameters
    ----------
    path
        GEM file, plain or gzip-compressed; leading ``#key=value`` lines are kept as header.
        Columns: ``geneID`` (``geneName`` too in newer files: then it gives var_names and
        ``geneID`` goes to ``var['gene_ids']``), ``x``, ``y`` and ``MIDCount``
        (or ``MIDCounts``/``UMICount``).
    bin_size
        Bin edge in DNBs (e.g. 50 for bin50 ≈ 25 µm); 1 keeps single DNBs.
    chunksize
        Rows per chunk.
    verbose
        Show a progress bar over chunks.

    Returns
    -------
    AnnData in the common reader layout (see :mod:`commst.io`): bins named ``"{bx}_{by}"``
    (sorted by ``bx`` then ``by``), ``obs['bin_x']``/``obs['bin_y']`` the bin indices,
    ``obsm['spatial']`` the bin centre in DNB coordinates
    (``b * bin_size + (bin_size - 1) / 2``, so ``bin_size=1`` gives the DNB itself), genes
    sorted by name, and the GEM header in ``uns['commst_input']['header']``.

    Raises
    ------
    CommstInputError
        Missing ``bin_size``, missing file or columns, non-numeric coordinates or counts.
    """
    path = require_path(path)
    if bin_size is None or int(bin_size) != bin_size or bin_size < 1:
        raise CommstInputError(
            path,
            f"stereo_gem needs a positive integer bin_size, got {bin_size!r}",
            "set bin_size in the sample sheet (e.g. 50 for bin50, about 25 µm)",
        )
    bin_size = int(bin_size)
    header, n_comment, columns = _read_preamble(path)
    count_col = next((c for c in COUNT_COLUMNS if c in columns), None)
    missing = [c for c in ("geneID", "x", "y") if c not in columns] + ([] if count_col else ["MIDCount"])
    if missing:
        raise CommstInputError(path, f"lacks columns {missing} (found {columns})", _GEM_FIX)
    gene_col = "geneName" if "geneName" in columns else "geneID"
    usecols = sorted({gene_col, "geneID", "x", "y", count_col}, key=columns.index)

    gene_index: dict[str, int] = {}
    gene_ids: dict[str, str] = {}
    parts: list[pd.DataFrame] = []
    n_rows = 0
    try:
        reader = pd.read_csv(
            path,
            sep="\t",
            skiprows=n_comment,
            header=0,
            usecols=usecols,
            dtype={gene_col: str, "geneID": str},
            chunksize=chunksize,
            compression="gzip" if _is_gzip(path) else None,
            encoding="utf-8-sig",
        )
        for chunk in tqdm(reader, desc=f"GEM {path.name}", unit="chunk", disable=not verbose):
            n_rows += len(chunk)
            codes, uniques = pd.factorize(chunk[gene_col])
            for name in uniques:
                gene_index.setdefault(name, len(gene_index))
            if gene_col != "geneID":
                gene_ids.update(zip(chunk[gene_col], chunk["geneID"], strict=True))
            to_global = np.fromiter((gene_index[name] for name in uniques), dtype=np.int64, count=len(uniques))
            x = pd.to_numeric(chunk["x"], errors="raise").to_numpy(np.int64)
            y = pd.to_numeric(chunk["y"], errors="raise").to_numpy(np.int64)
            counts = pd.to_numeric(chunk[count_col], errors="raise").to_numpy(np.float64)
            part = pd.DataFrame({"bx": x // bin_size, "by": y // bin_size, "gene": to_global[codes], "n": counts})
            parts.append(part.groupby(["bx", "by", "gene"], sort=False, as_index=False)["n"].sum())
    except CommstInputError:
        raise
    except (ValueError, TypeError, OSError, EOFError, pd.errors.ParserError) as err:
        raise CommstInputError(path, f"has malformed rows ({type(err).__name__}: {err})", _GEM_FIX) from err
    if n_rows == 0:
        raise CommstInputError(path, "has a header but no data rows", _GEM_FIX)

    table = pd.concat(parts, ignore_index=True)
    bins = table[["bx", "by"]].drop_duplicates().sort_values(["bx", "by"], ignore_index=True)
    bin_code = pd.MultiIndex.from_frame(bins).get_indexer(pd.MultiIndex.from_frame(table[["bx", "by"]]))
    names = np.array(list(gene_index), dtype=object)
    order = np.argsort(names, kind="stable")
    new_pos = np.empty_like(order)
    new_pos[order] = np.arange(order.size)
    matrix = sparse.coo_matrix(
        (table["n"].to_numpy(), (bin_code, new_pos[table["gene"].to_numpy()])),
        shape=(len(bins), names.size),
    ).tocsr()  # duplicates (same bin and gene from several chunks) are summed here
    bx = bins["bx"].to_numpy()
    by = bins["by"].to_numpy()
    obs = pd.DataFrame(
        {"bin_x": bx, "bin_y": by},
        index=pd.Index([f"{a}_{b}" for a, b in zip(bx, by, strict=True)], name="bin"),
    )
    var = pd.DataFrame(index=pd.Index(names[order].astype(str), name=None))
    if gene_ids:
        var["gene_ids"] = [gene_ids[g] for g in names[order]]
    centre = (bin_size - 1) / 2
    coords = np.column_stack([bx * bin_size + centre, by * bin_size + centre]).astype(np.float64)
    details: dict[str, Any] = {
        "bin_size": bin_size,
        "count_column": count_col,
        "n_rows": n_rows,
        "header": header,
    }
    return spatial_anndata(matrix, coords, path=path, spatial_format="stereo_gem", obs=obs, var=var, details=details)
