"""Regenerate the reader fixtures in ``tests/data/`` from the bundled lymph node Visium data.

One small real subset (60 spots × 150 genes of the 10x Human Lymph Node Visium sample, as
down-sampled by spacexr; see README.md) is written in every spatial input format CommST
reads, so tests can check that all readers return the same counts, genes and coordinates:

- ``lymph_sp.h5ad``: X log1p-normalised, raw counts in ``layers['counts']``, ``obsm['spatial']``;
- ``visium/outs/``: Space Ranger ≥ 2 layout, ``filtered_feature_bc_matrix.h5`` (10x HDF5 v3
  schema) + ``spatial/tissue_positions.csv`` (with header; 20 extra off-tissue barcodes) +
  ``spatial/scalefactors_json.json``;
- ``visium_v1/outs/``: Space Ranger 1 layout, ``filtered_feature_bc_matrix/`` (mtx) +
  ``spatial/tissue_positions_list.csv`` (no header);
- ``lymph_sp.gem.gz``: Stereo-seq GEM, each spot's UMIs spread over 12 random DNBs inside one
  ``BIN_SIZE`` × ``BIN_SIZE`` bin, rows shuffled; ``gem_bins.csv`` maps barcode → bin name;
- ``lymph_counts.csv.gz`` + ``lymph_coords.csv``: counts table and coordinates table;
- ``lymph_ref.h5ad``: matched scRNA-seq reference subset (``CELLS_PER_TYPE`` cells of each of the
  11 types, raw counts in X, labels in ``obs['annotation']``) over the fixture genes it measures
  plus its ``N_REFERENCE_ONLY_GENES`` most expressed other genes.

Run from the repository root: ``python tests/data/make_fixtures.py``.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scanpy as sc
from scipy import io as spio
from scipy import sparse
from scipy.spatial import cKDTree

from commst._utils import atomic_path

logger = logging.getLogger("make_fixtures")

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "resources" / "demo" / "visium_lymphnode_human_sp.h5ad"
REFERENCE = ROOT / "resources" / "demo" / "visium_lymphnode_human_ref.h5ad"
OUT = Path(__file__).resolve().parent
N_SPOTS = 60
N_TOP_GENES = 100
N_RANDOM_GENES = 50
N_OFF_TISSUE = 20
CELLS_PER_TYPE = 5
N_REFERENCE_ONLY_GENES = 50
BIN_SIZE = 50
DNBS_PER_SPOT = 12
#: Stereo-seq chips have large absolute DNB coordinates; shift bins away from 0 like real data.
BIN_OFFSET = 200
SEED = 0


def subset(source: Path = SOURCE) -> tuple[ad.AnnData, ad.AnnData]:
    """The fixture subset and the off-tissue decoys (other real spots, marked off-tissue)."""
    full = ad.read_h5ad(source)
    xy = np.asarray(full.obsm["spatial"], dtype=np.float64)
    # a contiguous patch: the spots nearest to the median position
    order = np.argsort(np.linalg.norm(xy - np.median(xy, axis=0), axis=1), kind="stable")
    spots = order[:N_SPOTS]
    decoys = order[N_SPOTS : N_SPOTS + N_OFF_TISSUE]
    counts = sparse.csr_matrix(full.X[spots])
    totals = np.asarray(counts.sum(axis=0)).ravel()
    ranked = np.argsort(-totals, kind="stable")
    top = ranked[:N_TOP_GENES]
    rng = np.random.default_rng(SEED)
    rest = ranked[N_TOP_GENES:][totals[ranked[N_TOP_GENES:]] > 0]
    extra = rng.choice(rest, size=N_RANDOM_GENES, replace=False)
    genes = np.sort(np.concatenate([top, extra]))
    sub = full[spots, genes].copy()
    sub.X = sparse.csr_matrix(sub.X, dtype=np.float32)
    assert (np.asarray(sub.X.sum(axis=1)).ravel() > 0).all(), "a fixture spot has no counts"
    return sub, full[decoys, genes].copy()


def grid(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Visium array row/col derived from pixel positions, assuming the 100 µm hexagonal lattice."""
    pitch = float(np.median(cKDTree(xy).query(xy, k=2)[0][:, 1]))
    col = np.rint((xy[:, 0] - xy[:, 0].min()) / (pitch / 2)).astype(np.int64)
    row = np.rint((xy[:, 1] - xy[:, 1].min()) / (pitch * np.sqrt(3) / 2)).astype(np.int64)
    return row, col, pitch


