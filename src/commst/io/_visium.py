"""10x Visium: a Space Ranger ``outs/`` folder."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import scanpy as sc
from anndata import AnnData

from .._constants import Keys
from .._errors import CommstInputError
from ._common import PathLike, require_path, spatial_anndata

logger = logging.getLogger("commst.io")

#: Columns of Space Ranger's tissue positions table (v1 file has them without a header).
POSITION_COLUMNS = [
    "barcode",
    "in_tissue",
    "array_row",
    "array_col",
    "pxl_row_in_fullres",
    "pxl_col_in_fullres",
]
#: Position files, newest Space Ranger layout first.
_POSITION_FILES = ("tissue_positions.parquet", "tissue_positions.csv", "tissue_positions_list.csv")
_MATRIX_FIX = (
    "point the sample sheet column spatial at Space Ranger's outs/ folder, which holds filtered_feature_bc_matrix.h5 "
    "(or the filtered_feature_bc_matrix/ folder) and spatial/tissue_positions.csv"
)


def _outs_folder(path: PathLike) -> Path:
    path = require_path(path, kind="folder", fix=_MATRIX_FIX)
    if (path / "outs").is_dir() and not (path / "spatial").is_dir():
        return path / "outs"
    return path


def _read_matrix(outs: Path) -> tuple[AnnData, Path, dict[str, Any]]:
    """Counts from the filtered (or, failing that, raw) feature-barcode matrix."""
    candidates = [
        outs / "filtered_feature_bc_matrix.h5",
        outs / "filtered_feature_bc_matrix",
        outs / "raw_feature_bc_matrix.h5",
        outs / "raw_feature_bc_matrix",
    ]
    source = next((c for c in candidates if c.exists()), None)
    if source is None:
        raise CommstInputError(
            outs,
            "has no feature-barcode matrix (filtered_feature_bc_matrix.h5 or folder)",
            _MATRIX_FIX,
        )
    if source.name.startswith("raw"):
        logger.warning("%s: no filtered matrix, using %s (off-tissue barcodes are dropped)", outs, source.name)
    attrs: dict[str, Any] = {}
    try:
        if source.suffix == ".h5":
            adata = sc.read_10x_h5(source)
            with h5py.File(source, "r") as f:
                for key in ("library_ids", "chemistry_description", "software_version"):
                    if key in f.attrs:
                        value = f.attrs[key]
                        value = value[0] if isinstance(value, np.ndarray) and value.size else value
                        attrs[key] = value.decode() if isinstance(value, bytes) else str(value)
        else:
            adata = sc.read_10x_mtx(source, var_names="gene_symbols", make_unique=False)
    except Exception as err:  # h5py/scanpy raise many types for truncated or foreign files
        raise CommstInputError(
            source,
            f"cannot be read as a 10x feature-barcode matrix ({type(err).__name__}: {err})",
            "re-copy the file from Space Ranger's outs/ folder (it may be truncated)",
        ) from err
    return adata, source, attrs


def _read_positions(spatial_dir: Path) -> tuple[pd.DataFrame, Path]:
    source = next((spatial_dir / n for n in _POSITION_FILES if (spatial_dir / n).exists()), None)
    if source is None:
        raise CommstInputError(
            spatial_dir,
            "has no tissue positions file (tissue_positions.csv or tissue_positions_list.csv)",
            _MATRIX_FIX,
        )
    try:
        if source.suffix == ".parquet":
            pos = pd.read_parquet(source)
        else:
            # utf-8-sig: a table re-saved by Excel as "CSV UTF-8" starts with a byte-order mark
            with source.open(encoding="utf-8-sig") as fh:
                has_header = fh.readline().startswith("barcode")
            pos = pd.read_csv(source, header=0 if has_header else None, encoding="utf-8-sig")
            if not has_header:
                pos.columns = POSITION_COLUMNS[: pos.shape[1]]
    except Exception as err:
        raise CommstInputError(
            source,
            f"cannot be read as a tissue positions table ({type(err).__name__}: {err})",
            _MATRIX_FIX,
        ) from err
    missing = [c for c in POSITION_COLUMNS if c not in pos.columns]
    if missing:
        raise CommstInputError(
            source,
            f"lacks columns {missing} (has {list(pos.columns)})",
            "use the tissue positions file written by Space Ranger: " + ",".join(POSITION_COLUMNS),
        )
    pos["barcode"] = pos["barcode"].astype(str)
    return pos.set_index("barcode"), source


def _read_spatial_meta(spatial_dir: Path, library_id: str, load_images: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"images": {}, "scalefactors": {}, "metadata": {}}
    sf_path = spatial_dir / "scalefactors_json.json"
    if sf_path.exists():
        try:
            entry["scalefactors"] = json.loads(sf_path.read_text())
        except json.JSONDecodeError as err:
            raise CommstInputError(
                sf_path,
                f"is not valid JSON ({err})",
                "re-copy it from Space Ranger's outs/spatial/",
            ) from None
    if load_images:
        from matplotlib.image import imread

        for res in ("hires", "lowres"):
            img = spatial_dir / f"tissue_{res}_image.png"
            if img.exists():
                entry["images"][res] = imread(img)
    return {library_id: entry}


def read_visium(path: PathLike, *, library_id: str | None = None, load_images: bool = True) -> AnnData:
    """Read a Space Ranger ``outs/`` folder.

    Parameters
    ----------
    path
        The ``outs/`` folder (or the sample folder containing it) with
        ``filtered_feature_bc_matrix.h5`` (10x HDF5) or ``filtered_feature_bc_matrix/`` (mtx),
        and ``spatial/tissue_positions.csv`` (Space Ranger ≥ 2, header),
        ``spatial/tissue_positions_list.csv`` (v1, no header) or
        ``spatial/tissue_positions.parquet`` (v3).
    library_id
        Key under ``uns['spatial']``; default: the HDF5 ``library_ids`` attribute, else the
        sample folder's name.
    load_images
        Load ``tissue_hires_image.png``/``tissue_lowres_image.png`` when present (optional).

    Returns
    -------
    AnnData in the common reader layout (see :mod:`commst.io`) holding in-tissue barcodes
    only: var_names are gene symbols (``var['gene_ids']`` keeps the Ensembl IDs),
    ``obs`` has ``in_tissue``, ``array_row``, ``array_col``, ``obsm['spatial']`` is
    (``pxl_col_in_fullres``, ``pxl_row_in_fullres``) as in scanpy/squidpy, and
    ``uns['spatial'][library_id]`` holds ``scalefactors`` (and ``images`` when loaded).

    Raises
    ------
    CommstInputError
        Missing matrix or positions, unreadable files, or matrix barcodes absent from the
        positions table.
    """
    outs = _outs_folder(path)
    adata, matrix_path, attrs = _read_matrix(outs)
    pos, pos_path = _read_positions(outs / "spatial")
    barcodes = adata.obs_names.astype(str)
    unknown = ~barcodes.isin(pos.index)
    if unknown.any():
        raise CommstInputError(
            pos_path,
            f"lacks {int(unknown.sum())} of {len(barcodes)} barcodes of {matrix_path.name} "
            f"(e.g. {', '.join(barcodes[unknown][:3])}): matrix and positions come from different runs",
            "use the matrix and spatial/ folder of the same Space Ranger run",
        )
    pos = pos.loc[barcodes]
    in_tissue = pos["in_tissue"].to_numpy() == 1
    if not in_tissue.all():
        logger.info("%s: dropping %d off-tissue barcodes", path, int((~in_tissue).sum()))
    adata = adata[in_tissue]
    pos = pos[in_tissue]
    if library_id is None:
        library_id = attrs.get("library_ids") or (outs.parent.name if outs.name == "outs" else outs.name)
    obs = pos[["in_tissue", "array_row", "array_col"]].astype(np.int64)
    var = adata.var.copy()
    return spatial_anndata(
        adata.X,
        pos[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(),
        path=path,
        spatial_format="visium",
        obs=obs,
        var=var,
        uns={Keys.uns.spatial: _read_spatial_meta(outs / "spatial", library_id, load_images)},
        allow_duplicate_genes=True,  # features.tsv: several Ensembl IDs can share a symbol
        details={
            "matrix": str(matrix_path),
            "positions": str(pos_path),
            "library_id": library_id,
            **attrs,
        },
    )
