"""STRING PPI graph, personalised PageRank and the offline NicheNet-style ligand → target prior."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import commst.priors as P

# Textbook early-response targets the issue names. Evaluated, never tuned on: the builder's
# defaults were chosen on other ligand families (the tuning half of resources/priors/validation/;
# these ligands are in its held-out half). TGFB1's pairs are also direct edges of NicheNet's GR
# example network, so on this (shipped, unmasked) matrix they test the integration, not prediction.
KNOWN = {
    "TGFB1": ["SERPINE1", "COL1A1", "CCN2"],
    "IFNG": ["CXCL9", "CXCL10", "IRF1", "STAT1"],
    "TNF": ["NFKBIA", "TNFAIP3", "CXCL8"],
}
# Threshold: percentiles are over all ~10,600 genes with a regulator (human); genes the ligand's
# signalling does not reach score 0 and tie at about the 30th percentile, a random gene averages
# the 50th. The 90th percentile demands that every known target is reached *and* ranks in the top
# tenth (about the top 1,000 genes). Measured with the defaults: 93.0-100 human, 94.2-100 mouse
# (ranks 5-766). It does fail on a worse prior: with NicheNet's unoptimised vignette settings
# (hubs 0.5, damping 0.5, cutoff 0.99, no specificity correction) plus KEGG/Reactome,
# TNF->NFKBIA falls to the 48th.
MIN_PERCENTILE = 90.0


def _mouse(g: str) -> str:
    return g[:1] + g[1:].lower()


@pytest.fixture(scope="module")
def human_lt() -> P.LigandTargetMatrix:
    return P.build_ligand_target("human", ligands=list(KNOWN))


@pytest.fixture(scope="module")
def mouse_lt() -> P.LigandTargetMatrix:
    return P.build_ligand_target("mouse", ligands=[_mouse(g) for g in KNOWN])


def test_known_targets_rank_high_human(human_lt: P.LigandTargetMatrix) -> None:
    pct = {(l, t): human_lt.percentile_rank(l, t) for l, ts in KNOWN.items() for t in ts}
    assert min(pct.values()) >= MIN_PERCENTILE, pct
    # and a control: a known target of one ligand is not a top target of an unrelated one
    assert human_lt.percentile_rank("TGFB1", "SERPINE1") > human_lt.percentile_rank("IFNG", "SERPINE1")
    assert human_lt.percentile_rank("IFNG", "CXCL9") > human_lt.percentile_rank("TGFB1", "CXCL9")


def test_known_targets_rank_high_mouse(mouse_lt: P.LigandTargetMatrix) -> None:
    pct = {
        (l, t): mouse_lt.percentile_rank(_mouse(l), _mouse(t))
        for l, ts in KNOWN.items()
        for t in ts
        if t != "CXCL8"  # no mouse orthologue
    }
    assert min(pct.values()) >= MIN_PERCENTILE, pct


def test_ligand_target_artefact_roundtrip(human_lt: P.LigandTargetMatrix, tmp_path: Path) -> None:
    path = human_lt.save(tmp_path / "lt.npz")
    back = P.LigandTargetMatrix.load(path)
    assert back.targets == human_lt.targets and back.ligands == human_lt.ligands
    assert abs(back.matrix - human_lt.matrix).max() == 0
    df = P.ligand_target_matrix("human", ligands=["TNF", "NOTALIGAND"], targets=["NFKBIA", "NOTAGENE"], path=path)
    assert list(df.columns) == ["TNF", "NOTALIGAND"] and list(df.index) == ["NFKBIA", "NOTAGENE"]
    assert df.loc["NFKBIA", "TNF"] > 0 and df["NOTALIGAND"].eq(0).all() and df.loc["NOTAGENE"].eq(0).all()
    assert human_lt.meta["params"] == P.DEFAULT_PARAMS


def test_personalized_pagerank_matches_linear_solve() -> None:
    rng = np.random.default_rng(0)
    n = 30
    dense = rng.random((n, n)) * (rng.random((n, n)) < 0.15)
    dense[5] = 0  # a dangling node
    adj = sp.csr_matrix(dense)
    d = 0.7
    got = P.personalized_pagerank(adj, [0, 5, 7], damping_factor=d, tol=1e-12, max_iter=500)
    out = dense.sum(axis=1)
    for row, s in zip(got, [0, 5, 7]):
        trans = np.zeros((n, n))
        nz = out > 0
        trans[nz] = dense[nz] / out[nz, None]
        trans[~nz, s] = 1.0  # dangling walkers restart at the seed
        e = np.zeros(n)
        e[s] = 1.0
        exact = np.linalg.solve(np.eye(n) - d * trans.T, (1 - d) * e)
        np.testing.assert_allclose(row, exact, atol=1e-6)
        assert abs(row.sum() - 1) < 1e-5


def test_builder_on_a_toy_network() -> None:
    nets = {
        "lr": pd.DataFrame({"from": ["L1", "L2"], "to": ["R1", "R2"], "source": "toy"}),
        "sig": pd.DataFrame({"from": ["R1", "K1", "R2"], "to": ["K1", "TF1", "TF2"], "source": "toy"}),
        "gr": pd.DataFrame({"from": ["TF1", "TF1", "TF2"], "to": ["G1", "G2", "G3"], "source": "toy"}),
    }
    lr = pd.DataFrame({"ligand": ["L1", "L2"], "receptor": ["R1", "R2"]})
    m = P.build_ligand_target("human", lr=lr, networks=nets, params={"ltf_cutoff": 0.0})
    df = m.to_frame()
    assert set(df.index) == {"G1", "G2", "G3"} and list(df.columns) == ["L1", "L2"]
    assert df.loc["G1", "L1"] > 0 and df.loc["G2", "L1"] > 0 and df.loc["G3", "L1"] == 0
    assert df.loc["G3", "L2"] > 0 and df.loc["G1", "L2"] == 0
    # hub correction divides by in-degree ** hub; a zero source weight removes a source
    wn = P.weighted_networks(
        {
            **nets,
            "lr": pd.concat([nets["lr"], pd.DataFrame({"from": ["L2"], "to": ["R1"], "source": ["other"]})]),
        },
        lr_sig_hub=1.0,
        gr_hub=0.0,
    )
    r1 = wn["lr_sig"].set_index(["from", "to"])["weight"]
    assert r1[("L1", "R1")] == pytest.approx(0.5)
    wn0 = P.weighted_networks(nets, source_weights={"toy": 0.0})
    assert wn0["gr"].empty


def test_read_official_nichenet_rds(tmp_path: Path) -> None:
    """A matrix with dimnames written with rdata's own writer, read back as NicheNet's file would be."""
    from rdata.conversion.to_r import ConverterFromPythonToR, build_r_object
    from rdata.unparser import unparse_file

    values = np.array([[0.1, 0.0], [0.0, 0.3], [0.2, 0.05]])
    conv = ConverterFromPythonToR()
    obj = conv.convert_to_r_object(values.ravel(order="F"))
    attrs = conv.convert_to_r_attributes(
        {
            "dim": np.array(values.shape, dtype=np.int32),
            "dimnames": [np.array(["SERPINE1", "CTGF", "CXCL9"]), np.array(["TGFB1", "IFNG"])],
        }
    )
    rd = dataclasses.replace(
        conv.convert_to_r_data(values),
        object=build_r_object(obj.info.type, value=obj.value, attributes=attrs),
    )
    path = tmp_path / "ligand_target_matrix.rds"
    unparse_file(path, rd, file_format="xdr", file_type="rds")
    m = P.load_ligand_target("human", path=path)
    assert m.targets == ["SERPINE1", "CCN2", "CXCL9"]  # CTGF alias resolved
    np.testing.assert_allclose(m.to_frame().to_numpy(), values, rtol=1e-6)
    bad = tmp_path / "vector.rds"
    unparse_file(bad, conv.convert_to_r_data(np.arange(3.0)), file_format="xdr", file_type="rds")
    with pytest.raises(P.CommstPriorsError, match="not a NicheNet ligand-target matrix"):
        P.read_nichenet_rds(bad)


def test_ppi_graph_string_complexes_and_lr() -> None:
    genes = ["TGFB1", "TGFBR1", "TGFBR2", "SMAD3", "SMAD4", "ACTB", "NOTAGENE"]
    g = P.ppi_graph(genes, "human")
    assert g.shape == (7, 7) and (g != g.T).nnz == 0 and g.diagonal().sum() == 0
    assert g[0, 2] >= 0.7 and g[3, 4] >= 0.7  # TGFB1-TGFBR2, SMAD3-SMAD4 in STRING
    assert g[6].nnz == 0
    lr = pd.DataFrame({"ligand": ["TGFB1"], "receptor": ["TGFBR1_TGFBR2"]})
    g2 = P.ppi_graph(["TGFBR1", "TGFBR2", "TGFB1"], "human", lr=lr, min_score=0.99)
    assert g2[0, 1] == 1.0 and g2[2, 0] == 1.0 and g2[2, 1] == 1.0
    # higher threshold keeps a subset of edges
    assert P.ppi_graph(genes, "human", min_score=0.95).nnz <= g.nnz
    with pytest.raises(P.CommstPriorsError, match="duplicates"):
        P.ppi_graph(["A", "A"], "human")


def test_ppi_mouse_and_artefact_path(tmp_path: Path) -> None:
    edges = P.write_ppi_artefact("mouse", tmp_path / "ppi.parquet", genes=None)
    assert len(edges) > 50_000
    side = json.loads((tmp_path / "ppi.parquet.json").read_text())
    assert side["n_edges"] == len(edges) and len(side["sha256"]) == 64
    genes = ["Tgfb1", "Tgfbr2", "Smad3", "Smad4"]
    g = P.ppi_graph(genes, "mouse", path=tmp_path / "ppi.parquet")
    assert g[2, 3] >= 0.7
    assert (P.ppi_graph(genes, "mouse") != g).nnz == 0


def test_string_official_format(tmp_path: Path) -> None:
    links = tmp_path / "9606.protein.links.v12.0.txt"
    links.write_text(
        "protein1 protein2 combined_score\n9606.P1 9606.P2 900\n9606.P2 9606.P1 900\n9606.P1 9606.P3 300\n"
    )
    info = tmp_path / "9606.protein.info.v12.0.txt"
    info.write_text(
        "#string_protein_id\tpreferred_name\tprotein_size\tannotation\n9606.P1\tCTGF\t1\tx\n9606.P2\tTGFB1\t1\ty\n9606.P3\tSMAD3\t1\tz\n"
    )
    e = P.string_edges("human", source="download", links=links, info=info, min_score=0.4)
    assert e.to_dict("records") == [{"gene_1": "CCN2", "gene_2": "TGFB1", "weight": pytest.approx(0.9)}]