def write_h5ad(sub: ad.AnnData, path: Path) -> None:
    """AnnData with log-normalised X and raw counts in layers['counts']."""
    out = sub.copy()
    out.layers["counts"] = out.X.copy()
    sc.pp.normalize_total(out, target_sum=1e4)
    sc.pp.log1p(out)
    out.uns = {}
    with atomic_path(path) as tmp:
        out.write_h5ad(tmp, compression="gzip")


def write_10x_h5(
    counts: sparse.csr_matrix,
    barcodes: list[str],
    gene_ids: list[str],
    names: list[str],
    path: Path,
) -> None:
    """A Space Ranger/Cell Ranger ≥ 3 feature-barcode matrix (HDF5, ``/matrix`` group)."""
    csr = sparse.csr_matrix(counts)  # barcodes × genes CSR == genes × barcodes CSC, as 10x stores it
    csr.sort_indices()
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["filetype"] = "matrix"
        f.attrs["version"] = 2
        f.attrs["library_ids"] = np.array([b"lymph_fixture"])
        f.attrs["original_gem_groups"] = np.array([1])
        f.attrs["chemistry_description"] = "Spatial 3' v1"
        f.attrs["software_version"] = "commst tests/data/make_fixtures.py"
        m = f.create_group("matrix")
        m.create_dataset("barcodes", data=np.array(barcodes, dtype="S"))
        m.create_dataset("data", data=csr.data.astype(np.int32), compression="gzip")
        m.create_dataset("indices", data=csr.indices.astype(np.int64), compression="gzip")
        m.create_dataset("indptr", data=csr.indptr.astype(np.int64))
        m.create_dataset("shape", data=np.array([csr.shape[1], csr.shape[0]], dtype=np.int32))
        feats = m.create_group("features")
        feats.create_dataset("_all_tag_keys", data=np.array([b"genome"]))
        feats.create_dataset("id", data=np.array(gene_ids, dtype="S"))
        feats.create_dataset("name", data=np.array(names, dtype="S"))
        feats.create_dataset("feature_type", data=np.array(["Gene Expression"] * len(names), dtype="S"))
        feats.create_dataset("genome", data=np.array(["GRCh38"] * len(names), dtype="S"))


