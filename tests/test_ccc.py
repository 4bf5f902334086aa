"""LIANA+ wrappers on planted data: the communication we planted is the one found."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from synthetic import PLANTED_LR, planted_pair

import commst.pp as pp
from commst.ccc import CELLTYPE_METHODS, auto_bandwidth, celltype_communication, spatial_bivariate
from commst.tl import build_imputed, impute_knn

RESOURCE = pd.DataFrame({"ligand": ["LIGA", "LIGA"], "receptor": ["RECB", "RECALL"]})


@pytest.fixture(scope="module")
def imputed():
    spatial, ref = planted_pair(spots_per_type=30)
    s, r = pp.prepare(spatial, ref, PLANTED_LR, min_shared_genes=10)
    genes = s.uns["commst"]["genes"]
    res = impute_knn(s, r, targets=genes["lr_targets"], input_genes=genes["input"], k=10)
    return build_imputed(s, res, method="knn"), r


def test_auto_bandwidth_is_the_spot_spacing(imputed):
    adata, _ = imputed
    assert auto_bandwidth(adata) == pytest.approx(1.0)  # spots are 1 apart within a stripe


def test_bivariate_scores_colocalised_pair_above_separated_pair(imputed):
    adata, _ = imputed
    local, table = spatial_bivariate(adata.copy(), RESOURCE, n_perms=20)
    score = table.set_index("interaction")["global_score"]
    # LIGA (type0 stripe) and RECB (type1 stripe) never meet; RECALL is everywhere
    assert score["LIGA^RECALL"] > score["LIGA^RECB"]
    assert list(table.columns[:5]) == ["interaction", "ligand", "receptor", "global_metric", "global_score"]
    assert local.n_obs == adata.n_obs


@pytest.mark.parametrize("method", ["rank_aggregate", "cellphonedb", "natmi"])
def test_celltype_method_finds_the_planted_sender_and_receiver(imputed, method):
    adata, _ = imputed
    result = celltype_communication(adata.copy(), RESOURCE, groupby="matched_cell_type", method=method, n_perms=20)
    planted = result[(result["ligand_complex"] == "LIGA") & (result["receptor_complex"] == "RECB")]
    assert set(zip(planted["source"], planted["target"])) == {("type0", "type1")}


def test_reference_and_unknown_method(imputed):
    _, ref = imputed
    result = celltype_communication(ref.copy(), RESOURCE, groupby="cell_type", n_perms=20)
    assert {"magnitude_rank", "specificity_rank"} <= set(result.columns)
    with pytest.raises(ValueError, match="unknown LIANA method"):
        celltype_communication(ref.copy(), RESOURCE, groupby="cell_type", method="magic")
    assert "rank_aggregate" in CELLTYPE_METHODS


# ------------------------------------------------------------------------- nothing to score, failures


def test_no_measured_lr_pair_gives_empty_tables_with_liana_columns(imputed, caplog):
    """The real consensus resource on data without its genes: empty tables, a note, no crash.

    (LIANA itself raises "Too few features from the resource were found" and lists every
    missing gene.)
    """
    from commst.priors import load_lr_resource

    adata, ref = imputed
    consensus = load_lr_resource("consensus", "human")
    with caplog.at_level("WARNING", logger="commst.ccc"):
        local, table = spatial_bivariate(adata.copy(), consensus, n_perms=5)
        ra = celltype_communication(ref.copy(), consensus, groupby="cell_type", n_perms=5)
    assert local is None and table.empty and ra.empty
    _, full = spatial_bivariate(adata.copy(), RESOURCE, n_perms=5)
    assert list(table.columns) == list(full.columns)
    full_ra = celltype_communication(ref.copy(), RESOURCE, groupby="cell_type", n_perms=5)
    assert list(ra.columns) == list(full_ra.columns)
    assert f"none of the {len(consensus)} LR pairs of the resource has all its genes" in caplog.text


def test_liana_failure_becomes_our_message(imputed):
    import numpy as np

    from commst.ccc import CommstCCCError

    adata, _ = imputed
    broken = adata.copy()
    broken.X[0, 0] = np.nan
    with pytest.raises(CommstCCCError) as err:
        spatial_bivariate(broken, RESOURCE, n_perms=5, sample="s1")
    message = str(err.value)
    assert message.startswith(
        "sample 's1', step ccc_spatial (LIANA bivariate cosine/morans): LIANA failed (ValueError: "
    )
    assert "non finite" in message and ". Fix: " in message and "delete it" in err.value.fix


def test_long_third_party_messages_are_cut():
    """LIANA's coverage error lists every missing gene; ours shows none of them."""
    from liana.method._pipe_utils import assert_covered

    from commst.ccc import CommstCCCError, liana_errors

    genes = [f"GENE{i}" for i in range(1000)]
    with pytest.raises(CommstCCCError) as err:
        with liana_errors("ccc_reference (LIANA rank_aggregate over cell_type)", sample="osmfish"):
            assert_covered(genes, ["OTHER"])
    message = str(err.value)
    assert "Too few features from the resource" in message and "[…]" in message
    assert "GENE500" not in message and len(message) < 700


