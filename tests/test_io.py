"""Readers: every format gives the same AnnData for the same real data (tests/data fixtures)."""

from __future__ import annotations

import gzip
import importlib.util
import shutil
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from commst.io import (
    CommstInputError,
    read_csv_spatial,
    read_h5ad_spatial,
    read_reference,
    read_spatial,
    read_stereo_gem,
    read_visium,
    reference_from_anndata,
    spatial_from_anndata,
)

DATA = Path(__file__).parent / "data"
BIN_SIZE = 50

_spec = importlib.util.spec_from_file_location("make_fixtures", DATA / "make_fixtures.py")
make_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_fixtures)

#: (spatial_format, path, keyword arguments) for the same 60 spots × 150 genes in each format.
FORMATS = {
    "h5ad": ("h5ad", DATA / "lymph_sp.h5ad", {}),
    "visium": ("visium", DATA / "visium" / "outs", {}),
    "visium_v1": ("visium", DATA / "visium_v1" / "outs", {}),
    "stereo_gem": ("stereo_gem", DATA / "lymph_sp.gem.gz", {"bin_size": BIN_SIZE}),
    "csv": ("csv", DATA / "lymph_counts.csv.gz", {"coords": DATA / "lymph_coords.csv"}),
}


@pytest.fixture(scope="module")
def truth() -> ad.AnnData:
    """The fixture subset as stored: raw counts in layers['counts'], pixel coordinates."""
    return ad.read_h5ad(DATA / "lymph_sp.h5ad")


@pytest.fixture(scope="module")
def gem_bins() -> pd.Series:
    return pd.read_csv(DATA / "gem_bins.csv", index_col="barcode")["bin"]


def _dense(m: object) -> np.ndarray:
    return m.toarray() if sparse.issparse(m) else np.asarray(m)


def _assert_layout(adata: ad.AnnData, spatial_format: str, path: Path) -> None:
    assert sparse.isspmatrix_csr(adata.X) and adata.X.dtype == np.float32
    assert sparse.isspmatrix_csr(adata.layers["counts"]) and adata.layers["counts"].dtype == np.float32
    assert not np.shares_memory(adata.X.data, adata.layers["counts"].data)
    np.testing.assert_array_equal(_dense(adata.X), _dense(adata.layers["counts"]))
    assert adata.obsm["spatial"].dtype == np.float64 and adata.obsm["spatial"].shape == (
        adata.n_obs,
        2,
    )
    assert adata.obs_names.is_unique and adata.var_names.is_unique
    assert adata.uns["commst_input"]["format"] == spatial_format
    assert adata.uns["commst_input"]["path"] == str(path)


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_format_reads_the_same_data(name: str, truth: ad.AnnData, gem_bins: pd.Series) -> None:
    spatial_format, path, kwargs = FORMATS[name]
    adata = read_spatial(path, spatial_format, **kwargs)
    _assert_layout(adata, spatial_format, path)
    assert adata.shape == truth.shape == (60, 150)
    assert set(adata.var_names) == set(truth.var_names)
    if spatial_format == "stereo_gem":
        adata = adata[gem_bins.loc[truth.obs_names].to_numpy()]
    else:
        assert set(adata.obs_names) == set(truth.obs_names)
        adata = adata[truth.obs_names]
    adata = adata[:, truth.var_names]
    counts = _dense(adata.X)
    np.testing.assert_array_equal(counts, _dense(truth.layers["counts"]))
    assert counts.sum() == 25078  # real UMIs of the 60 spots over the 150 genes
    xy = np.asarray(truth.obsm["spatial"])
    if spatial_format == "stereo_gem":
        # bin centre in DNB units on the fixture's derived lattice: an affine image of the pixels
        for axis in (0, 1):
            r = np.corrcoef(adata.obsm["spatial"][:, axis], xy[:, axis])[0, 1]
            assert r > 0.995  # the lattice rounds away the slide's slight rotation
        bx = adata.obs["bin_x"].to_numpy()
        np.testing.assert_array_equal(adata.obsm["spatial"][:, 0], bx * BIN_SIZE + (BIN_SIZE - 1) / 2)
    else:
        np.testing.assert_array_equal(adata.obsm["spatial"], xy)


