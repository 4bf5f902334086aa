"""Methods of one sample compared with the primary one (commst.tl.compare_methods, commst.pl), on hand-made inputs."""

from __future__ import annotations

import anndata as ad
import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from commst import pl, tl
from commst.tl._compare import gene_correlations

SPOTS = [f"s{i}" for i in range(4)]


def _imputed(x: np.ndarray, labels: list[str], *, spots=SPOTS) -> ad.AnnData:
    adata = ad.AnnData(
        X=np.asarray(x, dtype=np.float32),
        obs=pd.DataFrame({"matched_cell_type": pd.Categorical(labels)}, index=list(spots)),
        var=pd.DataFrame(index=["G1", "G2", "G3"]),
    )
    adata.layers["imputed_counts"] = np.expm1(adata.X) * 3
    return adata


def _pairs(names: list[str], scores: list[float], significant: list[bool]) -> pd.DataFrame:
    return pd.DataFrame({"interaction": names, "global_score": scores, "significant": significant})


@pytest.fixture
def inputs():
    base = np.array([[0.0, 1.0, 2.0], [1.0, 0.5, 2.0], [2.0, 0.2, 0.1], [3.0, 0.0, 0.7]])
    other = base.copy()
    other[:, 1] = base[:, 1].max() - base[:, 1]  # G2 reversed: r = -1
    other[:, 2] = 1.0  # G3 constant: no correlation
    # knn's spots in another order, one of them missing: the comparison matches spots by name
    knn = _imputed(other[[3, 1, 0]], ["B", "B", "A"], spots=[SPOTS[3], SPOTS[1], SPOTS[0]])
    imputed = {"commst": _imputed(base, ["A", "A", "B", "B"]), "knn": knn}
    quality = {
        "commst": pd.DataFrame(
            {
                "round": [0, 0, 1],
                "gene": ["a", "b", "a"],
                "pcc_counts": [0.2, 0.4, 0.6],
                "pcc_lognorm": [0.1, 0.3, np.nan],
                "baseline_pcc_counts": [0.1, 0.2, 0.3],
                "baseline_pcc_lognorm": [0.0, 0.1, 0.2],
            }
        ),
        # knn's own check (commst.tl.heldout_check): its baseline is itself
        "knn": pd.DataFrame(
            {
                "round": [0, 0, 0],
                "gene": ["a", "c", "d"],
                "pcc_counts": [0.1, 0.3, 0.5],
                "pcc_lognorm": [0.0, 0.2, 0.1],
                "baseline_pcc_counts": [0.1, 0.3, 0.5],
                "baseline_pcc_lognorm": [0.0, 0.2, 0.1],
            }
        ),
    }
    bivariate = {
        "commst": _pairs(["p1", "p2", "p3"], [0.9, 0.5, 0.1], [True, True, False]),
        "knn": _pairs(["p3", "p4", "p1"], [0.2, 0.8, 0.4], [True, False, False]),
    }
    return imputed, quality, bivariate


def test_compare_methods_gives_the_known_numbers(inputs):
    imputed, quality, bivariate = inputs
    table = tl.compare_methods(imputed, quality, bivariate, primary="commst", n_top=2).set_index("method")
    assert list(table.index) == ["commst", "knn"] and table["primary"].tolist() == [True, False]
    primary, knn = table.loc["commst"], table.loc["knn"]
    # the primary's own check and knn on its genes, medians on both scales
    assert primary["heldout_genes"] == 2
    assert (primary["heldout_pcc_counts"], primary["heldout_pcc_lognorm"]) == pytest.approx((0.4, 0.2))
    assert (primary["knn_pcc_counts"], primary["knn_pcc_lognorm"]) == pytest.approx((0.2, 0.1))
    # knn's own check: its medians, and knn on its genes is itself
    assert knn["heldout_genes"] == 3
    assert (knn["heldout_pcc_counts"], knn["heldout_pcc_lognorm"]) == pytest.approx((0.3, 0.1))
    assert (knn["knn_pcc_counts"], knn["knn_pcc_lognorm"]) == pytest.approx((0.3, 0.1))
    # against itself, the primary agrees fully
    assert primary["label_agreement"] == 1.0 and primary["top_pairs_shared"] == 2
    assert primary["lr_gene_corr_lognorm"] == pytest.approx(1.0)
    # knn: on the 3 spots it shares, labels B/B/A against B/A/A -> 2 of 3
    assert knn["label_agreement"] == pytest.approx(2 / 3)
    # top 2 by score: knn {p4, p1}, commst {p1, p2} -> one shared; significant pairs counted
    assert knn["top_pairs_shared"] == 1 and knn["n_top_pairs"] == 2
    assert (primary["n_significant"], knn["n_significant"]) == (2, 1)
    # per gene across the shared spots: G1 r = 1, G2 r = -1, G3 constant (left out) -> median 0
    assert knn["lr_genes_compared"] == 2 and knn["lr_gene_corr_lognorm"] == pytest.approx(0.0, abs=1e-6)
    per_gene = tl.per_gene_agreement(imputed["knn"], imputed["commst"])
    assert per_gene["G1"] == pytest.approx(1.0) and per_gene["G2"] == pytest.approx(-1.0) and np.isnan(per_gene["G3"])


def test_gene_correlations_equal_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(30, 5)), rng.normal(size=(30, 5))
    expected = [np.corrcoef(a[:, j], b[:, j])[0, 1] for j in range(5)]
    np.testing.assert_allclose(gene_correlations(a, b), expected)


def test_compare_methods_needs_the_primary(inputs):
    imputed, quality, bivariate = inputs
    with pytest.raises(ValueError, match="tangram"):
        tl.compare_methods(imputed, quality, bivariate, primary="tangram")


def test_comparison_figure_draws_the_table(inputs):
    imputed, quality, bivariate = inputs
    quality = {**quality, "knn": quality["knn"].iloc[:0]}  # knn run with impute: heldout_rounds: 0
    table = tl.compare_methods(imputed, quality, bivariate, primary="commst", n_top=2)
    per_gene = {"knn": tl.per_gene_agreement(imputed["knn"], imputed["commst"])}
    fig = pl.method_comparison(table, per_gene)
    heldout, agreement, genes = fig.axes[:3]
    # bars: commst, knn (no check: 0 height, marked –), knn on commst's genes; counts then log-normalised
    heights = [patch.get_height() for patch in heldout.patches]
    assert heights == pytest.approx([0.4, 0.0, 0.2, 0.2, 0.0, 0.1])
    assert "–" in [t.get_text() for t in heldout.texts]
    widths = [patch.get_width() for patch in agreement.patches]
    assert widths[:3] == pytest.approx([2 / 3, 0.5, 0.0], abs=1e-6)
    assert [t.get_text() for t in genes.get_legend().get_texts()] == ["knn (2 genes, median 0.00)"]