def test_small_groups_are_left_out_with_a_warning(imputed, caplog):
    adata, ref = imputed
    ref = ref.copy()
    labels = ref.obs["cell_type"].astype(str).to_numpy()
    labels[:3] = "rare"  # three cells of a fourth type
    ref.obs["cell_type"] = pd.Categorical(labels)
    with caplog.at_level("WARNING", logger="commst.ccc"):
        result = celltype_communication(ref, RESOURCE, groupby="cell_type", min_cells=5, n_perms=5)
    assert (
        "leaves out 1 group(s) of obs['cell_type'] with fewer than ccc.min_cells = 5 observations: rare (3)"
        in caplog.text
    )
    assert len(result) and "rare" not in set(result["source"]) | set(result["target"])
    one = ref[ref.obs["cell_type"].isin(["type0", "rare"])].copy()
    with caplog.at_level("WARNING", logger="commst.ccc"):
        assert celltype_communication(one, RESOURCE, groupby="cell_type", min_cells=5, n_perms=5).empty
    assert "fewer than 2 groups" in caplog.text


def test_bandwidth_must_leave_spots_neighbours(imputed, caplog):
    import numpy as np

    from commst.validate import CommstInputError

    adata, _ = imputed
    with pytest.raises(
        CommstInputError, match=r"ccc\.bandwidth = 0\.01 .* leaves 90 of 90 spots without a spatial neighbour"
    ) as err:
        spatial_bivariate(adata.copy(), RESOURCE, bandwidth=0.01, n_perms=5, path="imputed.h5ad")
    assert "set ccc.bandwidth to about 1" in err.value.fix
    outlier = adata.copy()
    outlier.obsm["spatial"] = np.asarray(outlier.obsm["spatial"], dtype=float).copy()
    outlier.obsm["spatial"][0] = [1000.0, 1000.0]  # one spot far from the others
    with caplog.at_level("WARNING", logger="commst.ccc"):
        _, table = spatial_bivariate(outlier, RESOURCE, n_perms=5)
    assert "leaves 1 of 90 spots without a spatial neighbour" in caplog.text and len(table) == 2


def test_celltype_dotplot_of_many_groups_is_saved(tmp_path):
    """LIANA's dotplot of a label-level table with many groups (a reference with 16 cell types)."""
    from commst.pl import celltype_dotplot

    rng = np.random.default_rng(0)
    types = [f"type{i}" for i in range(16)]
    rows = [(s, t, f"L{i}", f"R{i}") for s in types for t in types for i in range(3)]
    table = pd.DataFrame(rows, columns=["source", "target", "ligand_complex", "receptor_complex"])
    table["magnitude_rank"] = rng.uniform(0.001, 1, len(table))
    table["specificity_rank"] = rng.uniform(0.001, 1, len(table))
    plot = celltype_dotplot(table, "rank_aggregate", top_n=20)
    plot.save(tmp_path / "dotplot.png", format="png", dpi=50, verbose=False)
    assert (tmp_path / "dotplot.png").stat().st_size > 10_000
    assert celltype_dotplot(table.iloc[:0], "rank_aggregate") is None
