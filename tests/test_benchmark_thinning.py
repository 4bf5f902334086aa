"""Capture thinning: raw degrades with p, an oracle stays near perfect, scenarios differ."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic import random_profile_pair

from commst.benchmark.thinning import run_thinning
from commst.pp import counts_matrix
from commst.tl import ImputationResult, get_method


@pytest.fixture(scope="module")
def pair():
    spatial, reference = random_profile_pair(seed=3)
    genes = list(spatial.var_names)
    return spatial, reference, genes[:8], genes[8:]


def test_raw_is_exact_at_p1_and_degrades_with_capture(pair):
    spatial, reference, targets, inputs = pair
    tab = run_thinning(
        spatial,
        reference,
        get_method("raw"),
        targets=targets,
        input_genes=inputs,
        lr_genes=targets[:4],
        p_values=(1.0, 0.5, 0.1),
        seeds=(0, 1),
        verbose=False,
    )
    assert len(tab) == 3 * 2 * 2 * len(targets)
    assert tab["is_lr"].sum() == 3 * 2 * 2 * 4
    exact = tab[(tab.p == 1.0) & (tab.scenario == "thinned")]
    np.testing.assert_allclose(exact["pcc"], 1.0)
    np.testing.assert_allclose(exact["rmse"], 0.0, atol=1e-9)
    removed = tab[tab.scenario == "removed"]
    assert (removed["pcc"] == 0).all()  # nothing observed, nothing imputed
    med = tab[tab.scenario == "thinned"].groupby("p")["pcc"].median()
    assert med[1.0] > med[0.5] > med[0.1]


def test_oracle_recovers_truth_from_thinned_data(pair):
    spatial, reference, targets, inputs = pair
    full = counts_matrix(spatial)
    full_share = full[:, [list(spatial.var_names).index(g) for g in targets]].toarray() / np.asarray(
        counts_matrix(spatial[:, inputs]).sum(axis=1)
    )

    def impute_oracle(data, reference, *, targets, input_genes, seed=0):
        depth = np.asarray(counts_matrix(data[:, input_genes]).sum(axis=1))
        return ImputationResult(counts=full_share * depth, targets=targets)

    tab = run_thinning(
        spatial, reference, impute_oracle, targets=targets, input_genes=inputs, p_values=(0.25,), verbose=False
    )
    assert tab["pcc"].min() > 0.9
    raw = run_thinning(
        spatial,
        reference,
        get_method("raw"),
        targets=targets,
        input_genes=inputs,
        p_values=(0.25,),
        scenarios=("thinned",),
        verbose=False,
    )
    assert tab[tab.scenario == "thinned"]["pcc"].median() > raw["pcc"].median() + 0.1


def test_thinning_input_errors(pair):
    spatial, reference, targets, inputs = pair
    raw = get_method("raw")
    with pytest.raises(ValueError, match="not measured"):
        run_thinning(spatial, reference, raw, targets=["nope"], input_genes=inputs, verbose=False)
    with pytest.raises(ValueError, match="overlap"):
        run_thinning(spatial, reference, raw, targets=targets, input_genes=targets + inputs, verbose=False)
    with pytest.raises(ValueError, match="scenario"):
        run_thinning(spatial, reference, raw, targets=targets, input_genes=inputs, scenarios=("x",), verbose=False)
