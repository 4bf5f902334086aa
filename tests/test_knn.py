"""The knn method and the output builder on data where the answer is known."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from synthetic import PLANTED_LR, planted_pair

import commst.pp as pp
from commst.tl import ImputationResult, build_imputed, get_method, impute_knn


@pytest.fixture(scope="module")
def prepared():
    spatial, ref = planted_pair()
    return pp.prepare(spatial, ref, PLANTED_LR, min_shared_genes=10)


def _run(prepared, **kw):
    s, r = prepared
    genes = s.uns["commst"]["genes"]
    return impute_knn(s, r, targets=genes["lr_targets"], input_genes=genes["input"], k=10, **kw)


def test_planted_ligand_recovered_only_in_its_cell_type(prepared):
    s, _ = prepared
    res = _run(prepared)
    liga = res.counts[:, res.targets.index("LIGA")]
    recb = res.counts[:, res.targets.index("RECB")]
    truth = s.obs["true_type"].to_numpy()
    assert liga[truth == "type0"].min() > 0.5
    assert liga[truth != "type0"].max() == 0
    assert recb[truth == "type1"].min() > 0.5 and recb[truth != "type1"].max() == 0
    # the guard flags exactly the spots whose neighbours never express the gene
    np.testing.assert_array_equal(res.guard[:, res.targets.index("LIGA")], truth != "type0")
    assert (res.labels.to_numpy() == truth).mean() == 1.0


def test_imputed_counts_scale_with_spot_depth(prepared):
    s, r = prepared
    genes = s.uns["commst"]["genes"]
    doubled = s.copy()
    doubled.layers["counts"] = doubled.layers["counts"] * 2
    a = _run(prepared)
    b = impute_knn(doubled, r, targets=genes["lr_targets"], input_genes=genes["input"], k=10)
    np.testing.assert_allclose(b.counts, 2 * a.counts, rtol=1e-5)


def test_output_contract(prepared):
    s, _ = prepared
    res = _run(prepared)
    out = build_imputed(s, res, method="knn", params={"k": 10}, resources={"lr_resource": "test"})
    assert list(out.var_names) == res.targets
    assert out.obs_names.equals(s.obs_names)
    np.testing.assert_array_equal(out.obsm["spatial"], s.obsm["spatial"])
    assert {"imputed_counts", "observed", "uncertainty", "guarded"} <= set(out.layers)
    assert out.var.loc["LIGA", "is_ligand"] and out.var.loc["RECB", "is_receptor"]
    assert out.var.loc["RECALL", "measured_in_spatial"] and not out.var.loc["LIGA", "measured_in_spatial"]
    # observed = the spatial log-normalised value where measured, zero where not
    np.testing.assert_allclose(
        out[:, "RECALL"].layers["observed"].ravel(), s[:, "RECALL"].X.toarray().ravel(), rtol=1e-6
    )
    assert not out[:, "LIGA"].layers["observed"].any()
    lib = s.layers["counts"].sum(1).A1
    np.testing.assert_allclose(out.X[:, 0], np.log1p(res.counts[:, 0] / lib * 1e4), rtol=1e-5)
    assert out.uns["commst"]["method"] == "knn" and json.loads(out.uns["commst"]["config"]) == {"k": 10}
    assert "anndata" in out.uns["commst"]["versions"]
    assert np.isfinite(out.X).all()


def test_result_rejects_bad_values():
    with pytest.raises(ValueError, match="NaN"):
        ImputationResult(counts=np.array([[np.nan]]), targets=["A"])
    with pytest.raises(ValueError, match="2 targets"):
        ImputationResult(counts=np.zeros((3, 1)), targets=["A", "B"])


def test_get_method():
    assert get_method("knn") is impute_knn
    with pytest.raises(ValueError, match="unknown imputation method"):
        get_method("magic")


def test_neighbour_statistics_by_hand_and_independent_of_the_chunk_size():
    import scipy.sparse as sp

    from commst.tl.methods.knn import neighbour_statistics

    rng = np.random.default_rng(0)
    share = sp.random(40, 6, density=0.4, random_state=1, format="csr") * 0.1
    idx = np.stack([rng.choice(40, size=5, replace=False) for _ in range(23)])
    depth = rng.uniform(10, 100, size=23)
    dense = share.toarray()[idx]  # spots x k x targets
    whole = neighbour_statistics(idx, share, depth, chunk_size=1000)
    np.testing.assert_allclose(whole[0], dense.mean(1) * depth[:, None], rtol=1e-6)
    np.testing.assert_allclose(whole[1], dense.std(1) * depth[:, None], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(whole[2], (dense > 0).sum(1) == 0)
    for part, full in zip(neighbour_statistics(idx, share, depth, chunk_size=4), whole):
        np.testing.assert_array_equal(part, full)


def test_neighbour_labels_majority_and_ties():
    from commst.tl.methods.knn import neighbour_labels

    types = np.array(["T", "B", "B", "T", "NK"])
    idx = np.array([[0, 1, 2], [0, 3, 4], [0, 1, 4]])  # B wins; T wins; three-way tie -> first name sorted
    labels = neighbour_labels(idx, types, pd.Index(["s1", "s2", "s3"]))
    assert labels.tolist() == ["B", "T", "B"]
    assert labels.index.tolist() == ["s1", "s2", "s3"]
