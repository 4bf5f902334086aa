"""Communication-recovery metrics on hand-made LIANA-like tables and decoys on STARmap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from commst.benchmark.ccc_recovery import (
    absent_ligand_pairs,
    bivariate_recovery,
    celltype_recovery,
    decoy_pairs,
)
from commst.benchmark.data import load_starmap


def _biv(scores, pvals, keys):
    return pd.DataFrame({"interaction": keys, "global_score": scores, "pvalue": pvals})


def test_bivariate_recovery_by_hand():
    keys = ["A^a", "B^b", "C^c", "D^d", "X^x", "Y^y", "Z^z", "W^w"]
    truth = _biv([0.5, 0.4, 0.1, -0.2, 0.0, 0.0, 0.1, 0.1], [0.01, 0.01, 0.5, 0.01, 0.9, 0.9, 0.9, 0.9], keys)
    pred = _biv([0.6, 0.1, 0.3, -0.1, 0.4, 0.0, 0.2, 0.2], [0.01, 0.2, 0.04, 0.01, 0.01, 0.9, 0.001, 0.9], keys)
    out = bivariate_recovery(truth, pred, decoys=["X^x"], absent=["Y^y"], cross=["Z^z", "W^w"])
    # real pairs A-D: truth scores .5,.4,.1,-.2 vs pred .6,.1,.3,-.1 -> ranks 4,3,2,1 vs 4,2,3,1
    assert out["spearman"] == pytest.approx(0.8)
    # truth calls (BH over A-D: q = .013 .013 .5 .013, D negative): A, B; ranking by pred A C B D: AP = (1 + 2/3) / 2
    assert out["pr_auc"] == pytest.approx(5 / 6)
    assert out["n_pairs"] == 4 and out["n_truth_significant"] == 2
    # the method's real calls, BH over A-D (q = .02 .2 .053 .02): A only; recall of {A, B} = 1/2
    assert out["n_significant"] == 1 and out["recall"] == pytest.approx(0.5)
    assert out["decoy_fpr"] == 1.0  # X^x called significant (q = p within its own family) with a positive score
    assert out["cross_decoy_fpr"] == 0.5  # Z^z (q = .002) of Z^z, W^w
    assert out["absent_ligand_fpr"] == 0.0
    assert np.isnan(bivariate_recovery(truth, pred)["decoy_fpr"])
    # a pair LIANA dropped from the prediction counts as score 0, not significant
    out = bivariate_recovery(truth, pred.iloc[1:], decoys=["X^x"], absent=["Y^y"], cross=["Z^z", "W^w"])
    assert out["n_missing"] == 1 and out["n_pairs"] == 4 and out["recall"] == 0.0
    assert out["pr_auc"] == pytest.approx((1 / 2 + 2 / 3) / 2)  # C(.3) B(.1) A(0) D(-.1): B at 2, A at 3
    # no truth call: recall undefined
    assert np.isnan(bivariate_recovery(truth.assign(pvalue=0.9), pred)["recall"])


def test_celltype_recovery_by_hand():
    def tab(ranks):
        return pd.DataFrame(
            {
                "source": ["T1", "T1", "T2", "T2"],
                "target": ["T2", "T1", "T1", "T2"],
                "ligand_complex": ["L1", "L2", "L1", "L3"],
                "receptor_complex": ["R1", "R2", "R1", "R3"],
                "magnitude_rank": ranks,
            }
        )

    out = celltype_recovery(tab([0.1, 0.2, 0.3, 0.4]), tab([0.1, 0.3, 0.2, 0.4]), k=2)
    assert out["spearman"] == pytest.approx(0.8)
    assert out["jaccard_top_k"] == pytest.approx(1 / 3)  # top-2 {1,2} vs {1,3}
    assert out["n_interactions"] == 4 and out["n_missing"] == 0
    missing = celltype_recovery(tab([0.1, 0.2, 0.3, 0.4]), tab([0.1, 0.3, 0.2, 0.4]).iloc[:3], k=2)
    assert missing["n_missing"] == 1
    assert missing["spearman"] == pytest.approx(0.8)  # the dropped one gets rank 1 = last anyway
    with pytest.raises(ValueError, match="rank_aggregate"):
        celltype_recovery(tab([0.1] * 4).drop(columns="magnitude_rank"), tab([0.1] * 4))


def test_decoys_are_matched_non_lr_genes_on_starmap():
    adata = load_starmap()
    genes = set(adata.var_names)
    resource = pd.DataFrame(
        {
            "ligand": ["Sst", "Npy", "Penk", "Efna5", "Sst_Cort"],
            "receptor": ["Sstr2", "Npy2r", "Oprd1", "Epha4", "Sstr2"],
        }
    )
    resource = resource[resource.ligand.isin(genes | {"Sst_Cort"}) & resource.receptor.isin(genes)]
    decoys = decoy_pairs(adata, resource, seed=0)
    assert len(decoys) >= 1
    lr = {g for c in ("ligand", "receptor") for x in resource[c] for g in x.split("_")}
    assert not (set(decoys.ligand) | set(decoys.receptor)) & lr
    assert set(decoys.matched_ligand) <= set(resource.ligand)  # complexes skipped
    x = adata.X
    det = pd.Series(np.asarray((x > 0).mean(axis=0)).ravel(), index=adata.var_names)
    for row in decoys.itertuples():
        # same detection-rate quintile means within ~0.3 on STARmap's detection scale
        assert abs(det[row.ligand] - det[row.matched_ligand]) < 0.3
    again = decoy_pairs(adata, resource, seed=0)
    pd.testing.assert_frame_equal(decoys, again)


def test_absent_ligand_pairs():
    adata = load_starmap()[:50].copy()
    x = adata.layers["counts"].tolil()
    x[:, 0] = 0
    adata.layers["counts"] = x.tocsr()
    silent, expressed = adata.var_names[0], adata.var_names[1]
    assert adata.layers["counts"][:, 1].sum() > 0
    resource = pd.DataFrame(
        {"ligand": [silent, expressed, f"{expressed}_{silent}", "NotMeasured"], "receptor": list("abcd")}
    )
    out = absent_ligand_pairs(adata, resource)
    assert list(out.ligand) == [silent, f"{expressed}_{silent}", "NotMeasured"]


def test_bivariate_recovery_with_liana_truth_vs_thinned():
    """End to end on real data: truth agrees with itself, heavy thinning loses agreement."""
    import liana as li

    from commst.benchmark.data import thin_counts
    from commst.benchmark.heldout import prepare_pair
    from commst.ccc import spatial_bivariate

    adata = load_starmap()[:400].copy()
    adata, _ = prepare_pair(adata, adata)
    resource = li.rs.select_resource("mouseconsensus")
    resource = resource[resource.ligand.isin(adata.var_names) & resource.receptor.isin(adata.var_names)]
    _, truth = spatial_bivariate(adata.copy(), resource, null="spots", n_perms=50)
    _, same = spatial_bivariate(adata.copy(), resource, null="spots", n_perms=50)
    _, thin = spatial_bivariate(thin_counts(adata, 0.1, seed=0), resource, null="spots", n_perms=50)
    self_rec = bivariate_recovery(truth, same)
    thin_rec = bivariate_recovery(truth, thin)
    assert self_rec["spearman"] == pytest.approx(1.0) and self_rec["recall"] == 1.0
    assert self_rec["n_pairs"] >= 10
    assert thin_rec["n_missing"] > 0  # capture loss drops pairs below LIANA's threshold
    assert thin_rec["spearman"] < 0.95 and thin_rec["pr_auc"] < self_rec["pr_auc"]
