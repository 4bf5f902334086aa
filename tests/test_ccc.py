"""LIANA+ wrappers on planted data: the communication we planted is the one found."""

from __future__ import annotations

import pandas as pd
import pytest

import commst.pp as pp
from commst.ccc import CELLTYPE_METHODS, auto_bandwidth, celltype_communication, spatial_bivariate
from commst.tl import build_imputed, impute_knn

from synthetic import PLANTED_LR, planted_pair

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
