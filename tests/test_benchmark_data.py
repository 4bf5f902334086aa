"""Thinning, splitting and folds on synthetic data and on the bundled STARmap data."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
from scipy import sparse

from commst.benchmark import data as bd


def test_thin_dense_and_sparse_keep_expected_fraction():
    rng = np.random.default_rng(1)
    counts = rng.poisson(20, size=(200, 50)).astype(np.float32)
    dense = bd.thin_counts(counts, 0.25, seed=3)
    sp = bd.thin_counts(sparse.csr_matrix(counts), 0.25, seed=3)
    assert sparse.issparse(sp) and isinstance(dense, np.ndarray)
    assert (dense <= counts).all() and (sp.toarray() <= counts).all()
    ratio = dense.sum() / counts.sum()
    assert ratio == pytest.approx(0.25, abs=0.01)
    # binomial variance of the kept total: n p (1 - p)
    per_cell = counts.sum(1)
    kept = dense.sum(1)
    z = (kept - 0.25 * per_cell) / np.sqrt(per_cell * 0.25 * 0.75)
    assert abs(z.mean()) < 0.3 and 0.7 < z.std() < 1.3
    np.testing.assert_array_equal(bd.thin_counts(counts, 0.25, seed=3), dense)  # reproducible
    assert not np.array_equal(bd.thin_counts(counts, 0.25, seed=4), dense)
    np.testing.assert_array_equal(bd.thin_counts(counts, 1.0), counts)


def test_thin_rejects_normalised_values_and_bad_p():
    with pytest.raises(ValueError, match="non-integer"):
        bd.thin_counts(np.array([[0.5, 1.0]]), 0.5)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        bd.thin_counts(np.ones((2, 2)), 0.0)


def test_thin_anndata_updates_counts_and_lognorm():
    adata = bd.load_starmap()[:100].copy()
    out = bd.thin_counts(adata, 0.1, seed=0)
    before = adata.layers["counts"].sum()
    after = out.layers["counts"].sum()
    assert after == pytest.approx(0.1 * before, rel=0.05)
    row = out.layers["counts"][0].toarray().ravel()
    expected = np.log1p(row / row.sum() * 1e4)
    np.testing.assert_allclose(out.X[0].toarray().ravel(), expected, rtol=1e-5)
    assert out.uns["benchmark"]["thinning"] == {"p": 0.1, "seed": 0}
    assert adata.layers["counts"].sum() == before  # input untouched


def test_split_starmap_is_stratified_and_disjoint():
    adata = bd.load_starmap()
    assert adata.shape == (930, 996)
    ref, sp = bd.split_spatial(adata, fraction=0.5, seed=0)
    assert ref.n_obs + sp.n_obs == adata.n_obs
    assert not set(ref.obs_names) & set(sp.obs_names)
    assert "spatial" in sp.obsm and sp.obsm["spatial"].shape == (sp.n_obs, 2)
    full = adata.obs["cell_type"].value_counts()
    in_ref = ref.obs["cell_type"].value_counts()
    for ct, n in full.items():
        assert abs(in_ref[ct] - n / 2) <= 1, ct
    # counts are carried over exactly
    cell = sp.obs_names[0]
    np.testing.assert_array_equal(sp[cell].layers["counts"].toarray(), adata[cell].X.toarray())
    ref2, _ = bd.split_spatial(adata, fraction=0.5, seed=0)
    assert list(ref2.obs_names) == list(ref.obs_names)


def test_split_errors_name_the_problem():
    adata = ad.AnnData(np.ones((4, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="cell_type"):
        bd.split_spatial(adata)


def test_heldout_folds_spread_lr_genes():
    shared = [f"g{i}" for i in range(103)]
    lr = [f"g{i}" for i in range(0, 103, 4)] + ["not_shared"]  # 26 shared LR genes
    folds = bd.heldout_folds(shared, lr, n_folds=10, seed=0)
    assert len(folds) == 10
    flat = [g for f in folds for g in f]
    assert sorted(flat) == sorted(shared)
    sizes = [len(f) for f in folds]
    n_lr = [sum(g in set(lr) for g in f) for f in folds]
    assert max(sizes) - min(sizes) <= 1
    assert max(n_lr) - min(n_lr) <= 1 and sum(n_lr) == 26
    assert bd.heldout_folds(shared, lr, seed=0) == folds
    with pytest.raises(ValueError, match="cannot fill"):
        bd.heldout_folds(shared[:5], lr, n_folds=10)
