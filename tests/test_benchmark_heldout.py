"""Held-out-gene protocol: a perfect and a random method on synthetic data rank as expected."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from synthetic import random_profile_pair

from commst.benchmark.heldout import prepare_pair, run_heldout
from commst.benchmark.metrics import accuracy_score
from commst.tl import ImputationResult


def _oracle(truth: ad.AnnData):
    """A method that returns the true counts of the held-out genes (perfect)."""

    def impute_oracle(spatial, reference, *, targets, input_genes, seed=0):
        assert not set(targets) & set(spatial.var_names), "held-out genes leaked to the method"
        assert not set(targets) & set(input_genes)
        x = truth[spatial.obs_names, list(targets)].layers["counts"].toarray()
        return ImputationResult(counts=x, targets=list(targets))

    return impute_oracle


def impute_random(spatial, reference, *, targets, input_genes, seed=0):
    """A method that returns random counts (uninformative)."""
    rng = np.random.default_rng(seed + 1)
    return ImputationResult(counts=rng.poisson(2.0, size=(spatial.n_obs, len(targets))), targets=list(targets))


def test_perfect_beats_random_and_folds_cover_genes():
    spatial, reference = random_profile_pair()
    lr = [f"G{i}" for i in range(0, 60, 5)]
    perfect = run_heldout(spatial, reference, _oracle(spatial), lr_genes=lr, n_folds=5, verbose=False)
    rand = run_heldout(spatial, reference, impute_random, lr_genes=lr, n_folds=5, verbose=False)
    assert sorted(perfect["gene"]) == sorted(spatial.var_names)
    assert perfect.groupby("fold")["is_lr"].sum().tolist() == [3, 3, 2, 2, 2]
    ok = perfect.dropna(subset=["pcc"])
    np.testing.assert_allclose(ok["pcc"], 1.0, atol=1e-9)
    np.testing.assert_allclose(ok["ssim"], 1.0, atol=1e-9)
    np.testing.assert_allclose(ok["rmse"], 0.0, atol=1e-9)
    np.testing.assert_allclose(ok["js"], 0.0, atol=1e-9)
    assert rand["pcc"].abs().median() < 0.2
    both = pd.concat([perfect.assign(method="perfect"), rand.assign(method="random")])
    score = accuracy_score(both, by=["is_lr"]).set_index(["is_lr", "method"])["accuracy_score"]
    assert score[(True, "perfect")] == 1.0 and score[(False, "perfect")] == 1.0
    assert score[(True, "random")] == 0.5


def test_knn_baseline_is_between_perfect_and_random():
    from commst.tl import impute_knn

    spatial, reference = random_profile_pair(seed=2)
    knn = run_heldout(spatial, reference, impute_knn, lr_genes=[], n_folds=4, verbose=False)
    rand = run_heldout(spatial, reference, impute_random, lr_genes=[], n_folds=4, verbose=False)
    assert knn["pcc"].median() > 0.5 > rand["pcc"].median()
    assert knn["rmse"].median() < rand["rmse"].median()


def test_failures_are_recorded_and_genes_to_score_restricts():
    spatial, reference = random_profile_pair()

    def impute_broken(spatial, reference, *, targets, input_genes, seed=0):
        raise RuntimeError("boom")

    tab = run_heldout(
        spatial,
        reference,
        impute_broken,
        lr_genes=["G1"],
        n_folds=5,
        genes_to_score=["G1", "G2", "nope"],
        verbose=False,
    )
    assert sorted(tab["gene"]) == ["G1", "G2"]
    assert (tab["status"] == "failed").all() and tab["pcc"].isna().all()
    assert tab.set_index("gene").loc["G1", "is_lr"]
    with pytest.raises(RuntimeError, match="boom"):
        run_heldout(spatial, reference, impute_broken, lr_genes=[], n_folds=5, on_error="raise", verbose=False)


def test_prepare_pair_names_missing_cell_types():
    spatial, reference = random_profile_pair()
    with pytest.raises(ValueError, match="no column 'celltype'"):
        prepare_pair(spatial, reference, cell_type_key="celltype")


def test_splits_scales_and_the_cross_platform_fold():
    """Several fold splits; counts / own / lognormE / partial scales; a given fold (LR-masked)."""
    from commst.benchmark.heldout import SCALE_METRICS

    spatial, reference = random_profile_pair()
    lr = [f"G{i}" for i in range(0, 60, 5)]
    oracle = _oracle(spatial)

    def with_own_layer(spatial_, reference_, *, targets, input_genes, seed=0):
        res = oracle(spatial_, reference_, targets=targets, input_genes=input_genes, seed=seed)
        res.layers["expected_lognorm"] = np.zeros_like(res.counts)  # a constant "own" estimate
        return res

    tab = run_heldout(spatial, reference, with_own_layer, lr_genes=lr, n_folds=3, split_seeds=[0, 1], verbose=False)
    assert sorted(tab["split"].unique()) == [0, 1]
    assert (tab.groupby("split")["gene"].nunique() == spatial.n_vars).all()
    assert set(SCALE_METRICS) <= set(tab.columns)
    np.testing.assert_allclose(tab["pcc_counts"], 1.0)  # the oracle on counts
    assert (tab["pcc_own"] == 0).all()  # a constant own estimate: PCC 0, not the counts' 1
    assert (tab["pcc_lognormE"] > 0.9).all()
    masked = run_heldout(spatial, reference, oracle, lr_genes=lr, fold_sets=[lr], verbose=False)
    assert sorted(masked["gene"]) == sorted(lr) and (masked["fold"] == 0).all()


def test_paired_bootstrap_and_paired_ci_rows():
    from commst.benchmark.summary import paired_bootstrap, paired_ci_rows

    a, b = np.linspace(0.2, 0.4, 41), np.linspace(0.1, 0.3, 41)
    d, lo, hi = paired_bootstrap(a, b)
    assert d == pytest.approx(0.1) and lo == pytest.approx(0.1) and hi == pytest.approx(0.1)  # constant shift
    rng = np.random.default_rng(0)
    rows = []
    for method, shift in (("knn", 0.0), ("spage", 0.05), ("commst", 0.15)):
        for split in (0, 1):
            pcc = 0.2 + shift + rng.normal(0, 0.02, 40)
            rows.append(
                pd.DataFrame(
                    {"method": method, "scenario": "heldout", "split": split, "gene": [f"G{i}" for i in range(40)],
                     "is_lr": True, "status": "ok", "pcc": pcc, "pcc_own": pcc, "pcc_counts": pcc,
                     "pcc_lognormE": pcc, "pcc_partial": pcc}
                )
            )  # fmt: skip
    tab = paired_ci_rows("s", pd.concat(rows), peers=["knn", "spage"])
    ours = tab[(tab["method"] == "commst") & (tab["scale"] == "counts")].iloc[0]
    assert ours["best_other"] == "spage" and ours["n_splits"] == 2 and ours["n_genes"] == 40
    assert 0.08 < ours["vs_best_lo"] < ours["vs_best"] < ours["vs_best_hi"] < 0.12
    assert ours["vs_knn"] == pytest.approx(0.15, abs=0.02)
    assert set(tab["scale"]) == {"lognorm", "own", "counts", "lognormE", "partial"}
