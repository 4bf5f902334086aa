"""Metrics against hand-computed values on tiny arrays."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from commst.benchmark import metrics as bm


def test_identical_up_to_scale_is_perfect():
    truth = np.array([[0.0], [1.0], [2.0], [3.0]])
    out = bm.gene_metrics(truth, 2 * truth, genes=["G"])
    row = out.iloc[0]
    assert list(out.columns) == ["gene", "pcc", "ssim", "rmse", "js"]
    assert row["pcc"] == pytest.approx(1.0)
    assert row["ssim"] == pytest.approx(1.0)
    assert row["rmse"] == pytest.approx(0.0, abs=1e-12)
    assert row["js"] == pytest.approx(0.0, abs=1e-12)


def test_opposite_two_spots_by_hand():
    # x = [1, 0], y = [0, 1]: mu = 0.5, sigma = 0.5, cov = -0.25
    out = bm.gene_metrics(np.array([[1.0], [0.0]]), np.array([[0.0], [1.0]]))
    row = out.iloc[0]
    c3 = (0.03**2) / 2
    assert row["pcc"] == pytest.approx(-1.0)
    assert row["ssim"] == pytest.approx((-0.25 + c3) / (0.25 + c3))  # l = c = 1
    assert row["ssim"] == pytest.approx(-0.996406, abs=1e-6)
    assert row["rmse"] == pytest.approx(2.0)  # z = [1, -1] vs [-1, 1]
    assert row["js"] == pytest.approx(math.log(2))  # disjoint supports


def test_constant_prediction_by_hand():
    truth = np.array([[1.0], [2.0], [3.0], [4.0]])
    pred = np.ones((4, 1))
    row = bm.gene_metrics(truth, pred).iloc[0]
    assert row["pcc"] == 0.0
    assert row["rmse"] == pytest.approx(1.0)
    # JS of p = [.1,.2,.3,.4] and q = uniform, m = [.175,.225,.275,.325]
    assert row["js"] == pytest.approx(0.0278657, abs=1e-6)
    # SSIM: x = [.25,.5,.75,1], y = 1: l = 1.2501/1.390725, c = 9e-4/0.079025, s = 1
    assert row["ssim"] == pytest.approx(0.898884 * 0.0113888, rel=1e-4)


def test_constant_truth_gives_nan_pcc_and_zero_prediction_defined():
    truth = np.zeros((5, 1))
    pred = np.zeros((5, 1))
    row = bm.gene_metrics(truth, pred).iloc[0]
    assert np.isnan(row["pcc"])
    assert row["ssim"] == pytest.approx(1.0)
    assert row["js"] == pytest.approx(0.0)


def test_dataframes_are_matched_by_name_and_index():
    truth = pd.DataFrame({"A": [0.0, 1.0, 2.0], "B": [3.0, 1.0, 0.0]}, index=["s1", "s2", "s3"])
    pred = truth.loc[["s3", "s1", "s2"], ["B", "A"]]
    out = bm.gene_metrics(truth, pred)
    assert list(out["gene"]) == ["A", "B"]
    assert np.allclose(out["pcc"], 1.0)
    with pytest.raises(ValueError, match="lacks 1 truth genes"):
        bm.gene_metrics(truth, pred[["A"]])


def test_negative_values_rejected_for_ssim_js():
    with pytest.raises(ValueError, match="negative"):
        bm.gene_metrics(np.array([[-1.0], [1.0]]), np.array([[0.0], [1.0]]))


def test_accuracy_score_by_hand():
    tab = pd.DataFrame(
        {
            "method": ["A", "B", "C"],
            "gene": ["g"] * 3,
            "pcc": [0.9, 0.5, 0.1],
            "ssim": [0.8, 0.5, 0.9],
            "rmse": [0.2, 0.5, 0.9],
            "js": [0.1, 0.3, 0.05],
        }
    )
    out = bm.accuracy_score(tab).set_index("method")["accuracy_score"]
    assert out["A"] == pytest.approx((1 + 2 / 3 + 1 + 2 / 3) / 4)
    assert out["B"] == pytest.approx(0.5)
    assert out["C"] == pytest.approx((1 / 3 + 1 + 1 / 3 + 1) / 4)


def test_accuracy_score_groups_and_means_over_genes():
    tab = pd.DataFrame(
        {
            "method": ["A", "A", "B", "B"] * 2,
            "is_lr": [True] * 4 + [False] * 4,
            "pcc": [1, 0, 0.2, 0.2, 0.1, 0.1, 0.9, 0.9],
            "ssim": [1, 1, 0, 0, 0, 0, 1, 1],
            "rmse": [0, 0, 1, 1, 1, 1, 0, 0],
            "js": [0, 0, 1, 1, 1, 1, 0, 0],
        }
    )
    out = bm.accuracy_score(tab, by=["is_lr"]).set_index(["is_lr", "method"])
    assert out.loc[(True, "A"), "pcc"] == pytest.approx(0.5)
    assert out.loc[(True, "A"), "accuracy_score"] == 1.0
    assert out.loc[(False, "B"), "accuracy_score"] == 1.0
    assert out.loc[(False, "A"), "accuracy_score"] == 0.5


def test_ccc_metrics_by_hand():
    # d = [0, 1, 1, 0] -> rho = 1 - 6 * 2 / (4 * 15)
    assert bm.spearman(np.array([1, 2, 3, 4]), np.array([1, 3, 2, 4])) == pytest.approx(0.8)
    s1 = pd.Series([1.0, 2.0, 3.0, np.nan], index=list("abcd"))
    s2 = pd.Series([3.0, 2.0, 1.0, 5.0], index=list("cbax"))
    assert bm.spearman(s1, s2) == pytest.approx(1.0)  # matched on index, NaN dropped
    # ranking pos, neg, pos, neg: AP = 0.5 * 1 + 0.5 * 2/3
    assert bm.pr_auc(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.4, 0.1])) == pytest.approx(5 / 6)
    assert np.isnan(bm.pr_auc(np.zeros(3), np.arange(3)))
    truth = pd.Series({"a": 4, "b": 3, "c": 2, "d": 1})
    pred = pd.Series({"a": 1, "b": 4, "c": 3, "d": 2})
    assert bm.jaccard_top_k(truth, pred, k=2) == pytest.approx(1 / 3)
    assert bm.jaccard_top_k(truth, pred, k=2, largest=False) == pytest.approx(1 / 3)  # {c,d} vs {a,d}
    assert bm.false_positive_rate([True, False, False, False]) == 0.25


def test_summarise_gene_metrics_splits_lr_and_ranks_methods():
    tab = pd.DataFrame(
        {
            "method": ["good"] * 4 + ["bad"] * 4,
            "scenario": "heldout",
            "gene": ["a", "b", "c", "d"] * 2,
            "is_lr": [True, True, False, False] * 2,
            "pcc": [0.8, 0.6, 0.9, np.nan, 0.1, 0.3, 0.2, 0.0],
            "ssim": [0.5] * 4 + [0.1] * 4,
            "rmse": [0.5] * 4 + [1.0] * 4,
            "js": [0.1] * 4 + [0.3] * 4,
            "status": ["ok"] * 3 + ["failed"] + ["ok"] * 4,
        }
    )
    out = bm.summarise_gene_metrics(tab).set_index(["method", "genes", "metric"])["value"]
    assert out[("good", "LR", "median_pcc")] == pytest.approx(0.7)
    assert out[("good", "non-LR", "median_pcc")] == pytest.approx(0.9)  # NaN of the failed gene skipped
    assert out[("good", "non-LR", "n_failed")] == 1
    assert out[("bad", "LR", "n_genes")] == 2
    assert out[("good", "LR", "accuracy_score")] == 1.0
    assert out[("bad", "LR", "accuracy_score")] == 0.5
