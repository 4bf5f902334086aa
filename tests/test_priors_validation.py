"""Ligand-specificity validation of the ligand → target prior, and the builder's specificity steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score

import commst.priors as P

REPO = Path(__file__).resolve().parents[1]


def test_auroc_matches_sklearn_with_ties() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, size=200).astype(float)  # many ties
    positive = rng.random(200) < 0.2
    assert P.auroc(scores, positive) == pytest.approx(roc_auc_score(positive, scores))
    assert np.isnan(P.auroc(scores, np.zeros(200, dtype=bool)))


def test_ligand_specificity_on_a_hand_made_matrix() -> None:
    # A's column ranks its targets g1, g2 first; every row has the same mean (1/3), so the
    # ligand-agnostic score ties everything (AUROC 0.5); B's and C's columns rank g1, g2 below
    # one negative each and tie them with the other: AUROC 1/4 each.
    m = pd.DataFrame(
        {"A": [1, 1, 0, 0], "B": [0, 0, 1, 0], "C": [0, 0, 0, 1]}, index=["g1", "g2", "g3", "g4"], dtype=float
    )
    pairs = pd.DataFrame(
        {
            "ligand": ["A", "A", "B", "B", "Z"],
            "target": ["g1", "g2", "g3", "g5", "g1"],  # g5 is no row of the matrix; Z no column
            "family": ["fa", "fa", "fb", "fb", "fz"],
            "half": ["tuning", "tuning", "heldout", "heldout", "heldout"],
        }
    )
    ext = pd.Series({"g1": 1.0, "g2": 1.0})  # a reference agnostic score that knows A's targets
    r = P.ligand_specificity(m, pairs, n_other=2, references={"ext": ext}).set_index("ligand")
    assert list(r.index) == ["A", "B"]  # Z has no column and is left out
    a = r.loc["A"]
    assert (a["auroc_own"], a["auroc_agnostic"], a["auroc_other"]) == (1.0, 0.5, 0.25)
    assert (a["own_minus_agnostic"], a["own_minus_other"]) == (0.5, 0.75)
    assert (a["auroc_ext"], a["auroc_agnostic_max"]) == (1.0, 1.0)
    # B: its universe is the rows plus its target g5 that is no row (scores 0)
    b = r.loc["B"]
    assert (b["n_targets"], b["n_in_rows"], b["half"]) == (2, 1, "heldout")
    assert b["auroc_own"] == pytest.approx((3 + 0.5 * 3) / 6)  # g3 beats g1, g2, g4; g5 ties them
    assert b["auroc_agnostic"] == pytest.approx(0.5 * 3 / 6)  # g3 ties the rows, g5 is below all
    assert b["auroc_other"] == pytest.approx((1 / 6 + 2 / 6) / 2)  # median of A's and C's columns
    s = P.summarise_specificity(r.reset_index()).set_index("half")
    assert s.loc["tuning", "n_ligands"] == 1 and s.loc["tuning", "share_own_gt_agnostic"] == 1.0
    assert s.loc["tuning", "own_minus_agnostic_max"] == 0.0


def test_validation_set_is_split_by_family_and_cited() -> None:
    val = P.load_validation("human")
    refs = pd.read_csv(P.validation_dir() / "references.tsv", sep="\t")
    cited = {k for ks in val["references"] for k in ks.split(";")}
    assert cited <= set(refs["key"]) and refs["citation"].str.len().min() > 40
    halves = val.groupby("half")
    assert set(halves.groups) == {"tuning", "heldout"}
    assert not set(halves.get_group("tuning")["family"]) & set(halves.get_group("heldout")["family"])
    assert halves["ligand"].nunique().min() >= 20 and not val.duplicated(["ligand", "target"]).any()
    # the issue-3 evaluation ligands are held out; mouse pairs come through one-to-one orthologs
    assert set(val.loc[val["half"] == "heldout", "ligand"]) >= {"TGFB1", "IFNG", "TNF"}
    mouse = P.load_validation("mouse")
    assert {"Tgfb1", "Serpine1"} <= set(mouse["ligand"]) | set(mouse["target"])
    assert "CXCL8" not in set(mouse["target"]) and 0.7 * len(val) < len(mouse) < len(val)


def test_mask_validation_pairs_drops_only_those_edges() -> None:
    nets = {
        "lr": pd.DataFrame({"from": ["A"], "to": ["R"], "source": ["x"]}),
        "gr": pd.DataFrame({"from": ["A", "A", "T"], "to": ["g1", "g2", "g1"], "source": ["x", "y", "z"]}),
    }
    out = P.mask_validation_pairs(nets, pd.DataFrame({"ligand": ["A"], "target": ["g1"]}))
    assert out["lr"].equals(nets["lr"])
    assert list(zip(out["gr"]["from"], out["gr"]["to"])) == [("A", "g2"), ("T", "g1")]


def _toy() -> tuple[dict, pd.DataFrame]:
    # L1 -> R1 -> TF1 -> G1 (specific), L2 -> R2 -> TF2 -> G2; both receptors -> hub TF TFH -> GH,
    # with two sources each (weight 2); L1 also regulates GX directly (a ligand -> target edge, as
    # in NicheNet's GR network)
    nets = {
        "lr": pd.DataFrame({"from": ["L1", "L2"], "to": ["R1", "R2"], "source": "toy"}),
        "sig": pd.DataFrame(
            {
                "from": ["R1", "R2", "R1", "R2", "R1", "R2"],
                "to": ["TF1", "TF2", "TFH", "TFH", "TFH", "TFH"],
                "source": ["toy", "toy", "toy", "toy", "toy_b", "toy_b"],
            }
        ),
        "gr": pd.DataFrame({"from": ["TF1", "TF2", "TFH", "L1"], "to": ["G1", "G2", "GH", "GX"], "source": "toy"}),
    }
    return nets, pd.DataFrame({"ligand": ["L1", "L2"], "receptor": ["R1", "R2"]})


def test_specificity_steps_on_a_toy_network() -> None:
    nets, lr = _toy()
    base = {
        "ltf_cutoff": 0.0,
        "lr_sig_hub": 0.0,
        "receptor_seed": 0.0,
        "node_specificity": 0.0,
        "target_specificity": 0.0,
    }

    def frame(**kw) -> pd.DataFrame:
        return P.build_ligand_target("human", lr=lr, networks=nets, params={**base, **kw}).to_frame()

    plain = frame()
    # without corrections the hub TF's target outranks L1's own (R1 sends 2/3 of its walk to TFH)
    assert plain.loc["GH", "L1"] == pytest.approx(2 * plain.loc["G1", "L1"]) and plain.loc["G2", "L1"] == 0
    # TFH is reached as much by L2, TF1 only by L1: relative to the mean over ligands, L1's TF1
    # is twice its background and TFH once, so G1 ranks above GH by either correction
    node = frame(node_specificity=1.0)
    assert node.loc["G1", "L1"] == pytest.approx(2 * node.loc["GH", "L1"])
    target = frame(target_specificity=1.0)
    assert target.loc["G1", "L1"] == pytest.approx(2 * target.loc["GH", "L1"])
    # the ligand's own regulatory edge counts while the walk restarts at the ligand, not from receptors
    assert plain.loc["GX", "L1"] > 0 and frame(receptor_seed=1.0).loc["GX", "L1"] == 0
    # a column does not depend on which other ligands are built (background = all ligands)
    alone = P.build_ligand_target(
        "human", lr=lr, networks=nets, ligands=["L1"], params={**base, "node_specificity": 1.0}
    ).to_frame()
    np.testing.assert_allclose(alone["L1"], node.loc[alone.index, "L1"], rtol=1e-6)


def test_receptor_seeds_follow_lr_weights() -> None:
    nets, lr = _toy()
    nets["lr"] = pd.concat([nets["lr"], pd.DataFrame({"from": ["L1"], "to": ["R2"], "source": ["toy2"]})])
    graphs = P._nichenet._graphs(nets, {"lr_sig_hub": 0.0, "gr_hub": 0.0}, {"toy2": 0.5})
    seed = P._nichenet._restarts(graphs, ["L1", "L2"], 0.6).toarray()
    i = graphs.index
    np.testing.assert_allclose(seed.sum(axis=0), 1.0)
    # L1: 0.4 at itself, 0.6 over R1 : R2 = 1 : 0.5
    assert seed[i["L1"], 0] == pytest.approx(0.4)
    assert seed[i["R1"], 0] == pytest.approx(0.4) and seed[i["R2"], 0] == pytest.approx(0.2)


def test_builder_defaults_are_the_config_schema_defaults() -> None:
    """One place for the builder's defaults: DEFAULT_PARAMS, mirrored by the schema (and config.yaml,
    which tests/test_config.py holds equal to the schema)."""
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    props = schema["properties"]["priors"]["properties"]["nichenet"]["properties"]["builder"]["properties"]
    schema_defaults = {k: v["default"] for k, v in props.items()}
    assert schema_defaults == {k: v for k, v in P.DEFAULT_PARAMS.items() if k not in ("tol", "max_iter")}


@pytest.fixture(scope="module")
def heldout_human() -> pd.DataFrame:
    """Per-ligand specificity of the default builder (human, all ligands) on the held-out half,
    built from networks without the validation pairs' own edges."""
    pairs = P.load_validation("human")
    lr = P.load_lr_resource("consensus", "human")
    p = P.DEFAULT_PARAMS
    nets = P.load_networks(
        "human",
        lr=lr,
        lr_name="consensus",
        kegg_reactome=p["kegg_reactome"],
        kegg_expression=p["kegg_expression"],
        dorothea_levels=p["dorothea_levels"],
    )
    m = P.build_ligand_target("human", lr=lr, networks=P.mask_validation_pairs(nets, pairs))
    r = P.ligand_specificity(m.to_frame(), pairs)
    return r[r["half"] == "heldout"]


def test_default_builder_is_ligand_specific_on_the_held_out_half(heldout_human: pd.DataFrame) -> None:
    # Measured (resources/priors/README.md): median own AUROC 0.886 (builder before issue 18:
    # 0.760), other ligands' columns 0.761 (before 0.773, i.e. the old own column was no better
    # than a random ligand's), own column above the row mean for 14 of 21 ligands (before 11).
    # The "median own >= median agnostic + 0.05" is NOT met: 0.886 vs 0.886.
    r = heldout_human
    assert len(r) == 21
    own = r["auroc_own"].median()
    assert own >= 0.82  # the issue asks >= 0.65; the old builder (0.76) fails this
    assert own - r["auroc_other"].median() >= 0.05
    assert (r["auroc_own"] > r["auroc_agnostic"]).mean() >= 0.6
