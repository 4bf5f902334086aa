"""The built-in held-out check of every method (commst.tl.heldout_check) on the bundled lymph-node pair."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import prepared_demo_subset

from commst.model import impute_commst, quality_table
from commst.tl import compare_methods, get_method, heldout_check, with_heldout_check
from commst.tl._heldout import QUALITY_COLUMNS


@pytest.fixture(scope="module")
def lymph_300(demo_pair):
    """300 demo spots and the demo reference, prepared, with the run's input genes."""
    return prepared_demo_subset(demo_pair, 300)


@pytest.fixture(scope="module")
def knn_check(lymph_300):
    spatial, reference, inputs = lymph_300
    return heldout_check("knn", spatial, reference, input_genes=inputs, seed=0)


def test_knn_check_scores_every_hidden_gene_on_both_scales(lymph_300, knn_check):
    spatial, _, inputs = lymph_300
    q = knn_check
    assert list(q.columns) == list(QUALITY_COLUMNS)
    m = round(0.2 * len(inputs))
    assert q.groupby("round")["gene"].nunique().tolist() == [m, m, m]  # 20 % of the inputs each round
    assert set(q["gene"]) <= set(inputs)
    # finite wherever the spots measured the gene at all (PCC of a constant truth is undefined)
    measured = np.asarray(spatial[:, q["gene"]].layers["counts"].toarray().std(0) > 0)
    assert measured.mean() > 0.9
    for column in QUALITY_COLUMNS[1:5]:
        values = q[column].to_numpy(float)
        assert np.isfinite(values[measured]).all() and np.isnan(values[~measured]).all(), column
        assert (np.abs(values[measured]) <= 1 + 1e-9).all()
    # knn's baseline is knn: the same numbers; and it recovers the genes better than chance
    np.testing.assert_array_equal(q["baseline_pcc_counts"], q["pcc_counts"])
    np.testing.assert_array_equal(q["baseline_pcc_lognorm"], q["pcc_lognorm"])
    assert q["pcc_counts"].median() > 0.05


def test_hidden_genes_never_reach_the_method(lymph_300, monkeypatch):
    """Each round the method gets neither the hidden genes as inputs nor their spatial counts."""
    spatial, reference, inputs = lymph_300
    import commst.tl.methods.knn as knn_module

    calls = []
    knn = knn_module.impute_knn

    def spy(sp_vis, ref, *, targets, input_genes, **kw):
        calls.append((list(targets), list(input_genes), set(sp_vis.var_names)))
        return knn(sp_vis, ref, targets=targets, input_genes=input_genes, **kw)

    monkeypatch.setattr(knn_module, "impute_knn", spy)
    q = heldout_check("knn", spatial, reference, input_genes=inputs, seed=4, rounds=2)
    assert len(calls) == 2  # knn is its own baseline: one call per round
    for r, (targets, used, var_names) in enumerate(calls):
        assert targets == list(q.loc[q["round"] == r, "gene"])
        assert not set(targets) & set(used) and not set(targets) & var_names
        assert sorted(targets + used) == sorted(inputs)


def test_a_seed_hides_the_same_genes_and_another_seed_others(lymph_300, knn_check):
    spatial, reference, inputs = lymph_300
    again = heldout_check("knn", spatial, reference, input_genes=inputs, seed=0)
    pd.testing.assert_frame_equal(again, knn_check)
    other = heldout_check("knn", spatial, reference, input_genes=inputs, seed=1, rounds=1)
    assert set(other["gene"]) != set(knn_check.loc[knn_check["round"] == 0, "gene"])


def test_round_zero_is_the_models_round_zero(lymph_300, knn_check):
    """Same seed: the first round hides the model's first-round genes, and its knn baseline is this knn."""
    spatial, reference, inputs = lymph_300
    targets = list(spatial.uns["commst"]["genes"]["lr_targets"])[:10]
    res = impute_commst(spatial, reference, targets=targets, input_genes=inputs, seed=0, mask_rounds=1, select=False)
    model = quality_table(res).set_index("gene")
    ours = knn_check[knn_check["round"] == 0].set_index("gene")
    assert set(model.index) == set(ours.index)
    for scale in ("counts", "lognorm"):
        np.testing.assert_allclose(model[f"baseline_pcc_{scale}"], ours.loc[model.index, f"pcc_{scale}"])


def test_another_method_is_scored_with_knn_on_the_same_genes(lymph_300, knn_check):
    spatial, reference, inputs = lymph_300
    q = heldout_check("spage", spatial, reference, input_genes=inputs, seed=0, rounds=1)
    knn0 = knn_check[knn_check["round"] == 0].reset_index(drop=True)
    assert list(q["gene"]) == list(knn0["gene"])
    np.testing.assert_allclose(q["baseline_pcc_counts"], knn0["pcc_counts"])
    assert not np.allclose(q["pcc_counts"], knn0["pcc_counts"], equal_nan=True)  # spage's own numbers


def test_off_gives_the_header_and_commst_keeps_its_own(lymph_300):
    spatial, reference, inputs = lymph_300
    targets = list(spatial.uns["commst"]["genes"]["lr_targets"])[:10]
    res = get_method("knn")(spatial, reference, targets=targets, input_genes=inputs, seed=0)
    off = quality_table(with_heldout_check(res, "knn", spatial, reference, input_genes=inputs, rounds=0))
    assert off.empty and list(off.columns) == list(QUALITY_COLUMNS)
    on = quality_table(with_heldout_check(res, "knn", spatial, reference, input_genes=inputs, rounds=1))
    assert len(on) == round(0.2 * len(inputs)) and "quality" not in res.extra  # the result given stays as it was
    own = impute_commst(spatial, reference, targets=targets, input_genes=inputs, seed=0, mask_rounds=1, select=False)
    kept = with_heldout_check(own, "commst", spatial, reference, input_genes=inputs, rounds=3)
    pd.testing.assert_frame_equal(quality_table(kept), quality_table(own))


def test_the_comparison_shows_knns_own_check(knn_check):
    """With its check, knn's row of the method comparison carries its medians (and knn = knn)."""
    import anndata as ad

    spots = pd.DataFrame(index=["s0", "s1"])
    imputed = {m: ad.AnnData(np.ones((2, 1), np.float32), obs=spots) for m in ("commst", "knn")}
    for adata in imputed.values():
        adata.layers["imputed_counts"] = adata.X.copy()
    pairs = pd.DataFrame({"interaction": ["p"], "global_score": [0.1], "significant": [False]})
    quality = {"commst": pd.DataFrame(columns=list(QUALITY_COLUMNS)), "knn": knn_check}
    row = (
        compare_methods(imputed, quality, {m: pairs for m in imputed}, primary="commst").set_index("method").loc["knn"]
    )
    per_gene = knn_check.groupby("gene")[["pcc_counts", "pcc_lognorm"]].mean()  # a gene's rounds averaged first
    assert row["heldout_genes"] == per_gene["pcc_counts"].notna().sum()
    ours = (row["heldout_pcc_counts"], row["heldout_pcc_lognorm"])
    assert ours == pytest.approx((per_gene["pcc_counts"].median(), per_gene["pcc_lognorm"].median()))
    assert np.isfinite(ours).all() and (row["knn_pcc_counts"], row["knn_pcc_lognorm"]) == ours
