"""Validation layer: every check passes on the real fixtures and catches each kind of bad input."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from scipy import sparse

from commst import validate as v
from commst.io import read_reference, read_spatial
from commst.validate import CommstInputError

DATA = Path(__file__).parent / "data"
SP = DATA / "lymph_sp.h5ad"
REF = DATA / "lymph_ref.h5ad"


@pytest.fixture
def spatial() -> ad.AnnData:
    return read_spatial(SP, "h5ad")


@pytest.fixture
def reference() -> ad.AnnData:
    return read_reference(REF, "annotation")


def _raises(
    func: Callable[..., object], *args: object, match: str, **kwargs: object
) -> CommstInputError:
    with pytest.raises(CommstInputError, match=match) as err:
        func(*args, **kwargs)
    message = str(err.value)
    assert message.startswith(str(err.value.path) + ": ") and ". Fix: " in message
    assert err.value.problem and err.value.fix
    return err.value


# ------------------------------------------------------------------------------- the error


def test_error_message_has_file_problem_fix() -> None:
    err = CommstInputError(
        Path("a/b.h5ad"),
        "contains negative values (min -1.2): looks log-normalised or scaled",
        "pass raw UMI counts (layers['counts']) or set allow_non_counts: true",
    )
    assert str(err) == (
        "a/b.h5ad: contains negative values (min -1.2): looks log-normalised or scaled. "
        "Fix: pass raw UMI counts (layers['counts']) or set allow_non_counts: true."
    )
    assert isinstance(err, ValueError)
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.fix == err.fix
    pair = CommstInputError(
        ["sp.h5ad", Path("ref.h5ad")], "share 3 genes.", "use the same species."
    )
    assert str(pair) == "sp.h5ad and ref.h5ad: share 3 genes. Fix: use the same species."


# ------------------------------------------------------------------------------- real data pass


@pytest.mark.parametrize(
    ("spatial_format", "path", "kwargs"),
    [
        ("h5ad", SP, {}),
        ("visium", DATA / "visium" / "outs", {}),
        ("visium", DATA / "visium_v1" / "outs", {}),
        ("stereo_gem", DATA / "lymph_sp.gem.gz", {"bin_size": 50}),
        ("csv", DATA / "lymph_counts.csv.gz", {"coords": DATA / "lymph_coords.csv"}),
    ],
)
def test_every_reader_output_validates(spatial_format: str, path: Path, kwargs: dict) -> None:
    adata = read_spatial(path, spatial_format, **kwargs)
    empty = v.validate_spatial(adata, path, species="human")
    assert empty.shape == (60,) and not empty.any()


def test_reference_validates(reference: ad.AnnData) -> None:
    empty = v.validate_reference(reference, REF, species="human", min_cells=5)
    assert not empty.any()


# ------------------------------------------------------------------------------- counts


def _log_normalised(a: ad.AnnData) -> None:
    sc.pp.normalize_total(a, target_sum=1e4)
    sc.pp.log1p(a)


def _scaled(a: ad.AnnData) -> None:
    _log_normalised(a)
    a.X = sparse.csr_matrix(sc.pp.scale(a.X.toarray(), copy=True))


def _total_normalised(a: ad.AnnData) -> None:
    sc.pp.normalize_total(a, target_sum=1e4)


def _nan(a: ad.AnnData) -> None:
    a.X.data[3] = np.nan


def _inf(a: ad.AnnData) -> None:
    a.X.data[:2] = np.inf


@pytest.mark.parametrize(
    ("corrupt", "match"),
    [
        (
            _log_normalised,
            r"non-integer values .* looks log1p-normalised \(expm1 row sums all ≈ 1e\+04\)",
        ),
        (_total_normalised, "looks normalised to a fixed total per row"),
        (_scaled, r"negative values \(min -\d.*looks scaled"),
        (_nan, "1 NaN or infinite values"),
        (_inf, "2 NaN or infinite values"),
    ],
    ids=["log1p", "normalize_total", "scaled", "nan", "inf"],
)
def test_check_counts_rejects(spatial: ad.AnnData, corrupt, match: str) -> None:
    v.check_counts(spatial, SP)  # raw counts pass
    corrupt(spatial)
    err = _raises(v.check_counts, spatial, SP, match=match)
    assert "raw" in err.fix


def test_check_counts_layer_and_dense(spatial: ad.AnnData) -> None:
    src = ad.read_h5ad(SP)  # X log-normalised, layers['counts'] raw
    _raises(v.check_counts, src, SP, match="log1p-normalised")
    v.check_counts(src, SP, layer="counts")
    dense = ad.AnnData(np.array([[0.0, 1.5], [2.0, 0.0]]))
    _raises(v.check_counts, dense, "d.h5ad", match=r"1 non-integer values \(e.g. 1.5\)")


def test_check_counts_allow_non_integer_warns(spatial: ad.AnnData, caplog) -> None:
    spatial.X = spatial.X * 0.9  # ambient-corrected-like
    _raises(v.check_counts, spatial, SP, match="non-integer")
    with caplog.at_level(logging.WARNING, logger="commst.validate"):
        v.check_counts(spatial, SP, allow_non_integer=True)
    assert "non-integer" in caplog.text
    spatial.X.data[0] = -1
    _raises(v.check_counts, spatial, SP, allow_non_integer=True, match="negative")


# ------------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("axis", "match"),
    [("obs", "2 duplicated observation"), ("var", "1 duplicated gene names")],
)
def test_check_unique_names(spatial: ad.AnnData, axis: str, match: str) -> None:
    v.check_unique_names(spatial, SP)
    names = list(getattr(spatial, f"{axis}_names"))
    names[1] = names[0]
    if axis == "obs":
        names[3] = names[2]
    setattr(spatial, f"{axis}_names", names)
    _raises(v.check_unique_names, spatial, SP, match=match)


# ------------------------------------------------------------------------------- coordinates


def _drop(a: ad.AnnData) -> None:
    del a.obsm["spatial"]


def _three(a: ad.AnnData) -> None:
    a.obsm["spatial"] = np.ones((a.n_obs, 3))


def _text(a: ad.AnnData) -> None:
    a.obsm["spatial"] = np.array([["left", "up"]] * a.n_obs, dtype=object)


def _nan_xy(a: ad.AnnData) -> None:
    xy = a.obsm["spatial"].copy()
    xy[[4, 7, 9], 1] = np.nan
    a.obsm["spatial"] = xy


def _same(a: ad.AnnData) -> None:
    a.obsm["spatial"] = np.zeros((a.n_obs, 2))


@pytest.mark.parametrize(
    ("corrupt", "match"),
    [
        (_drop, r"has no spatial coordinates \(obsm\['spatial'\] missing"),
        (_three, r"shape \(60, 3\), expected \(60, 2\)"),
        (_text, "is not numeric"),
        (_nan_xy, "3 of 60 spots have NaN or infinite coordinates"),
        (_same, r"all 60 spots have the same coordinates \(0, 0\)"),
    ],
    ids=["missing", "three-columns", "text", "nan", "identical"],
)
def test_check_coordinates(spatial: ad.AnnData, corrupt, match: str) -> None:
    v.check_coordinates(spatial, SP)
    corrupt(spatial)
    _raises(v.check_coordinates, spatial, SP, match=match)


def test_check_coordinates_accepts_dataframe(spatial: ad.AnnData) -> None:
    spatial.obsm["spatial"] = pd.DataFrame(spatial.obsm["spatial"], index=spatial.obs_names)
    v.check_coordinates(spatial, SP)


# ------------------------------------------------------------------------------- cell types


def _unlabel(a: ad.AnnData) -> None:
    labels = a.obs["cell_type"].astype(object)
    labels.iloc[[0, 5]] = np.nan
    a.obs["cell_type"] = labels


def _one_type(a: ad.AnnData) -> None:
    a.obs["cell_type"] = "B"


def _rare(a: ad.AnnData) -> None:
    labels = a.obs["cell_type"].astype(str).to_numpy()
    labels[np.flatnonzero(labels == "DC")[2:]] = "B"
    labels[np.flatnonzero(labels == "NK")[1:]] = "B"
    a.obs["cell_type"] = pd.Categorical(labels)


@pytest.mark.parametrize(
    ("corrupt", "key", "match"),
    [
        (
            None,
            "celltype",
            r"no cell-type column 'celltype' in obs \(columns: 'annotation', 'cell_type'",
        ),
        (_unlabel, "cell_type", r"2 of 55 cells have no label"),
        (_one_type, "cell_type", r"has 1 cell type\(s\) \('B'\); at least 2"),
        (_rare, "cell_type", r"2 cell types .* fewer than 5 cells: DC \(2\), NK \(1\)"),
    ],
    ids=["missing-key", "unlabelled", "one-type", "rare"],
)
def test_check_cell_types(reference: ad.AnnData, corrupt, key: str, match: str) -> None:
    v.check_cell_types(reference, REF, "cell_type", 5)
    if corrupt is not None:
        corrupt(reference)
    err = _raises(v.check_cell_types, reference, REF, key, 5, match=match)
    if corrupt is _rare:
        assert "min_cells_per_type (now 5)" in err.fix


# ------------------------------------------------------------------------------- gene symbols


def _mouse_case(names: pd.Index) -> list[str]:
    return [n[:1] + n[1:].lower() for n in names]


def test_check_gene_symbols_real_human(spatial: ad.AnnData, reference: ad.AnnData) -> None:
    v.check_gene_symbols(spatial, SP, "human")
    v.check_gene_symbols(reference, REF, "human")
    err = _raises(
        v.check_gene_symbols,
        spatial,
        SP,
        "mouse",
        match=r"gene symbols look human .* species is mouse",
    )
    assert "species: human" in err.fix


def test_check_gene_symbols_mouse(spatial: ad.AnnData) -> None:
    spatial.var_names = _mouse_case(spatial.var_names)
    v.check_gene_symbols(spatial, SP, "mouse")
    _raises(
        v.check_gene_symbols,
        spatial,
        SP,
        "human",
        match=r"look mouse \(e.g. .*\) but species is human",
    )


@pytest.mark.parametrize(
    ("prefix", "symbols_column", "match", "fix"),
    [
        (
            "ENSG",
            "gene_symbols",
            r"150 of 150 gene names are Ensembl IDs \(e.g. 'ENSG00000000000\.1'",
            "var['gene_symbols']",
        ),
        ("ENSG", None, "are Ensembl IDs", "map the IDs to symbols"),
        (
            "ENSMUSG",
            "feature_name",
            "the IDs are mouse but species is human",
            "var['feature_name']",
        ),
    ],
)
def test_check_gene_symbols_ensembl(
    spatial: ad.AnnData, prefix: str, symbols_column, match: str, fix: str
) -> None:
    if symbols_column:
        spatial.var[symbols_column] = spatial.var_names.to_numpy()
    spatial.var_names = [f"{prefix}{i:011d}.1" for i in range(spatial.n_vars)]
    err = _raises(v.check_gene_symbols, spatial, SP, "human", match=match)
    assert fix in err.fix


def test_check_gene_symbols_bad_species(spatial: ad.AnnData) -> None:
    with pytest.raises(ValueError, match="species must be one of"):
        v.check_gene_symbols(spatial, SP, "zebrafish")


# ------------------------------------------------------------------------------- emptiness


def test_check_not_empty_reports_empty_spots(spatial: ad.AnnData, caplog) -> None:
    X = spatial.X.tolil()
    X[[2, 11, 40], :] = 0
    spatial.X = X.tocsr()
    with caplog.at_level(logging.WARNING, logger="commst.validate"):
        empty = v.check_not_empty(spatial, SP)
    assert np.flatnonzero(empty).tolist() == [2, 11, 40]
    assert "3 of 60 observations have zero counts" in caplog.text


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda a: a[:0].copy(), r"is empty \(0 observations × 150 genes\)"),
        (lambda a: a[:, :0].copy(), r"is empty \(60 observations × 0 genes\)"),
        (
            lambda a: ad.AnnData(sparse.csr_matrix(a.shape, dtype=np.float32)),
            "all 60 observations have zero counts",
        ),
    ],
    ids=["no-obs", "no-genes", "all-zero"],
)
def test_check_not_empty_rejects(spatial: ad.AnnData, make, match: str) -> None:
    _raises(v.check_not_empty, make(spatial), SP, match=match)


# ------------------------------------------------------------------------------- shared genes


def test_check_shared_genes(spatial: ad.AnnData, reference: ad.AnnData) -> None:
    shared = spatial.var_names.intersection(reference.var_names)
    assert len(shared) == 122
    v.check_shared_genes(len(shared), 50, SP, REF)
    err = _raises(
        v.check_shared_genes, len(shared), 200, SP, REF, match="share only 122 genes .at least 200"
    )
    assert str(SP) in err.path and str(REF) in err.path


def test_check_shared_genes_case_mismatch(spatial: ad.AnnData, reference: ad.AnnData) -> None:
    mouse = _mouse_case(spatial.var_names)
    n_shared = len(set(mouse) & set(reference.var_names))
    assert n_shared < 10
    err = _raises(
        v.check_shared_genes,
        n_shared,
        50,
        SP,
        REF,
        spatial_genes=mouse,
        reference_genes=list(reference.var_names),
        match="ignoring case they share 122, so symbol case differs",
    )
    assert "species" in err.fix


# ------------------------------------------------------------------------------- memory


def test_estimate_memory() -> None:
    assert v.estimate_memory(1000, 2000, dense=True, n_copies=1) == 8_000_000
    sparse_bytes = v.estimate_memory(1000, 2000, density=0.1, n_copies=1)
    assert sparse_bytes == 8 * 200_000 + 8 * 1001
    assert v.estimate_memory(1000, 2000) == 3 * sparse_bytes
