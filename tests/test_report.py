"""The report's tables and figures as functions (commst.pl, commst.tl selection record) and
``commst.tl.impute``'s ``key_added`` / ``copy``: known answers on hand-made tables and on the
bundled demo pair."""

from __future__ import annotations

import logging
import re

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import commst
from commst import pl
from commst.tl import log_selection, selection_reasons, selection_table


def _body_rows(page: str) -> list[list[str]]:
    """The cells of each body row of the (one) table in an HTML page."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S) for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


# --- html_table ---------------------------------------------------------------------------------


def test_html_table_rounds_escapes_and_caps_with_a_note():
    frame = pd.DataFrame(
        {"gene": ["CD3D", "<b>x</b>", "C", "D"], "pcc": [0.123456, 0.5, np.nan, 1.0], "n": [3.0, 4, 5, 6]}
    )
    page = pl.html_table(frame, "Title & more", "A caption.", max_rows=2, full_table="results/x/table.tsv")
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page and "Title &amp; more" in page
    assert _body_rows(page) == [["CD3D", "0.123", "3"], ["&lt;b&gt;x&lt;/b&gt;", "0.500", "4"]]
    assert "first 2 of 4 rows; full table: results/x/table.tsv" in page
    assert "td:nth-child(2)" in page and "td:nth-child(3)" in page and "td:nth-child(1)" not in page  # numbers right
    whole = pl.html_table(frame, "T", "c")
    assert len(_body_rows(whole)) == 4 and "rows; full table" not in whole and _body_rows(whole)[2][1] == "–"


def test_html_table_of_no_rows_says_none():
    page = pl.html_table(pd.DataFrame(columns=["step", "message"]), "Warnings", "none here")
    assert "<th>step</th>" in page and _body_rows(page) == [["none"]]


# --- the held-out check: verdict and summary ---------------------------------------------------


def _quality(ours: list[float], knn: list[float]) -> pd.DataFrame:
    """Hand-made quality table: gene g{i} scored once, the depth-free scale half the counts one."""
    genes = [f"g{i}" for i in range(len(ours))]
    return pd.DataFrame(
        {
            "round": 0,
            "gene": genes,
            "pcc_counts": ours,
            "pcc_lognorm": np.array(ours) / 2,
            "baseline_pcc_counts": knn,
            "baseline_pcc_lognorm": np.array(knn) / 2,
        }
    )


def test_per_gene_quality_averages_the_rounds_that_hid_a_gene():
    table = pd.DataFrame(
        {"round": [0, 1, 0], "gene": ["A", "A", "B"], "pcc_counts": [0.2, 0.4, 0.9], "pcc_lognorm": [0.1, 0.3, 0.5]}
    )
    genes = pl.per_gene_quality(table)
    assert genes.loc["A", "pcc_counts"] == pytest.approx(0.3) and genes.loc["A", "pcc_lognorm"] == pytest.approx(0.2)
    summary = pl.quality_summary(table).set_index("scale")
    assert summary.loc["counts", "method"] == pytest.approx(0.6) and np.isnan(summary.loc["counts", "baseline"])


def test_verdict_says_better_when_the_method_beats_knn():
    text = pl.quality_verdict(_quality([0.2, 0.31, 0.5], [0.1, 0.24, 0.3]))
    assert text == (
        "commst recovers held-out measured genes with median PCC 0.31 (counts) / 0.15 (depth-free) over 3 genes; "
        "knn on the same genes 0.24 / 0.12: better than knn on both scales."
    )


def test_verdict_says_weaker_plainly():
    text = pl.quality_verdict(_quality([0.1, 0.2, 0.3], [0.2, 0.4, 0.5]))
    assert "median PCC 0.20 (counts) / 0.10 (depth-free)" in text and text.endswith("weaker than knn on both scales.")
    mixed = _quality([0.1, 0.3, 0.5], [0.1, 0.2, 0.3]).assign(pcc_lognorm=[0.0, 0.05, 0.1])
    assert pl.quality_verdict(mixed).endswith("weaker than knn on the depth-free scale, better on the counts.")


def test_verdict_without_a_quality_table_says_so():
    text = pl.quality_verdict(pd.DataFrame(columns=["round", "gene", "pcc_counts", "pcc_lognorm"]), method="knn")
    assert text.startswith("knn: no built-in held-out check")
    assert "heldout_rounds: 0" in text


def test_verdict_of_knn_does_not_compare_it_with_itself():
    text = pl.quality_verdict(_quality([0.2, 0.31, 0.5], [0.2, 0.31, 0.5]), method="knn")
    assert text.startswith("knn recovers held-out measured genes with median PCC 0.31 (counts)")
    assert text.endswith("genes.") and "same genes" not in text


# --- model selection --------------------------------------------------------------------------


def _extra(counts: list[float], lognorm: list[float], chosen: dict, select_delta=0.005) -> dict:
    """A method record of a 3-setting grid, default (10, 0.75, 40)."""
    settings = [(0.0, 0.0, 40), (10.0, 0.75, 40), (100.0, 1.0, 40)]
    rows = [("counts", *s, v) for s, v in zip(settings, counts)] + [
        ("lognorm", *s, v) for s, v in zip(settings, lognorm)
    ]
    table = pd.DataFrame(rows, columns=["scale", "alpha", "beta", "k_within", "median_pcc"])
    config = {"default": [10.0, 0.75, 40], "alphas": [0.0, 10.0, 100.0], "k_withins": [40], "select": True}
    return {
        "selection": table.to_dict(orient="list"),
        "chosen": chosen,
        "config": {**config, "select_delta": select_delta, "mask_rounds": 3},
    }


def test_selection_table_marks_default_and_kept_and_the_reason():
    extra = _extra([0.10, 0.25, 0.254], [0.05, 0.12, 0.14], {"counts": [10.0, 0.75, 40], "lognorm": [100.0, 1.0, 40]})
    table = selection_table(extra)
    counts = table[table["scale"] == "counts"].set_index("alpha")
    assert list(counts.index) == [100.0, 10.0, 0.0]  # best first
    assert counts.loc[10.0, "default"] and counts.loc[10.0, "kept"] and not counts.loc[100.0, "kept"]
    assert counts.loc[100.0, "vs_default"] == pytest.approx(0.004)
    reasons = selection_reasons(extra)
    assert reasons[0].startswith("counts scale: kept (alpha=10, beta=0.75, k_within=40)")
    assert "no other setting beats it by more than select_delta=0.005 (best other +0.004)" in reasons[0]
    assert reasons[1].startswith("depth-free scale: kept (alpha=100, beta=1, k_within=40)")
    assert "beats the default by +0.020 > select_delta=0.005" in reasons[1]


def test_impute_log_has_a_line_per_candidate_and_the_kept_one(caplog):
    extra = _extra([0.10, 0.25, 0.254], [0.05, 0.12, 0.14], {"counts": [10.0, 0.75, 40], "lognorm": [100.0, 1.0, 40]})
    with caplog.at_level(logging.INFO, logger="commst"):
        log_selection(extra)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 6 + 2
    assert sum("[kept]" in line for line in lines) == 2 and sum("[default]" in line for line in lines) == 2
    assert lines[-1].startswith("selection depth-free scale: kept (alpha=100")
    caplog.clear()
    log_selection({"quality": {}})  # a method without a selection logs nothing
    assert not caplog.records


# --- priors -----------------------------------------------------------------------------------


def test_priors_table_names_each_prior_and_whether_it_was_used():
    manifest = {
        "artefacts": {
            "ppi": {
                "kind": "ppi",
                "source": "STRING v12.0",
                "version": "12.0",
                "n_edges": 10,
                "n_genes": 5,
                "min_score": 0.7,
                "sha256": "ab" * 32,
            },
            "lr": {"kind": "lr", "source": "consensus", "sha256": "cd" * 32},
            "ligand_target": {"kind": "ligand_target", "source": "offline", "n_ligands": 2, "n_targets": 3, "nnz": 4},
        }
    }
    table = pl.priors_table(manifest, used={"lr": True, "ppi": False, "ligand_target": False}, n_pairs=42).set_index(
        "prior"
    )
    assert list(table.index) == ["lr", "ppi", "ligand_target"]
    assert table.loc["lr", "size"] == "42 pairs" and table.loc["lr", "used by this run"].startswith("yes")
    assert table.loc["ppi", "size"] == "10 edges, 5 genes (score >= 0.7)" and table.loc["ppi", "sha256"] == "ab" * 6
    assert table.loc["ligand_target", "used by this run"].startswith("no")


# --- figures and the overview on the demo pair ---------------------------------------------------


@pytest.fixture(scope="module")
def imputed(demo_pair):
    """The commst model on 300 demo spots (the API's defaults)."""
    return commst.tl.impute(demo_pair[0][:300].copy(), demo_pair[1])


def test_overview_counts_what_the_run_imputed(imputed, demo_pair):
    table = pl.overview_table(imputed, wall_s=12.34, n_warnings=2, sample="demo").set_index("quantity")["value"]
    assert table["spots"] == "300" and table["method"] == "commst" and table["device"] == "cpu"
    measured = int(imputed.var["measured_in_spatial"].sum())
    assert 0 < measured < imputed.n_vars and table["LR targets measured / imputed"] == f"{measured} / {imputed.n_vars}"
    assert table["share of values guarded (likely zero)"] == f"{imputed.layers['guarded'].mean():.1%}"
    assert table["imputation wall time"] == "12.3 s" and table["warnings"] == "2"
    used = pl.priors_used(imputed)
    assert used == {"lr": True, "ppi": False, "ligand_target": False}  # the model's default: no network prior


def test_heldout_quality_figure_marks_the_medians(imputed):
    summary = pl.quality_summary(imputed).set_index("scale")
    assert summary.loc["counts", "n_genes"] > 50 and np.isfinite(summary["baseline"]).all()
    fig = pl.heldout_quality(imputed)
    axes = fig.get_axes()
    assert len(axes) == 2
    label = axes[0].get_legend().get_texts()[0].get_text()
    assert label == f"medians ({summary.loc['counts', 'baseline']:.2f}, {summary.loc['counts', 'method']:.2f})"
    assert pl.quality_verdict(imputed) in fig._suptitle.get_text().replace("\n", " ")


def test_measured_lr_genes_are_compared_with_the_imputation_that_never_read_them(imputed):
    table = pl.measured_lr_genes(imputed)
    assert not set(table.index) & set(pl.per_gene_quality(imputed).index)  # LR targets are never input genes
    assert len(table) == int(imputed.var["measured_in_spatial"].sum()) and table["detected"].is_monotonic_decreasing
    gene = table.index[0]
    observed = np.asarray(imputed[:, gene].layers["observed"]).ravel()
    assert observed.any()
    assert table.loc[gene, "pcc"] == pytest.approx(
        np.corrcoef(observed, np.asarray(imputed[:, gene].X).ravel())[0, 1], abs=1e-5
    )
    fig = pl.imputed_vs_observed(imputed, n=2)
    titles = [ax.get_title() for ax in fig.get_axes() if ax.get_title()]
    assert (
        titles[:2] == [f"{gene}: observed", f"{gene}: imputed (PCC {table.loc[gene, 'pcc']:.2f})"] and len(titles) == 4
    )


def test_uncertainty_maps_show_the_guarded_share_and_each_gene(imputed):
    genes = list(imputed.var_names[:2])
    fig = pl.uncertainty_maps(imputed, genes)
    titles = [ax.get_title() for ax in fig.get_axes() if ax.get_title()]
    assert titles[0] == f"share of the {imputed.n_vars} targets guarded (all: {imputed.layers['guarded'].mean():.1%})"
    assert titles[1:] == [f"{g}: {what}" for g in genes for what in ("uncertainty (SD of X, capped at p99)", "P(0)")]


# --- key_added / copy -------------------------------------------------------------------------


def test_copy_false_writes_the_copy_true_result_into_the_spatial_anndata(demo_pair, tmp_path):
    spatial = demo_pair[0][:200].copy()
    counts = spatial.X.toarray()
    counts[5] = 0  # QC removes this spot (no counts)
    spatial.X = sp.csr_matrix(counts)
    kwargs = {"method": "knn", "params": {"k": 15}}
    imputed = commst.tl.impute(spatial, demo_pair[1], **kwargs)
    assert imputed.n_obs == 199
    before = spatial.copy()
    assert commst.tl.impute(spatial, demo_pair[1], key_added="lr", copy=False, **kwargs) is None
    assert (spatial.X != before.X).nnz == 0 and list(spatial.var_names) == list(before.var_names)
    info = spatial.uns["lr"]
    assert info["genes"] == list(imputed.var_names) and info["commst"]["method"] == "knn"
    rows = spatial.obs_names.get_indexer(imputed.obs_names)
    np.testing.assert_array_equal(spatial.obsm["lr"][rows], imputed.X)
    np.testing.assert_array_equal(spatial.obsm["lr_uncertainty"][rows], imputed.layers["uncertainty"])
    np.testing.assert_array_equal(spatial.obsm["lr_guarded"][rows], imputed.layers["guarded"])
    assert np.isnan(spatial.obsm["lr"][5]).all() and not spatial.obsm["lr_guarded"][5].any()
    labels = spatial.obs["lr_matched_cell_type"]
    assert (
        labels.isna().sum() == 1
        and (labels.iloc[rows].astype(str).to_numpy() == imputed.obs["matched_cell_type"].astype(str).to_numpy()).all()
    )
    # the user can save it: the written keys survive an h5ad round trip
    spatial.write_h5ad(tmp_path / "spatial.h5ad")
    back = ad.read_h5ad(tmp_path / "spatial.h5ad")
    np.testing.assert_array_equal(back.obsm["lr"], spatial.obsm["lr"])
    assert list(back.uns["lr"]["genes"]) == info["genes"] and back.uns["lr"]["commst"]["method"] == "knn"