def test_h5ad_prefers_counts_layer_over_log_x(truth: ad.AnnData) -> None:
    assert not np.allclose(_dense(truth.X), np.round(_dense(truth.X)))  # X really is log-normalised
    adata = read_spatial(DATA / "lymph_sp.h5ad", "h5ad")
    assert adata.uns["commst_input"]["counts_from"] == "layers['counts']"
    assert np.all(adata.X.data == np.round(adata.X.data))


def test_h5ad_counts_in_x_and_obs_coordinates(tmp_path: Path, truth: ad.AnnData) -> None:
    xy = np.asarray(truth.obsm["spatial"])
    plain = ad.AnnData(
        X=_dense(truth.layers["counts"]),  # dense on purpose
        obs=pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1]}, index=truth.obs_names),
        var=pd.DataFrame(index=truth.var_names),
    )
    plain.write_h5ad(tmp_path / "plain.h5ad")
    adata = read_spatial(tmp_path / "plain.h5ad", "h5ad")
    _assert_layout(adata, "h5ad", tmp_path / "plain.h5ad")
    assert adata.uns["commst_input"]["counts_from"] == "X"
    np.testing.assert_array_equal(adata.obsm["spatial"], xy)
    np.testing.assert_array_equal(_dense(adata.X), _dense(truth.layers["counts"]))


@pytest.mark.parametrize(
    ("axis", "match"), [("var", "1 duplicated gene names: 'SPI1'"), ("obs", "1 duplicated observation")]
)
def test_h5ad_duplicate_names_rejected(tmp_path: Path, truth: ad.AnnData, axis: str, match: str) -> None:
    """Duplicated names in a user's h5ad stop the run: renaming would hide a merge gone wrong."""
    dup = truth.copy()
    names = list(getattr(truth, f"{axis}_names"))
    names[1] = names[0]
    setattr(dup, f"{axis}_names", names)
    dup.write_h5ad(tmp_path / "dup.h5ad")
    with pytest.raises(CommstInputError, match=match) as err:
        read_spatial(tmp_path / "dup.h5ad", "h5ad")
    assert err.value.path == str(tmp_path / "dup.h5ad")
    if axis == "obs":
        ref = truth.copy()
        ref.obs_names = names
        ref.obs["cell_type"] = "B"
        ref.write_h5ad(tmp_path / "ref.h5ad")
        with pytest.raises(CommstInputError, match=match):
            read_reference(tmp_path / "ref.h5ad", "cell_type")


def test_visium_duplicate_symbols_made_unique(tmp_path: Path) -> None:
    """Space Ranger features can share a symbol (different Ensembl IDs): renamed, not rejected."""
    outs = tmp_path / "outs"
    shutil.copytree(DATA / "visium" / "outs", outs)
    import h5py

    with h5py.File(outs / "filtered_feature_bc_matrix.h5", "r+") as f:
        names = f["matrix/features/name"]
        first = names[0]
        names[1] = first
    adata = read_visium(outs)
    assert adata.var_names.is_unique
    assert adata.var_names[1] == f"{first.decode()}-1"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda a: a.obsm.pop("spatial"), "has no coordinates"),
        (lambda a: a.obsm.__setitem__("spatial", np.ones((a.n_obs, 3))), "3 columns"),
    ],
    ids=["no-coordinates", "three-columns"],
)
def test_h5ad_bad_coordinates(tmp_path: Path, truth: ad.AnnData, edit, message: str) -> None:
    bad = truth.copy()
    edit(bad)
    bad.write_h5ad(tmp_path / "bad.h5ad")
    with pytest.raises(CommstInputError, match=message) as err:
        read_spatial(tmp_path / "bad.h5ad", "h5ad")
    assert str(tmp_path / "bad.h5ad") in str(err.value) and "Fix:" in str(err.value)


