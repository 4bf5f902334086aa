"""The spatial LR test: known answers on synthetic layouts, calibration on real data, diagnostics."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy.stats import false_discovery_control
from synthetic import LAYOUT_PAIRS, communication_layout

from commst.ccc import (
    NULLS,
    bh,
    compare_measured,
    cross_decoys,
    driver_status,
    lr_significance,
    moran_inflation,
    spatial_bivariate,
    spatial_graph,
    split_half_moran,
    statistic_weights,
)
from commst.ccc._significance import _label_groups, _within_labels

REPO = Path(__file__).resolve().parents[1]


def _called(adata: ad.AnnData, null: str, **kwargs) -> pd.Series:
    adata = adata.copy()
    _, table = spatial_bivariate(adata, LAYOUT_PAIRS, null=null, n_perms=199, **kwargs)
    return table.set_index("interaction")["significant"]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("denoised", [False, True], ids=["noisy", "denoised"])
def test_planted_interaction_is_called_and_layout_alone_is_not(seed, denoised):
    """L next to its receptor R is significant; L with G, which only follows the layout, is not.

    ``denoised`` is a perfect imputation: the expected counts with their Poisson sd as the
    uncertainty layer. The spot-shuffling null (LIANA's) calls the layout-only pair too.
    """
    adata = communication_layout(seed=seed, denoised=denoised)
    called = _called(adata, "uncertainty_labels", seed=seed)
    assert called["L^R"] and not called["L^G"]
    assert _called(adata, "spots", seed=seed)["L^G"]


def test_statistic_is_liana_score_and_nulls_run(tmp_path):
    adata = communication_layout(seed=0)
    local, table = spatial_bivariate(adata, LAYOUT_PAIRS, null="spots", n_perms=20)
    for null in NULLS:
        tested = lr_significance(adata, table, null=null, n_perms=60, n_draws=3)
        np.testing.assert_allclose(tested["statistic"], table["global_score"], rtol=1e-4, atol=1e-6)
        assert tested["pvalue"].between(0, 1).all() and (tested["null"] == null).all()
    assert local.shape == (adata.n_obs, 2) and "spatial" in local.obsm
    local.write_h5ad(tmp_path / "local.h5ad")
    back = ad.read_h5ad(tmp_path / "local.h5ad")
    assert list(back.var_names) == list(table["interaction"])


def test_within_label_permutation_keeps_every_spot_label():
    labels = np.array(list("AABBBCCCCD"))
    order = _within_labels(_label_groups(labels), labels.size, np.random.default_rng(0))
    assert sorted(order) == list(range(labels.size)) and (labels[order] == labels).all()
    assert (order != np.arange(labels.size)).any()


def test_bh_matches_scipy_and_keeps_nan():
    p = np.array([0.01, 0.04, np.nan, 0.03, 0.2, 0.5])
    q = bh(p)
    ok = np.isfinite(p)
    np.testing.assert_allclose(q[ok], false_discovery_control(p[ok]))
    assert np.isnan(q[2])


def test_cross_decoys_are_never_partners():
    resource = pd.DataFrame({"ligand": ["A", "B", "C", "A", "D"], "receptor": ["X", "Y", "Z_W", "Y", "A"]})
    decoys = cross_decoys(resource, ["A", "B", "C", "D", "X", "Y", "Z", "W"])
    pairs = set(zip(decoys["ligand"], decoys["receptor"]))
    # A is a ligand and a receptor (D->A): left out; Z, W are complex subunits: not decoy genes
    assert pairs == {("B", "X"), ("C", "X"), ("C", "Y"), ("D", "X"), ("D", "Y")}


def test_null_needs_labels_and_says_how_to_fix():
    from commst.validate import CommstInputError

    adata = communication_layout(seed=0)
    del adata.obs["matched_cell_type"]
    with pytest.raises(CommstInputError, match="permutes spots within their labels") as err:
        spatial_bivariate(adata, LAYOUT_PAIRS, null="labels", path="imputed.h5ad")
    assert "ccc.null_model: spots" in err.value.fix


def test_driver_status_measured_imputed_guarded():
    adata = communication_layout(seed=0)
    spatial_graph(adata)
    n = adata.n_obs
    adata.var["measured_in_spatial"] = adata.var_names == "L"
    adata.layers["observed"] = np.where(adata.var_names == "L", adata.X, 0).astype(np.float32)
    guarded = np.zeros(adata.shape, np.uint8)
    guarded[:, list(adata.var_names).index("R")] = 1  # every R value guarded
    adata.layers["guarded"] = guarded
    table = driver_status(adata, LAYOUT_PAIRS)
    row = table.set_index("receptor").loc["R"]
    assert row["ligand_status"] == "measured" and row["receptor_status"] == "guarded"
    assert row["receptor_guarded_share"] == 1.0 and row["n_driver_spots"] == round(0.1 * n)
    assert table.set_index("receptor").loc["G", "receptor_status"] == "imputed"


def test_compare_measured_marks_calls_only_after_imputation():
    imputed = pd.DataFrame(
        {
            "interaction": ["a", "b", "c", "d"],
            "global_score": [0.3, 0.2, 0.1, 0.0],
            "significant": [True, True, True, False],
        }
    )
    measured = pd.DataFrame(
        {"interaction": ["a", "b"], "global_score": [0.25, 0.01], "qvalue": [0.01, 0.5], "significant": [True, False]}
    )
    out = compare_measured(imputed, measured).set_index("interaction")
    assert out["only_after_imputation"].to_dict() == {"a": False, "b": True, "c": True, "d": False}
    assert out["measured_testable"].to_dict() == {"a": True, "b": True, "c": False, "d": False}


def test_moran_inflation_flags_layout_copied_into_noise():
    """A gene measured as noise but imputed as the cell-type layout is inflated; an honest copy is not."""
    measured = communication_layout(seed=0)
    spatial_graph(measured)
    rng = np.random.default_rng(1)
    noise = rng.poisson(1.0, measured.n_obs).astype(np.float32)
    j = list(measured.var_names).index("bgA0")
    measured.layers["counts"][:, j] = noise
    library = measured.layers["counts"].sum(axis=1)
    measured.X[:, j] = np.log1p(noise / library * 1e4)
    imputed = measured.copy()
    imputed.X[:, j] = measured[:, "G"].X.ravel()  # the layout, put where the data hold noise
    imputed.var["measured_in_spatial"] = np.isin(imputed.var_names, ["bgA0", "G"])
    table = moran_inflation(measured, imputed).set_index("gene")
    assert table.loc["bgA0", "inflated"] and not table.loc["G", "inflated"]
    assert table.loc["G", "moran_observed_denoised"] > table.loc["G", "moran_observed"]
    assert (table["bound"] >= table["moran_observed"] + 0.1 - 1e-9).all()  # noise never lowers the bound
    # the split-half correction normalises by each spot's whole library, also on a subset of genes
    genes = ["bgA0", "G"]
    sub = measured[:, genes].copy()
    sub.obs["total_counts"] = np.asarray(library).ravel()
    again = moran_inflation(sub, imputed[:, genes].copy()).set_index("gene")
    weights, _ = statistic_weights(sub.obsp["spatial_connectivities"])
    expected, _ = split_half_moran(sub.layers["counts"], np.asarray(library).ravel(), weights, seed=0)
    np.testing.assert_allclose(again.loc[genes, "moran_observed_denoised"], expected)


@pytest.fixture(scope="module")
def starmap_thinned():
    """STARmap split: truth and its 10 % thinning imputed by knn, with LR pairs and cross decoys."""
    from commst.benchmark.data import get_counts, split_spatial, thin_counts
    from commst.pp import counts_matrix, get_gene_sets, library_size, lognorm, prepare
    from commst.priors import load_alias_map, load_lr_resource, lr_genes
    from commst.tl import impute_knn, log_scale_sd

    data = ad.read_h5ad(REPO / "resources/benchmark/starmap_visp.h5ad")
    data.layers["counts"] = get_counts(data).copy()
    reference, spatial = split_spatial(data, cell_type_key="cell_type", fraction=0.5, seed=0)
    lr = load_lr_resource("consensus", "mouse")
    spatial, reference = prepare(
        spatial, reference, lr_genes(lr), alias_map=load_alias_map("mouse"), min_shared_genes=50
    )
    sets = get_gene_sets(spatial)
    genes = [g for g in sets.lr_targets if g in spatial.var_names]
    inputs = [g for g in sets.input if g in reference.var_names]
    real = lr[lr["ligand"].isin(genes) & lr["receptor"].isin(genes)][["ligand", "receptor"]]
    pairs = pd.concat([real.assign(kind="real"), cross_decoys(lr, genes, max_n=300).assign(kind="decoy")])

    def spots(values, labels, sd=None):
        out = ad.AnnData(
            X=np.asarray(values, np.float32),
            obs=pd.DataFrame({"matched_cell_type": labels}, index=spatial.obs_names),
            var=pd.DataFrame(index=genes),
        )
        out.obsm["spatial"] = np.asarray(spatial.obsm["spatial"], float)
        if sd is not None:
            out.layers["uncertainty"] = sd
        return out

    truth_labels = impute_knn(spatial, reference, targets=genes[:1], input_genes=inputs).labels.to_numpy()
    truth = spots(lognorm(counts_matrix(spatial[:, genes]).toarray(), library_size(spatial)), truth_labels)
    thinned = thin_counts(spatial, 0.1, seed=0)
    library = library_size(thinned)
    res = impute_knn(
        thinned[:, [g for g in thinned.var_names if g not in genes]], reference, targets=genes, input_genes=inputs
    )
    imputed = spots(
        lognorm(res.counts, library), res.labels.to_numpy(), log_scale_sd(res.counts, res.uncertainty, library)
    )
    return truth, imputed, pairs


def _decoy_rate(adata: ad.AnnData, pairs: pd.DataFrame, null: str) -> float:
    adata = adata.copy()
    spatial_graph(adata)
    decoys = pairs[pairs["kind"] == "decoy"]
    tested = lr_significance(adata, decoys, null=null, n_perms=199)
    return float(tested["significant"].mean())


def test_chosen_null_keeps_decoys_at_the_truth_rate_after_imputation(starmap_thinned):
    """Real data: non-partner LR genes imputed from 10 % capture are called no more often than in the truth.

    With the spot-shuffling null the imputed data call many more decoys than the truth.
    """
    truth, imputed, pairs = starmap_thinned
    assert (pairs["kind"] == "decoy").sum() >= 200
    chosen = _decoy_rate(imputed, pairs, "uncertainty_labels")
    assert chosen <= _decoy_rate(truth, pairs, "uncertainty_labels") + 0.05
    assert _decoy_rate(imputed, pairs, "spots") > _decoy_rate(truth, pairs, "spots") + 0.05


OPTIONS = {
    "bandwidth": None,
    "cutoff": 0.1,
    "local_metric": "cosine",
    "global_metric": "morans",
    "null_model": "uncertainty_labels",
    "n_perms": 99,
    "n_draws": 5,
    "fdr": 0.05,
}


def test_measured_and_imputed_steps_on_a_known_layout():
    """The workflow's two steps: the measured data test the pairs whose genes they have, the imputed
    table says which calls only imputation makes and where each gene stands."""
    from commst.ccc import imputed_communication, measured_communication

    noisy = communication_layout(seed=0)
    imputed = communication_layout(seed=0, denoised=True)
    imputed.var["measured_in_spatial"] = imputed.var_names != "R"  # the spatial panel lacks the receptor R
    imputed.layers["observed"] = np.where(imputed.var["measured_in_spatial"], noisy.X, 0).astype(np.float32)
    spatial = noisy[:, noisy.var_names != "R"].copy()
    measured, moran = measured_communication(spatial, imputed, LAYOUT_PAIRS, OPTIONS)
    assert list(measured["interaction"]) == ["L^G"] and not measured["significant"].any()
    assert set(moran["gene"]) == set(imputed.var_names) - {"R"} and moran["moran_imputed"].notna().all()
    local, table = imputed_communication(imputed, LAYOUT_PAIRS, measured, OPTIONS)
    row = table.set_index("interaction")
    assert row.loc["L^R", "significant"] and row.loc["L^R", "only_after_imputation"]
    assert not row.loc["L^R", "measured_testable"] and row.loc["L^G", "measured_testable"]
    assert row.loc["L^R", "receptor_status"] == "imputed" and row.loc["L^G", "ligand_status"] == "measured"
    assert list(local.var_names) == list(table["interaction"]) and "only_after_imputation" in local.var
    # a panel without any LR pair: nothing to compare, the Moran check still runs
    empty, moran = measured_communication(
        spatial[:, ~spatial.var_names.isin(["L"])].copy(), imputed, LAYOUT_PAIRS, OPTIONS
    )
    assert empty.empty and list(empty.columns) == list(measured.columns) and len(moran) > 0
