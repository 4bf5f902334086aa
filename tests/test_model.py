"""The CommST model (:mod:`commst.model`): known answers of its parts and a real-data check."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import prepared_demo_subset
from scipy import stats

from commst._constants import Keys
from commst.benchmark.metrics import pcc
from commst.model import CommSTConfig, impute_commst
from commst.model._mixture import MatchedCells, em_weights, mixture_weights
from commst.model._predictive import Dispersion, expected_lognorm, nb_interval
from commst.model._search import NeighbourIndex
from commst.model._select import choose, select_on_masked_genes
from commst.model._space import MatchingSpace
from commst.tl import build_imputed, get_method


# ----------------------------------------------------------------------------- EM and the mixture
def test_em_recovers_planted_weights():
    """Counts drawn from a known mixture of known profiles give back the weights."""
    rng = np.random.default_rng(0)
    n_spots, n_groups, n_genes = 50, 4, 60
    prof = rng.dirichlet(np.full(n_genes, 0.3), size=n_groups)  # groups x genes, distinct
    truth = rng.dirichlet(np.ones(n_groups), size=n_spots)
    y = rng.poisson(20_000 * truth @ prof)
    profiles = np.broadcast_to(prof, (n_spots, n_groups, n_genes)).astype(np.float32)
    w = em_weights(y, profiles, np.ones((n_spots, n_groups), bool), n_iter=300)
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-5)
    assert np.abs(w - truth).max() < 0.03


def test_em_prior_pulls_toward_its_mean_and_absent_groups_stay_zero():
    rng = np.random.default_rng(1)
    prof = rng.dirichlet(np.full(30, 0.3), size=3)
    y = rng.poisson(30 * np.array([[0.9, 0.1, 0.0]]) @ prof)  # few counts: the prior matters
    profiles = np.broadcast_to(prof, (1, 3, 30)).astype(np.float32)
    present = np.array([[True, True, False]])
    ml = em_weights(y, profiles, present, n_iter=100)
    prior = np.array([0.2, 0.8, 0.0])
    pulled = em_weights(y, profiles, present, n_iter=100, alpha=1000.0, prior=prior, init=ml)
    assert ml[0, 2] == 0 and pulled[0, 2] == 0
    assert np.abs(pulled[0, :2] - prior[:2]).max() < 0.05 < np.abs(ml[0, :2] - prior[:2]).max()


def _matched_case(seed: int = 0):
    """Two cell types with within-type structure (sub-states) the matched cells must resolve.

    Type ``a`` has two sub-states that differ in input gene 0 and in the target; spots are
    single cells of a chosen sub-state. A type average would give every ``a`` spot the same
    target value; the matched single cells give each spot its own sub-state's.
    """
    rng = np.random.default_rng(seed)
    n_in = 20
    base_a, base_b = np.full(n_in, 5.0), np.full(n_in, 5.0)
    base_a[:5], base_b[5:10] = 30.0, 30.0
    cells, codes, target = [], [], []
    for sub in (0, 1):
        for _ in range(60):
            mu = base_a.copy()
            mu[10 + sub * 5 : 15 + sub * 5] = 25.0  # sub-state marker genes
            cells.append(rng.poisson(mu))
            codes.append(0)
            target.append(rng.poisson(40.0 if sub == 1 else 1.0))
    for _ in range(60):
        cells.append(rng.poisson(base_b))
        codes.append(1)
        target.append(rng.poisson(5.0))
    ref_in = sp.csr_matrix(np.array(cells, float))
    ref_t = sp.csr_matrix(np.array(target, float)[:, None])
    spot_sub = np.repeat([0, 1], 30)
    spots = []
    for sub in spot_sub:
        mu = base_a.copy()
        mu[10 + sub * 5 : 15 + sub * 5] = 25.0
        spots.append(rng.poisson(mu))
    return ref_in, ref_t, np.array(codes), sp.csr_matrix(np.array(spots, float)), spot_sub


def _space(sp_in: sp.csr_matrix, ref_in: sp.csr_matrix) -> MatchingSpace:
    def unit(x):
        x = np.log1p(np.asarray(x.todense()) / np.asarray(x.sum(1)) * 1e3)
        x = x - x.mean(0)
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    return MatchingSpace(unit(sp_in), unit(ref_in), n_pv=sp_in.shape[1])


def _matched(space: MatchingSpace, codes: np.ndarray, k: int, spots=None, **kw) -> MatchedCells:
    """The matched cells of ``spots`` (default all) by the exact per-type search."""
    depth = max(k, kw.get("k_global", 0))
    nb = NeighbourIndex(space.cells, codes, 2, depth, method="exact").query(
        space.spots if spots is None else space.spots[spots]
    )
    return MatchedCells(nb, codes, 2, k, **kw)


def _mixture_shares(matched: MatchedCells, sp_in, ref_in, ref_t, **kw):
    depth = np.asarray(ref_in.sum(1)).ravel()
    ml, w = mixture_weights(matched, sp_in.toarray(), sp.csr_matrix(ref_in, dtype=np.float32), depth, **kw)
    return ml, {a: np.asarray((w.cells(a) @ ref_t).toarray()) for a in w.pi}


def test_matched_single_cells_resolve_within_type_states_a_type_average_cannot():
    ref_in, ref_t, codes, sp_in, spot_sub = _matched_case()
    space = _space(sp_in, ref_in)
    kw = {"alphas": [0.0], "n_iter": 50, "n_iter_map": 0, "chunk": 16}
    ml, matched = _mixture_shares(_matched(space, codes, 20), sp_in, ref_in, ref_t, **kw)
    _, pooled = _mixture_shares(_matched(space, codes, 120), sp_in, ref_in, ref_t, **kw)  # all cells: type average
    share_m, share_p = matched[0.0][:, 0], pooled[0.0][:, 0]
    assert (ml.argmax(1) == 0).all()
    # matched cells: high-target sub-state spots get ≈ 40 / depth, the others ≈ 1 / depth
    assert share_m[spot_sub == 1].min() > 5 * share_m[spot_sub == 0].max()
    assert np.ptp(share_p) < 0.2 * np.ptp(share_m)  # the type average hardly varies


def test_pooled_shares_equal_the_cell_weights_product_for_every_alpha():
    """Pooling the groups' output counts once and weighting per alpha equals each alpha's spots x cells product."""
    ref_in, ref_t, codes, sp_in, _ = _matched_case()
    space = _space(sp_in, ref_in)
    depth = np.asarray(ref_in.sum(1)).ravel()
    kw = {"alphas": [0.0, 30.0], "n_iter": 30, "n_iter_map": 10, "chunk": 16, "prior": np.array([0.2, 0.8])}
    ref32 = sp.csr_matrix(ref_in, dtype=np.float32)
    _, w = mixture_weights(_matched(space, codes, 20), sp_in.toarray(), ref32, depth, **kw)
    out = sp.csr_matrix(sp.hstack([ref_in[:, :3], ref_t]), dtype=np.float32)
    shares = w.shares(out, chunk=7)  # chunks that do not divide the 60 spots
    for a in kw["alphas"]:
        np.testing.assert_allclose(shares[a], (w.cells(a) @ out).toarray(), rtol=1e-5)
    assert np.abs(shares[30.0] - shares[0.0]).max() > 1e-3 * np.abs(shares[0.0]).max()  # the alphas differ


def test_max_type_share_keeps_groups_below_the_whole_type():
    ref_in, ref_t, codes, sp_in, _ = _matched_case()
    space = _space(sp_in, ref_in)
    whole = _matched(space, codes, 500, np.arange(4)).groups()
    half = _matched(space, codes, 500, np.arange(4), max_type_share=0.5).groups()
    sizes = np.bincount(codes)  # 120 and 60 cells
    np.testing.assert_array_equal(np.diff(whole.indptr), np.tile(sizes, 4))  # k_within above the size: whole types
    np.testing.assert_array_equal(np.diff(half.indptr), np.tile(sizes // 2, 4))


def test_global_neighbourhood_groups_by_type():
    ref_in, ref_t, codes, sp_in, _ = _matched_case()
    space = _space(sp_in, ref_in)
    groups = _matched(space, codes, 20, np.arange(3), neighbourhood="global", k_global=30).groups()
    assert groups.shape == (6, ref_in.shape[0]) and groups.sum() == 3 * 30
    for row in range(6):
        cells = groups[row].indices
        assert (codes[cells] == row % 2).all()


# ----------------------------------------------------------------------------- predictive
def test_expected_lognorm_matches_the_poisson_sum():
    mu = np.array([[0.01, 0.5, 3.0, 40.0]])
    lib = np.array([2500.0])
    y = np.arange(400)
    exact = [(stats.poisson.pmf(y, m) * np.log1p(y * 1e4 / 2500.0)).sum() for m in mu[0]]
    np.testing.assert_allclose(expected_lognorm(mu, lib, target_sum=1e4)[0], exact, rtol=0.02, atol=1e-4)


def test_nb_interval_and_p_zero_known_answers():
    mean, size = np.array([0.05, 2.0, 30.0, 500.0]), np.array([2.0, 1.0, 5.0, 10.0])
    lo, hi, p0 = nb_interval(mean, size, 0.9)
    p = size / (size + mean)
    np.testing.assert_allclose(p0, p**size)
    np.testing.assert_array_equal(lo[:3], stats.nbinom.ppf(0.05, size[:3], p[:3]))
    np.testing.assert_array_equal(hi[:3], stats.nbinom.ppf(0.95, size[:3], p[:3]))
    # beyond the walk: the normal approximation, close to the exact quantile
    assert abs(hi[3] - stats.nbinom.ppf(0.95, size[3], p[3])) <= 0.05 * hi[3]


def test_dispersion_fit_recovers_the_size():
    rng = np.random.default_rng(0)
    mu = rng.gamma(2.0, 2.0, size=(2000, 30))
    theta = 3.0
    y = rng.negative_binomial(theta, theta / (theta + mu))
    fit = Dispersion.fit(y.astype(float), mu)
    assert 2.0 < fit.theta < 4.5 and abs(fit.log_r_mean) < 0.05


# ----------------------------------------------------------------------------- selection
def _table(scores: dict[tuple[float, float, int], float]) -> pd.DataFrame:
    rows = [("counts", *k, v) for k, v in scores.items()]
    return pd.DataFrame(rows, columns=["scale", "alpha", "beta", "k_within", "median_pcc"])


def test_selection_keeps_the_default_unless_beaten_by_the_margin():
    cfg = CommSTConfig()
    scores = dict.fromkeys(cfg.grid(), 0.10)
    scores[cfg.default] = 0.12
    planted = (30.0, 1.0, 40)
    scores[planted] = 0.124  # within select_delta: default kept
    assert choose(_table(scores), "counts", cfg) == cfg.default
    scores[planted] = 0.13  # beats it by more: chosen
    assert choose(_table(scores), "counts", cfg) == planted
    assert choose(_table(scores), "counts", cfg.replace(select=False)) == cfg.default
    assert choose(_table(scores), "counts", cfg, lambda s: s[1] == 0.0) == (0.0, 0.0, 40)


def test_quality_baseline_is_scored_on_a_spot_subsample_aligned_with_the_truth():
    ref_in, ref_t, codes, sp_in, _ = _matched_case()
    cfg = CommSTConfig(mask_rounds=2, max_baseline_spots=25, select=False)
    seen = []

    def truth(spots, visible, masked):  # a "peer" that returns the spots' measured masked counts
        seen.append(spots.size)
        return sp_in[spots][:, masked].toarray()

    library = np.asarray(sp_in.sum(1)).ravel()
    sel = select_on_masked_genes(sp_in, ref_in, ref_t, codes, 2, library, cfg, seed=0, target_sum=1e4, baseline=truth)
    assert seen == [25, 25]
    q = sel.quality.dropna(subset=["baseline_pcc_counts"])
    assert len(q) > 0
    np.testing.assert_allclose(q["baseline_pcc_counts"], 1.0, rtol=1e-9)  # its spots are the truth's spots
    assert (sel.quality["pcc_counts"] < 0.999).any()  # the model's column is its own, on all 60 spots


def test_config_rejects_a_default_off_the_grid_and_unknown_keys():
    with pytest.raises(ValueError, match="not a point of the grid"):
        CommSTConfig(default=(5.0, 0.75, 40))
    with pytest.raises(ValueError, match="unknown CommST model settings"):
        CommSTConfig.from_dict({"epochs": 3})


# ----------------------------------------------------------------------------- the bundled pair
@pytest.fixture(scope="module")
def lymph_subsample(demo_pair):
    """400 demo spots and the demo reference, prepared; 25 % of the non-LR input genes held out."""
    spatial, reference, inputs = prepared_demo_subset(demo_pair, 400)
    held = sorted(np.random.default_rng(1).choice(inputs, len(inputs) // 4, replace=False))
    visible = [g for g in inputs if g not in set(held)]
    return spatial, reference, held, visible


def test_beats_knn_on_held_out_genes_of_the_bundled_pair(lymph_subsample):
    """Held-out input genes of the real lymph-node pair: CommST above the knn method (counts scale)."""
    spatial, reference, held, visible = lymph_subsample
    truth = spatial[:, held].layers["counts"].toarray()
    sp_vis = spatial[:, visible].copy()
    ours = impute_commst(sp_vis, reference, targets=held, input_genes=visible, seed=0, quality_baseline=False)
    knn = get_method("knn")(sp_vis, reference, targets=held, input_genes=visible, seed=0)
    mine, theirs = np.nanmedian(pcc(truth, ours.counts)), np.nanmedian(pcc(truth, knn.counts))
    assert mine > theirs + 0.02, (mine, theirs)


def test_output_contract_and_determinism(lymph_subsample):
    spatial, reference, held, visible = lymph_subsample
    targets = list(spatial.uns["commst"]["genes"]["lr_targets"])[:60]
    kw = {"targets": targets, "input_genes": visible, "seed": 3, "mask_rounds": 2}
    res = impute_commst(spatial, reference, **kw)
    again = impute_commst(spatial, reference, **kw)
    assert res.counts.tobytes() == again.counts.tobytes()
    out = build_imputed(spatial, res, method="commst")
    for key in (Keys.layers.expected_lognorm, Keys.layers.lo, Keys.layers.hi, Keys.layers.p_zero):
        assert out.layers[key].shape == out.shape
    lo, hi, counts = out.layers["lo"], out.layers["hi"], out.layers["imputed_counts"]
    assert (lo <= hi).all() and (lo >= 0).all()
    assert (out.layers["guarded"] == (out.layers["p_zero"] >= 0.9)).all()
    assert (counts[out.layers["guarded"] == 1] > 0).any(), "the guard flags, it does not zero"
    # uncertainty is the SD of X (delta method from the predictive SD of the counts)
    lib = np.asarray(spatial.layers["counts"].sum(1)).ravel()
    s = (1e4 / lib)[:, None]
    np.testing.assert_allclose(out.layers["uncertainty"], res.uncertainty * s / (1 + res.counts * s), rtol=1e-5)
    assert Keys.var.reliability in out.var and np.isfinite(out.var[Keys.var.reliability]).mean() > 0.5
    info = json.loads(out.uns["commst"]["method_info"])
    assert set(info["chosen"]) == {"counts", "lognorm"} and "median_pcc" in info["selection"]
    quality = pd.DataFrame(info["quality"])
    assert {"gene", "pcc_counts", "pcc_lognorm", "baseline_pcc_counts", "baseline_pcc_lognorm"} <= set(quality)
    assert set(quality["gene"]) <= set(visible)
    # labels only: no proportions anywhere in the output
    assert out.obs[Keys.obs.matched_cell_type].isin(reference.obs["cell_type"].astype(str)).all()
    assert not any("prop" in k or "weight" in k for k in [*out.obsm, *out.obs.columns, *out.layers])
    assert isinstance(out, ad.AnnData)


def test_gene_weights_zero_equal_dropping_those_genes():
    """A likelihood weight of 0 is the same as leaving the gene out of the EM (weights in input-depth units)."""
    rng = np.random.default_rng(2)
    prof = rng.dirichlet(np.full(40, 0.5), size=3)
    y = rng.poisson(500 * np.array([[0.5, 0.3, 0.2]]) @ prof)
    present = np.ones((1, 3), bool)
    w = np.ones(40)
    w[:15] = 0.0
    weighted = em_weights(y, prof[None].astype(np.float32), present, n_iter=200, gene_weights=w)
    dropped = em_weights(y[:, 15:], prof[None, :, 15:].astype(np.float32), present, n_iter=200)
    subset_share = prof[:, 15:].sum(1) / prof.sum(1)  # each group's share of the depth on the kept genes
    back = dropped / subset_share
    np.testing.assert_allclose(weighted, back / back.sum(), atol=1e-4)


def test_prior_gene_weights_known_answers():
    from commst.model import nichenet_gene_weights, ppi_gene_weights

    # inputs A, B, C; targets L (a ligand), R. PPI: A-L (1.0), B-R (0.5); C isolated
    graph = sp.csr_matrix(
        np.array([[0, 0, 0, 1.0, 0], [0, 0, 0, 0, 0.5], [0, 0, 0, 0, 0], [1.0, 0, 0, 0, 0], [0, 0.5, 0, 0, 0]])
    )
    w = ppi_gene_weights(graph, 3)
    assert w.mean() == pytest.approx(1.0) and w[0] > w[1] > w[2]
    # NicheNet: ligand L regulates B strongly, A weakly; C unknown
    matrix = sp.csc_matrix(np.array([[0.1], [0.9], [0.0]]))
    w = nichenet_gene_weights(matrix, ["A", "B", "C"], ["L"], ["A", "B", "C"], ["L", "R"])
    assert w.mean() == pytest.approx(1.0) and w[1] > w[0] > w[2]
