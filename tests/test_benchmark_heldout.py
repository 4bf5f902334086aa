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
