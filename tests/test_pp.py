"""Preprocessing: gene harmonisation, target choice, normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from synthetic import PLANTED_LR, planted_pair

import commst.pp as pp
from commst.priors import load_lr_resource, lr_genes
from commst.validate import CommstInputError


def test_harmonise_renames_aliases_and_merges_duplicates():
    spatial, _ = planted_pair(seed=1)
    sub = spatial[:, ["HK0", "HK1", "HK2", "HK3"]].copy()
    sub.var_names = ["HK0", " HK0", "OLDNAME", "HKX"]
    out = pp.harmonise_genes(sub, {"OLDNAME": "HK0", "HKX": "NEWNAME"})
    # " HK0" is HK0 after stripping: merged by summing counts. OLDNAME is an alias of HK0, but
    # HK0 is measured separately, so the two are kept apart; HKX becomes its current symbol.
    assert list(out.var_names) == ["HK0", "OLDNAME", "NEWNAME"]
    np.testing.assert_allclose(out.X[:, 0].toarray().ravel(), sub.X[:, :2].sum(1).A1)
    np.testing.assert_allclose(out.X[:, 2].toarray().ravel(), sub.X[:, 3].toarray().ravel())
    assert out.uns["commst_genes_harmonised"] == {"n_input": 4, "renamed": 1, "merged": 1}
    assert out.var.loc["HK0", "original_symbol"] == "HK0, HK0"


def test_harmonise_strips_ensembl_versions():
    spatial, _ = planted_pair(seed=1)
    sub = spatial[:, ["HK0", "HK1"]].copy()
    sub.var_names = ["ENSG00000141510.17", "HK1"]
    assert list(pp.harmonise_genes(sub).var_names) == ["ENSG00000141510", "HK1"]


def test_targets_are_lr_genes_expressed_in_a_reference_type():
    _, ref = planted_pair()
    ref = ref.copy()
    # RECB only in 2 of 60 type1 cells: below 5 %, so no longer a target
    x = ref.X.toarray()
    col = list(ref.var_names).index("RECB")
    x[:, col] = 0
    idx = np.flatnonzero(ref.obs["cell_type"].to_numpy() == "type1")[:2]
    x[idx, col] = 1
    ref.X = sp.csr_matrix(x)
    targets = pp.select_lr_targets(ref, {"LIGA", "RECB", "RECALL"}, min_expr_frac=0.05)
    assert targets == ["LIGA", "RECALL"]
    assert pp.select_lr_targets(ref, {"RECB"}, min_expr_frac=0.03) == ["RECB"]


def test_prepare_gene_sets_and_normalisation():
    spatial, ref = planted_pair()
    s, r = pp.prepare(spatial, ref, PLANTED_LR, min_shared_genes=10)
    genes = s.uns["commst"]["genes"]
    assert set(genes["lr_targets"]) == {"LIGA", "RECB", "RECALL"}
    assert "RECALL" not in genes["input"] and "RECALL" in genes["shared"]  # targets never inputs
    assert genes["ligands"] == ["LIGA"]
    assert set(r.var_names) == set(genes["shared"]) | set(genes["lr_targets"])
    # X is log1p of counts per 10^4
    expected = np.log1p(s.layers["counts"][0].toarray() / s.layers["counts"][0].sum() * 1e4)
    np.testing.assert_allclose(s.X[0].toarray(), expected, rtol=1e-5)
    assert s.var.loc["RECALL", "in_reference"] and r.var.loc["LIGA", "is_ligand"]
    assert not r.var.loc["LIGA", "measured_in_spatial"]


def test_prepare_rejects_too_few_shared_genes_and_no_lr_expression():
    spatial, ref = planted_pair()
    with pytest.raises(ValueError, match=r"share only \d+ input genes"):
        pp.prepare(spatial, ref, PLANTED_LR, min_shared_genes_hard=10_000)
    with pytest.raises(ValueError, match="no gene of the LR database is expressed"):
        pp.prepare(spatial, ref, ({"NOTAGENE"}, set()), min_shared_genes=10)


def test_prepare_on_demo_selects_expressed_lr_genes(demo_pair):
    spatial, ref = demo_pair
    lr = load_lr_resource("consensus", "human")
    s, r = pp.prepare(spatial, ref, lr_genes(lr))
    genes = s.uns["commst"]["genes"]
    ligands, receptors = lr_genes(lr)
    assert set(genes["lr_targets"]) <= ligands | receptors
    frac = pp.expressed_fraction(r, genes["lr_targets"])
    assert (frac.max(axis=0) >= 0.05).all()
    assert len(genes["lr_targets"]) > 500 and len(genes["input"]) > 400
    assert s.n_obs == spatial.n_obs and np.isfinite(s.X.data).all()


def test_lognorm_by_hand_dense_and_sparse():
    counts = np.array([[1.0, 3.0, 0.0], [0.0, 0.0, 0.0], [2.0, 0.0, 2.0]])
    expected = [[np.log1p(2500.0), np.log1p(7500.0), 0.0], [0.0, 0.0, 0.0], [np.log1p(5000.0), 0.0, np.log1p(5000.0)]]
    np.testing.assert_allclose(pp.lognorm(counts), expected)  # library = row sums; an empty row stays 0
    sparse = pp.lognorm(sp.csr_matrix(counts))
    assert sp.issparse(sparse) and sparse.nnz == 4
    np.testing.assert_array_equal(sparse.toarray(), pp.lognorm(counts))
    # another library and target_sum; a zero library gives zeros even with counts
    out = pp.lognorm(counts, np.array([10.0, 0.0, 2.0]), target_sum=100.0)
    np.testing.assert_allclose(
        out, [[np.log1p(10.0), np.log1p(30.0), 0.0], [0, 0, 0], [np.log1p(100.0), 0, np.log1p(100.0)]]
    )
    back = pp.counts_from_lognorm(out, np.array([10.0, 0.0, 2.0]), target_sum=100.0)
    np.testing.assert_allclose(back, counts * [[1.0], [0.0], [1.0]])
    np.testing.assert_array_equal(pp.counts_from_lognorm(np.array([[-0.5]]), np.ones(1), clip=True), [[0.0]])


def test_lognorm_keeps_each_former_precision():
    """The scale is computed at the library's precision, the product and log1p at ``dtype``:
    float32 libraries (the model, knn's embedding) and float64 ones (the output, the benchmark)
    give the bytes the former copies gave."""
    rng = np.random.default_rng(0)
    counts = rng.poisson(3.0, size=(50, 20)).astype(np.float32)
    lib32 = counts.sum(1)
    # knn's former log profile: float32 division, float64 product
    scale = np.divide(1e4, lib32, out=np.zeros_like(lib32, dtype=np.float64), where=lib32 > 0)
    np.testing.assert_array_equal(pp.lognorm(counts, lib32), np.log1p(sp.diags(scale) @ counts))
    # the model's former lognorm: float32 throughout
    model = np.log1p(counts * (1e4 / np.maximum(lib32, 1.0))[:, None]).astype(np.float32)
    np.testing.assert_array_equal(pp.lognorm(counts, np.maximum(lib32, 1.0), dtype=np.float32), model)
    # the output's: float64 library and product, stored as float32
    lib64 = lib32.astype(np.float64)
    output = np.log1p(counts * np.divide(1e4, lib64, out=np.zeros_like(lib64), where=lib64 > 0)[:, None])
    np.testing.assert_array_equal(pp.lognorm(counts, lib64), output)


def test_prepare_records_gene_sets_and_target_sum():
    spatial, ref = planted_pair()
    sp_out, ref_out = pp.prepare(spatial, ref, PLANTED_LR, target_sum=1e6, min_shared_genes=10)
    for adata in (sp_out, ref_out):
        genes = pp.get_gene_sets(adata)
        assert isinstance(genes, pp.GeneSets) and genes.lr_targets and not set(genes.input) & set(genes.lr_targets)
        assert pp.target_sum_of(adata) == 1e6
    # X is log1p(counts / library x 1e6): expm1 row sums are 1e6
    np.testing.assert_allclose(np.expm1(sp_out.X.toarray()).sum(1), 1e6, rtol=1e-4)
    assert pp.target_sum_of(spatial) == pp.DEFAULT_TARGET_SUM  # unprepared data: the default


def test_gene_sets_survive_an_h5ad_round_trip(tmp_path):
    import anndata as ad

    spatial, ref = planted_pair()
    sp_out, _ = pp.prepare(spatial, ref, PLANTED_LR, min_shared_genes=10)
    sp_out.write_h5ad(tmp_path / "s.h5ad")
    back = pp.get_gene_sets(ad.read_h5ad(tmp_path / "s.h5ad"))
    assert back == pp.get_gene_sets(sp_out) and back.to_dict() == sp_out.uns["commst"]["genes"]
    with pytest.raises(KeyError, match="not prepared by commst.pp.prepare"):
        pp.get_gene_sets(spatial)


def test_prepare_without_cell_type_column_says_how_to_name_it():
    spatial, ref = planted_pair()
    ref.obs = ref.obs.rename(columns={"cell_type": "annotation"})
    with pytest.raises(CommstInputError) as err:
        pp.prepare(spatial, ref, PLANTED_LR, min_shared_genes=10)
    assert "has no obs['cell_type']" in str(err.value) and "cell_type_key=" in err.value.fix