def write_gzip_text(text: str, path: Path) -> None:
    """Gzip ``text`` to ``path`` atomically (fixed mtime, so reruns give identical bytes)."""
    with (
        atomic_path(path) as tmp,
        open(tmp, "wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz,
    ):
        gz.write(text.encode())


def write_mtx(
    counts: sparse.csr_matrix,
    barcodes: list[str],
    gene_ids: list[str],
    names: list[str],
    folder: Path,
) -> None:
    """A Space Ranger ≥ 1.0 ``filtered_feature_bc_matrix/`` folder (genes × barcodes mtx)."""
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    spio.mmwrite(buf, sparse.coo_matrix(counts.T.astype(np.int64)), field="integer")
    write_gzip_text(buf.getvalue().decode(), folder / "matrix.mtx.gz")
    write_gzip_text(
        "".join(f"{i}\t{n}\tGene Expression\n" for i, n in zip(gene_ids, names, strict=True)),
        folder / "features.tsv.gz",
    )
    write_gzip_text("".join(f"{b}\n" for b in barcodes), folder / "barcodes.tsv.gz")


def positions_table(sub: ad.AnnData, decoys: ad.AnnData) -> pd.DataFrame:
    """tissue_positions rows: fixture spots in tissue, decoys off tissue (shuffled together)."""
    xy = np.vstack([sub.obsm["spatial"], decoys.obsm["spatial"]])
    row, col, _ = grid(xy)
    pos = pd.DataFrame(
        {
            "barcode": list(sub.obs_names) + list(decoys.obs_names),
            "in_tissue": [1] * sub.n_obs + [0] * decoys.n_obs,
            "array_row": row,
            "array_col": col,
            "pxl_row_in_fullres": xy[:, 1].astype(np.int64),
            "pxl_col_in_fullres": xy[:, 0].astype(np.int64),
        }
    )
    return pos.sample(frac=1.0, random_state=SEED).reset_index(drop=True)


def write_visium(sub: ad.AnnData, decoys: ad.AnnData, outs: Path, *, v1: bool) -> None:
    """Space Ranger outs/: ≥ 2 layout (HDF5 + csv with header) or v1 (mtx + headerless list)."""
    barcodes = list(sub.obs_names)
    names = list(sub.var_names)
    gene_ids = [f"FIXTURE{i:05d}" for i in range(sub.n_vars)]  # the source has no Ensembl IDs
    spatial = outs / "spatial"
    spatial.mkdir(parents=True, exist_ok=True)
    pos = positions_table(sub, decoys)
    if v1:
        write_mtx(sub.X, barcodes, gene_ids, names, outs / "filtered_feature_bc_matrix")
        with atomic_path(spatial / "tissue_positions_list.csv") as tmp:
            pos.to_csv(tmp, index=False, header=False)
        return
    write_10x_h5(sub.X, barcodes, gene_ids, names, outs / "filtered_feature_bc_matrix.h5")
    with atomic_path(spatial / "tissue_positions.csv") as tmp:
        pos.to_csv(tmp, index=False)
    _, _, pitch = grid(np.asarray(sub.obsm["spatial"]))
    # Visium: 55 µm spots on a 100 µm pitch, 89.5 µm fiducials; no images are bundled
    scalefactors = {
        "spot_diameter_fullres": 0.55 * pitch,
        "fiducial_diameter_fullres": 0.895 * pitch,
    }
    with atomic_path(spatial / "scalefactors_json.json") as tmp:
        tmp.write_text(json.dumps(scalefactors, indent=2) + "\n")


def write_gem(sub: ad.AnnData, path: Path, bins_path: Path) -> None:
    """Stereo-seq GEM: every UMI of a spot goes to one of the spot's DNBs inside its bin."""
    rng = np.random.default_rng(SEED)
    row, col, _ = grid(np.asarray(sub.obsm["spatial"]))
    bx, by = col + BIN_OFFSET, row + BIN_OFFSET
    assert len(set(zip(bx, by, strict=True))) == sub.n_obs, "two spots fall into one bin"
    coo = sparse.coo_matrix(sub.X)
    records = []
    for spot in range(sub.n_obs):
        dnb = rng.choice(BIN_SIZE * BIN_SIZE, size=DNBS_PER_SPOT, replace=False)
        dx = bx[spot] * BIN_SIZE + dnb % BIN_SIZE
        dy = by[spot] * BIN_SIZE + dnb // BIN_SIZE
        mask = coo.row == spot
        genes = np.repeat(coo.col[mask], coo.data[mask].astype(np.int64))
        which = rng.integers(0, DNBS_PER_SPOT, size=genes.size)
        records.append(pd.DataFrame({"gene": genes, "x": dx[which], "y": dy[which]}))
    umis = pd.concat(records, ignore_index=True)
    rows = umis.groupby(["gene", "x", "y"], as_index=False).size().rename(columns={"size": "MIDCount"})
    rows = rows.sample(frac=1.0, random_state=SEED).reset_index(drop=True)
    table = pd.DataFrame(
        {
            "geneID": np.asarray(sub.var_names)[rows["gene"]],
            "x": rows["x"],
            "y": rows["y"],
            "MIDCount": rows["MIDCount"],
            "ExonCount": rows["MIDCount"],
        }
    )
    header = "".join(
        f"#{line}\n"
        for line in (
            "FileFormat=GEMv0.1",
            "SortedBy=None",
            "BinSize=1",
            "Stereo-seq_Chip=FIXTURE",
            "OffsetX=0",
            "OffsetY=0",
        )
    )
    write_gzip_text(header + table.to_csv(sep="\t", index=False), path)
    bins = pd.DataFrame({"barcode": sub.obs_names, "bin": [f"{a}_{b}" for a, b in zip(bx, by, strict=True)]})
    with atomic_path(bins_path) as tmp:
        bins.to_csv(tmp, index=False)


def write_csv(sub: ad.AnnData, counts_path: Path, coords_path: Path) -> None:
    """Counts table (spots × genes, integers, gzip) and coordinates table (barcode, x, y)."""
    counts = pd.DataFrame(sub.X.toarray().astype(np.int64), index=sub.obs_names, columns=sub.var_names)
    counts.index.name = "barcode"
    write_gzip_text(counts.to_csv(), counts_path)
    xy = np.asarray(sub.obsm["spatial"])
    coords = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1]}, index=pd.Index(sub.obs_names, name="barcode"))
    with atomic_path(coords_path) as tmp:
        coords.to_csv(tmp)