@pytest.mark.parametrize("name", ["h5ad", "stereo_gem", "csv"])
def test_missing_file_names_the_file(tmp_path: Path, name: str) -> None:
    spatial_format, _, kwargs = FORMATS[name]
    missing = tmp_path / "nope.file"
    with pytest.raises(CommstInputError, match="does not exist") as err:
        read_spatial(missing, spatial_format, **kwargs)
    assert err.value.path == str(missing)


def test_corrupt_files_raise_input_error(tmp_path: Path) -> None:
    full = (DATA / "lymph_sp.h5ad").read_bytes()
    (tmp_path / "trunc.h5ad").write_bytes(full[: len(full) // 2])
    with pytest.raises(CommstInputError, match="cannot be read as an AnnData") as err:
        read_spatial(tmp_path / "trunc.h5ad", "h5ad")
    assert "trunc.h5ad" in str(err.value)
    outs = tmp_path / "outs"
    shutil.copytree(DATA / "visium" / "outs", outs)
    (outs / "filtered_feature_bc_matrix.h5").write_bytes(b"not an hdf5 file")
    with pytest.raises(CommstInputError, match="10x feature-barcode matrix"):
        read_visium(outs)
    (tmp_path / "bin.gem.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(CommstInputError, match="bin.gem.gz"):
        read_stereo_gem(tmp_path / "bin.gem.gz", 50)


def test_unknown_format() -> None:
    with pytest.raises(CommstInputError, match="unknown spatial_format 'slideseq'.*h5ad, visium, stereo_gem, csv"):
        read_spatial(DATA / "lymph_sp.h5ad", "slideseq")


def test_blank_sample_sheet_cells_count_as_not_given() -> None:
    adata = read_spatial(DATA / "lymph_sp.h5ad", "h5ad", bin_size=float("nan"), coords="")
    assert adata.n_obs == 60
    with pytest.raises(CommstInputError, match="positive integer bin_size"):
        read_spatial(DATA / "lymph_sp.gem.gz", "stereo_gem", bin_size=float("nan"))


# ---------------------------------------------------------------------------------- Visium


def test_visium_metadata() -> None:
    adata = read_spatial(DATA / "visium", "visium")  # the sample folder holding outs/ works too
    assert adata.var["gene_ids"].str.startswith("FIXTURE").all()
    assert set(adata.obs.columns) >= {"in_tissue", "array_row", "array_col"}
    assert (adata.obs["in_tissue"] == 1).all()
    lib = adata.uns["commst_input"]["library_id"]
    assert lib == "lymph_fixture"
    assert adata.uns["spatial"][lib]["scalefactors"]["spot_diameter_fullres"] == pytest.approx(75.9, abs=0.5)


def _copy_outs(tmp_path: Path, which: str = "visium") -> Path:
    outs = tmp_path / which / "outs"
    shutil.copytree(DATA / which / "outs", outs)
    return outs


def test_visium_drops_off_tissue_barcodes(tmp_path: Path) -> None:
    outs = _copy_outs(tmp_path)
    pos_file = outs / "spatial" / "tissue_positions.csv"
    pos = pd.read_csv(pos_file)
    on = pos.index[pos["in_tissue"] == 1][:7]
    pos.loc[on, "in_tissue"] = 0
    pos.to_csv(pos_file, index=False)
    adata = read_visium(outs)
    assert adata.n_obs == 53
    assert not set(pos.loc[on, "barcode"]) & set(adata.obs_names)


def test_visium_parquet_positions(tmp_path: Path) -> None:
    outs = _copy_outs(tmp_path)
    csv = outs / "spatial" / "tissue_positions.csv"
    pd.read_csv(csv).to_parquet(outs / "spatial" / "tissue_positions.parquet")
    csv.unlink()
    ref = read_visium(DATA / "visium" / "outs")
    adata = read_visium(outs)
    np.testing.assert_array_equal(adata.obsm["spatial"], ref.obsm["spatial"])


@pytest.mark.parametrize(
    ("remove", "message"),
    [
        ("spatial/tissue_positions.csv", "has no tissue positions file"),
        ("filtered_feature_bc_matrix.h5", "has no feature-barcode matrix"),
    ],
)
def test_visium_missing_parts(tmp_path: Path, remove: str, message: str) -> None:
    outs = _copy_outs(tmp_path)
    (outs / remove).unlink()
    with pytest.raises(CommstInputError, match=message):
        read_visium(outs)


def test_visium_positions_from_another_run(tmp_path: Path) -> None:
    outs = _copy_outs(tmp_path, "visium_v1")
    pos_file = outs / "spatial" / "tissue_positions_list.csv"
    pos = pd.read_csv(pos_file, header=None)
    pos = pos[~pos[0].isin(pos[0][pos[1] == 1][:4])]
    pos.to_csv(pos_file, header=False, index=False)
    with pytest.raises(CommstInputError, match="lacks 4 of 60 barcodes"):
        read_visium(outs)


def test_visium_duplicated_symbols_made_unique(tmp_path: Path, truth: ad.AnnData) -> None:
    outs = _copy_outs(tmp_path)
    names = list(truth.var_names)
    names[1] = names[0]  # two Ensembl IDs, one symbol: happens in real 10x references
    ids = [f"ENSG{i:011d}" for i in range(len(names))]
    make_fixtures.write_10x_h5(
        truth.layers["counts"],
        list(truth.obs_names),
        ids,
        names,
        outs / "filtered_feature_bc_matrix.h5",
    )
    adata = read_visium(outs)
    assert adata.var_names.is_unique and f"{names[0]}-1" in adata.var_names
    assert adata.var.loc[f"{names[0]}-1", "gene_ids"] == ids[1]


# ---------------------------------------------------------------------------------- GEM


def test_gem_chunks_do_not_change_the_result() -> None:
    whole = read_stereo_gem(DATA / "lymph_sp.gem.gz", BIN_SIZE)
    chunked = read_stereo_gem(DATA / "lymph_sp.gem.gz", BIN_SIZE, chunksize=997, verbose=False)
    assert chunked.uns["commst_input"]["n_rows"] == whole.uns["commst_input"]["n_rows"] > 10 * 997
    np.testing.assert_array_equal(chunked.obs_names, whole.obs_names)
    np.testing.assert_array_equal(_dense(chunked.X), _dense(whole.X))


def test_gem_other_bin_sizes() -> None:
    dnb = read_stereo_gem(DATA / "lymph_sp.gem.gz", 1, verbose=False)
    assert dnb.n_obs == 60 * 12  # 12 DNBs per spot
    np.testing.assert_array_equal(dnb.obsm["spatial"], dnb.obs[["bin_x", "bin_y"]].to_numpy(float))
    coarse = read_stereo_gem(DATA / "lymph_sp.gem.gz", 4 * BIN_SIZE, verbose=False)
    assert coarse.n_obs < 60
    assert coarse.X.sum() == dnb.X.sum() == 25078
    np.testing.assert_array_equal(np.asarray(coarse.X.sum(0)), np.asarray(dnb.X.sum(0)))


def _gem_lines() -> list[str]:
    with gzip.open(DATA / "lymph_sp.gem.gz", "rt") as fh:
        return fh.read().splitlines(keepends=True)


@pytest.mark.parametrize("count_column", ["MIDCounts", "UMICount"])
def test_gem_count_column_names_and_plain_text(tmp_path: Path, count_column: str) -> None:
    lines = _gem_lines()
    i = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    lines[i] = lines[i].replace("MIDCount", count_column, 1)
    (tmp_path / "chip.gem").write_text("".join(lines))
    adata = read_stereo_gem(tmp_path / "chip.gem", BIN_SIZE, verbose=False)
    assert adata.uns["commst_input"]["count_column"] == count_column
    assert adata.X.sum() == 25078


def test_gem_gene_name_column(tmp_path: Path) -> None:
    table = pd.read_csv(DATA / "lymph_sp.gem.gz", sep="\t", comment="#")
    table.insert(1, "geneName", table["geneID"])
    table["geneID"] = "ID_" + table["geneID"]
    table.to_csv(tmp_path / "named.gem", sep="\t", index=False)
    adata = read_stereo_gem(tmp_path / "named.gem", BIN_SIZE, verbose=False)
    assert (adata.var["gene_ids"] == "ID_" + adata.var_names).all()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("#FileFormat=GEMv0.1\ngene\tx\ty\tMIDCount\nA\t1\t2\t3\n", r"lacks columns \['geneID'\]"),
        ("geneID\tx\ty\tcounts\nA\t1\t2\t3\n", r"lacks columns \['MIDCount'\]"),
        ("geneID\tx\ty\tMIDCount\nA\tleft\t2\t3\n", "malformed rows"),
        ("#only=comments\n", "no column header"),
        ("geneID\tx\ty\tMIDCount\n", "no data rows"),
    ],
    ids=["no-gene", "no-count", "text-coordinate", "only-comments", "no-rows"],
)
def test_gem_malformed(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "bad.gem").write_text(content)
    with pytest.raises(CommstInputError, match=message):
        read_stereo_gem(tmp_path / "bad.gem", 10, verbose=False)


@pytest.mark.parametrize("bin_size", [None, 0, 2.5])
def test_gem_needs_bin_size(bin_size: object) -> None:
    with pytest.raises(CommstInputError, match="bin_size"):
        read_spatial(DATA / "lymph_sp.gem.gz", "stereo_gem", bin_size=bin_size)


# ---------------------------------------------------------------------------------- CSV


@pytest.fixture(scope="module")
def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    counts = pd.read_csv(DATA / "lymph_counts.csv.gz", index_col=0)
    coords = pd.read_csv(DATA / "lymph_coords.csv", index_col=0)
    return counts, coords


@pytest.mark.parametrize(
    ("counts_name", "coords_columns", "transpose"),
    [
        ("counts.tsv", ["x", "y"], False),
        ("counts.tsv.gz", ["imagecol", "imagerow"], False),
        ("counts.csv", ["pos_a", "pos_b"], False),  # first two numeric columns
        ("counts.txt", ["xcoord", "ycoord"], False),  # Slide-seq bead locations
        ("genes_by_spots.csv", ["X", "Y"], True),
    ],
)
def test_csv_variants(tmp_path: Path, tables, counts_name: str, coords_columns: list[str], transpose: bool) -> None:
    counts, coords = tables
    out = counts.T if transpose else counts
    out.to_csv(tmp_path / counts_name, sep="," if ".csv" in counts_name else "\t")
    xy = coords.set_axis(coords_columns, axis=1)
    xy.insert(0, "label", "spot")  # a text column the coordinate detection must skip
    xy.to_csv(tmp_path / "xy.csv")
    adata = read_csv_spatial(tmp_path / counts_name, tmp_path / "xy.csv")
    assert adata.uns["commst_input"]["transposed"] is transpose
    assert adata.uns["commst_input"]["coordinate_columns"] == coords_columns
    np.testing.assert_array_equal(_dense(adata.X), counts.to_numpy())
    np.testing.assert_array_equal(adata.obsm["spatial"], coords.to_numpy())
    assert list(adata.var_names) == list(counts.columns)


def test_csv_coordinates_are_matched_by_id(tmp_path: Path, tables) -> None:
    counts, coords = tables
    coords.iloc[::-1].to_csv(tmp_path / "rev.csv")
    adata = read_csv_spatial(DATA / "lymph_counts.csv.gz", tmp_path / "rev.csv")
    np.testing.assert_array_equal(adata.obsm["spatial"], coords.loc[counts.index].to_numpy())


@pytest.mark.parametrize(
    ("edit_counts", "edit_coords", "message"),
    [
        (None, lambda c: c.iloc[:-2], "2 of 60 counts rows have no coordinates"),
        (
            None,
            lambda c: pd.concat([c, c.iloc[:1].rename(index=lambda i: "extra")]),
            "1 coordinate rows have no counts",
        ),
        (lambda t: t.assign(**{t.columns[0]: "a lot"}), None, "non-numeric count columns"),
        (lambda t: pd.concat([t, t.iloc[:1]]), None, "duplicated spot ids"),
        (None, lambda c: c.assign(x="left"), "coordinate column 'x' is not numeric"),
        (None, lambda c: c.set_axis(["a", "b"], axis=1).assign(a="left"), "no coordinate columns"),
    ],
    ids=["missing-coords", "extra-coords", "text-counts", "duplicate-ids", "text-x", "one-numeric"],
)
def test_csv_errors(tmp_path: Path, tables, edit_counts, edit_coords, message: str) -> None:
    counts, coords = tables
    (edit_counts or (lambda t: t))(counts).to_csv(tmp_path / "counts.csv")
    (edit_coords or (lambda t: t))(coords).to_csv(tmp_path / "coords.csv")
    with pytest.raises(CommstInputError, match=message) as err:
        read_csv_spatial(tmp_path / "counts.csv", tmp_path / "coords.csv")
    assert "counts.csv" in str(err.value) or "coords.csv" in str(err.value)


def test_csv_needs_coordinates() -> None:
    with pytest.raises(CommstInputError, match="needs a coordinates table"):
        read_spatial(DATA / "lymph_counts.csv.gz", "csv")


# ---------------------------------------------------------------------------------- reference


def test_read_reference() -> None:
    ref = read_reference(DATA / "lymph_ref.h5ad", "annotation")
    assert ref.shape == (55, 172)
    assert isinstance(ref.obs["cell_type"].dtype, pd.CategoricalDtype)
    assert ref.obs["cell_type"].value_counts().to_dict() == {t: 5 for t in ref.obs["cell_type"].cat.categories}
    assert len(ref.obs["cell_type"].cat.categories) == 11
    assert sparse.isspmatrix_csr(ref.X) and ref.X.dtype == np.float32
    assert not np.shares_memory(ref.X.data, ref.layers["counts"].data)
    assert np.all(ref.X.data == np.round(ref.X.data))
    assert ref.uns["commst_input"]["cell_type_key"] == "annotation"


def test_read_reference_prefers_counts_layer_and_keeps_missing_labels(tmp_path: Path) -> None:
    src = ad.read_h5ad(DATA / "lymph_ref.h5ad")
    src.layers["counts"] = src.X.copy()
    src.X = np.log1p(src.X)
    src.obs["level"] = np.arange(src.n_obs) % 3  # numeric labels become strings
    src.obs.loc[src.obs_names[0], "annotation"] = np.nan
    src.write_h5ad(tmp_path / "ref.h5ad")
    ref = read_reference(tmp_path / "ref.h5ad", "annotation")
    assert ref.uns["commst_input"]["counts_from"] == "layers['counts']"
    assert np.all(ref.X.data == np.round(ref.X.data))
    assert ref.obs["cell_type"].isna().sum() == 1
    level = read_reference(tmp_path / "ref.h5ad", "level")
    assert list(level.obs["cell_type"].cat.categories) == ["0", "1", "2"]


def test_read_reference_unknown_key() -> None:
    with pytest.raises(CommstInputError, match="has no obs column 'cell_type'.*annotation") as err:
        read_reference(DATA / "lymph_ref.h5ad", "cell_type")
    assert "cell_type_key" in err.value.fix


def test_in_memory_anndata_gives_the_reader_layout(tmp_path: Path, truth: ad.AnnData) -> None:
    """An AnnData in memory becomes what the h5ad readers give for the same file, and is left as it was."""
    src = ad.read_h5ad(DATA / "lymph_ref.h5ad")
    before = src.copy()
    ref = reference_from_anndata(src, "annotation")
    on_disk = read_reference(DATA / "lymph_ref.h5ad", "annotation")
    assert (ref.X != on_disk.X).nnz == 0 and ref.obs["cell_type"].equals(on_disk.obs["cell_type"])
    assert ref.uns["commst_input"]["format"] == "anndata" and "cell_type" not in src.obs
    assert (src.X != before.X).nnz == 0 and list(src.obs.columns) == list(before.obs.columns)
    with pytest.raises(CommstInputError, match="reference AnnData: has no obs column 'celltype'") as err:
        reference_from_anndata(src, "celltype")
    assert "cell_type_key=" in err.value.fix
    truth.write_h5ad(tmp_path / "spatial.h5ad")
    spatial = spatial_from_anndata(truth)
    from_file = read_h5ad_spatial(tmp_path / "spatial.h5ad")
    assert (spatial.X != from_file.X).nnz == 0
    np.testing.assert_array_equal(spatial.obsm["spatial"], from_file.obsm["spatial"])
    no_coords = truth.copy()
    del no_coords.obsm["spatial"]
    with pytest.raises(CommstInputError, match="spatial AnnData: has no coordinates"):
        spatial_from_anndata(no_coords)


# ------------------------------------------------------------------ byte-order marks (Excel "CSV UTF-8")

BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize("which", ["visium", "visium_v1"])
def test_visium_positions_with_a_byte_order_mark(tmp_path: Path, which: str) -> None:
    """Positions re-saved by Excel start with a BOM; with a header (v2) or without (v1) they read the same."""
    outs = _copy_outs(tmp_path, which)
    pos_file = next((outs / "spatial").glob("tissue_positions*.csv"))
    pos_file.write_bytes(BOM + pos_file.read_bytes())
    ref = read_visium(DATA / which / "outs")
    adata = read_visium(outs)
    assert adata.n_obs == ref.n_obs == 60
    np.testing.assert_array_equal(adata.obsm["spatial"], ref.obsm["spatial"])


def test_gem_and_csv_tables_with_a_byte_order_mark(tmp_path: Path) -> None:
    gem = tmp_path / "bom.gem"
    gem.write_bytes(BOM + gzip.decompress((DATA / "lymph_sp.gem.gz").read_bytes()))
    ref = read_stereo_gem(DATA / "lymph_sp.gem.gz", BIN_SIZE, verbose=False)
    adata = read_stereo_gem(gem, BIN_SIZE, verbose=False)
    assert adata.uns["commst_input"]["header"] == ref.uns["commst_input"]["header"]
    np.testing.assert_array_equal(_dense(adata.X), _dense(ref.X))
    counts, coords = tmp_path / "counts.csv", tmp_path / "coords.csv"
    counts.write_bytes(BOM + gzip.decompress((DATA / "lymph_counts.csv.gz").read_bytes()))
    coords.write_bytes(BOM + (DATA / "lymph_coords.csv").read_bytes())
    table = read_csv_spatial(counts, coords)
    same = read_csv_spatial(DATA / "lymph_counts.csv.gz", DATA / "lymph_coords.csv")
    assert list(table.obs_names) == list(same.obs_names) and list(table.var_names) == list(same.var_names)


# -------------------------------------------------------------------------- orientation


def _hot_corner_layout() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 6 × 8 spot grid (row down, column right) and counts of gene HOT: high in the top-left
    corner of the tissue (rows 0-1, columns 0-1), low elsewhere; gene FLAT the same everywhere."""
    rows, cols = np.meshgrid(np.arange(6), np.arange(8), indexing="ij")
    rows, cols = rows.ravel(), cols.ravel()
    hot = np.where((rows < 2) & (cols < 2), 50, 1)
    return rows, cols, np.column_stack([hot, np.full_like(hot, 5)])


def _hot_panel(adata: ad.AnnData) -> tuple[np.ndarray, np.ndarray, np.ndarray, object]:
    """Draw gene HOT with commst.pl.spot_map; return its spots' data and display positions, and the axes."""
    import matplotlib.pyplot as plt

    from commst import pl

    fig = pl.spot_map(adata, ["HOT"])
    ax = fig.axes[0]
    # the coloured spots (squidpy's outline, when drawn, comes first)
    points = [c for c in ax.collections if len(c.get_offsets()) == adata.n_obs and c.get_array() is not None][-1]
    offsets = np.asarray(points.get_offsets(), dtype=float)
    fig.canvas.draw()
    display = ax.transData.transform(offsets)
    plt.close(fig)
    return offsets, display, points.get_array(), ax


def test_visium_and_gem_of_one_tissue_are_drawn_the_same_way_up(tmp_path: Path) -> None:
    """The same tissue written as a Space Ranger folder (pixel row down) and as a Stereo-seq GEM
    (chip x, y): both readers keep image orientation and every map puts the hot corner top-left,
    from the coordinates alone (the Visium image and its scale factor are not used)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.image import imsave

    rows, cols, counts = _hot_corner_layout()
    barcodes = [f"r{r}c{c}-1" for r, c in zip(rows, cols, strict=True)]
    outs = tmp_path / "visium" / "outs"
    (outs / "spatial").mkdir(parents=True)
    make_fixtures.write_10x_h5(
        sparse.csr_matrix(counts), barcodes, ["ENSG1", "ENSG2"], ["HOT", "FLAT"], outs / "filtered_feature_bc_matrix.h5"
    )
    pd.DataFrame(
        {
            "barcode": barcodes,
            "in_tissue": 1,
            "array_row": rows,
            "array_col": cols,
            "pxl_row_in_fullres": 2000 + 100 * rows,
            "pxl_col_in_fullres": 1000 + 100 * cols,
        }
    ).to_csv(outs / "spatial" / "tissue_positions.csv", index=False)
    (outs / "spatial" / "scalefactors_json.json").write_text(
        '{"tissue_hires_scalef": 0.1, "spot_diameter_fullres": 55.0, "fiducial_diameter_fullres": 90.0}'
    )
    imsave(outs / "spatial" / "tissue_hires_image.png", np.zeros((300, 200, 3)))
    gem = tmp_path / "tissue.gem"
    lines = ["#FileFormat=GEMv0.1", "geneID\tx\ty\tMIDCount"]
    for r, c, (hot, flat) in zip(rows, cols, counts, strict=True):
        x, y = 50 * (200 + c) + 7, 50 * (300 + r) + 11  # one DNB inside bin (200 + column, 300 + row)
        lines += [f"HOT\t{x}\t{y}\t{hot}", f"FLAT\t{x}\t{y}\t{flat}"]
    gem.write_text("\n".join(lines) + "\n")

    visium, stereo = read_visium(outs), read_stereo_gem(gem, BIN_SIZE)
    assert visium.uns["spatial"][next(iter(visium.uns["spatial"]))]["images"]  # an image is there to be misused
    for adata in (visium, stereo):
        offsets, display, values, ax = _hot_panel(adata)
        # drawn from obsm['spatial'] itself: no scale factor, no image
        np.testing.assert_allclose(np.sort(offsets, axis=0), np.sort(adata.obsm["spatial"], axis=0))
        assert not ax.images and ax.yaxis_inverted()
        hot = np.asarray(values) > 10
        assert hot.sum() == 4
        # display coordinates grow right and up: the hot corner is left of and above every other spot
        assert display[hot, 0].max() < display[~hot, 0].mean() and display[hot, 1].min() > display[~hot, 1].mean()
        left, right = ax.get_xlim()
        bottom, top = ax.get_ylim()
        assert left < right and top < bottom  # x to the right, y down (image rows)