def write_reference(genes: pd.Index, path: Path, source: Path = REFERENCE) -> None:
    """A few real reference cells per type; labels under a non-default obs key."""
    ref = ad.read_h5ad(source)
    rng = np.random.default_rng(SEED)
    cells = np.concatenate(
        [
            rng.choice(
                np.flatnonzero(ref.obs["cell_type"].to_numpy() == t),
                size=CELLS_PER_TYPE,
                replace=False,
            )
            for t in ref.obs["cell_type"].cat.categories
        ]
    )
    ref = ref[np.sort(cells)].copy()
    shared = [g for g in genes if g in ref.var_names]
    totals = pd.Series(np.asarray(ref.X.sum(axis=0)).ravel(), index=ref.var_names)
    only = totals.drop(shared).sort_values(ascending=False, kind="stable").index[:N_REFERENCE_ONLY_GENES]
    keep = ref.var_names[ref.var_names.isin(shared) | ref.var_names.isin(only)]
    out = ref[:, keep].copy()
    out.X = sparse.csr_matrix(out.X, dtype=np.float32)
    out.obs = pd.DataFrame({"annotation": out.obs["cell_type"].astype(str)}, index=out.obs_names)
    with atomic_path(path) as tmp:
        out.write_h5ad(tmp, compression="gzip")


def main() -> None:
    """Write every fixture into ``tests/data/``."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sub, decoys = subset()
    write_h5ad(sub, OUT / "lymph_sp.h5ad")
    write_visium(sub, decoys, OUT / "visium" / "outs", v1=False)
    write_visium(sub, decoys, OUT / "visium_v1" / "outs", v1=True)
    write_gem(sub, OUT / "lymph_sp.gem.gz", OUT / "gem_bins.csv")
    write_csv(sub, OUT / "lymph_counts.csv.gz", OUT / "lymph_coords.csv")
    write_reference(sub.var_names, OUT / "lymph_ref.h5ad")
    for file in OUT.rglob("*"):
        if file.is_file():
            file.chmod(0o644)  # atomic_path's temporary files are private (0600)
    logger.info(
        "fixtures: %d spots × %d genes, %d counts, written to %s",
        sub.n_obs,
        sub.n_vars,
        int(sub.X.sum()),
        OUT,
    )


if __name__ == "__main__":
    main()
