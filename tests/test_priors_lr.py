"""LR databases, aliases and orthologs from the bundled tables and liana's resources."""

from __future__ import annotations

import pandas as pd
import pytest

import commst.priors as P


def test_alias_map_resolves_renamed_genes() -> None:
    human = P.load_alias_map("human")
    # CTGF was renamed CCN2 (HGNC 2019), IL8 -> CXCL8; current symbols are not keys
    assert human["CTGF"] == "CCN2"
    assert human["IL8"] == "CXCL8"
    assert "CXCL12" not in human
    mouse = P.load_alias_map("mouse")
    assert mouse["Ctgf"] == "Ccn2"
    assert all(k != v for k, v in list(mouse.items())[:1000])


def test_harmonise_symbols_counts_renames() -> None:
    genes, n = P.harmonise_symbols(["CTGF", "IL8", "TGFB1", "NOTAGENE"], "human")
    assert genes == ["CCN2", "CXCL8", "TGFB1", "NOTAGENE"]
    assert n == 2


@pytest.mark.parametrize(
    ("name", "species", "min_rows", "pair"),
    [
        ("consensus", "human", 4000, ("TGFB1", "TGFBR1_TGFBR2")),
        ("consensus", "mouse", 3500, ("Tgfb1", "Tgfbr1_Tgfbr2")),
        ("cellchatdb", "mouse", 1500, ("Tgfb1", "Tgfbr1_Tgfbr2")),
        ("cellchatdb_v2", "human", 3000, ("TGFB1", "TGFBR1_TGFBR2")),
        ("cellchatdb_v2", "mouse", 3000, ("Tgfb1", "Tgfbr1_Tgfbr2")),
        ("cellphonedb_v5", "human", 2500, ("CXCL12", "CXCR4")),
        ("cellphonedb_v5", "mouse", 2000, ("Cxcl12", "Cxcr4")),
    ],
)
def test_load_lr_resource(name: str, species: str, min_rows: int, pair: tuple[str, str]) -> None:
    lr = P.load_lr_resource(name, species)
    assert {"ligand", "receptor"} <= set(lr.columns)
    assert len(lr) >= min_rows
    assert not lr.duplicated(["ligand", "receptor"]).any()
    pairs = set(zip(lr["ligand"], lr["receptor"]))
    assert pair in pairs
    ligands, receptors = P.lr_genes(lr)
    # species case convention: human upper, mouse not all upper
    sample = sorted(ligands)[:50]
    if species == "human":
        assert all(g == g.upper() for g in sample)
    else:
        assert sum(g == g.upper() for g in sample) < 5
    assert lr.attrs["species"] == species


def test_lr_genes_splits_complexes() -> None:
    lr = pd.DataFrame({"ligand": ["TGFB1", "INHBA_INHBB"], "receptor": ["TGFBR1_TGFBR2", "ACVR1B_ACVR2A"]})
    ligands, receptors = P.lr_genes(lr)
    assert ligands == {"TGFB1", "INHBA", "INHBB"}
    assert receptors == {"TGFBR1", "TGFBR2", "ACVR1B", "ACVR2A"}
    assert P.complex_subunits(lr) == [["INHBA", "INHBB"], ["TGFBR1", "TGFBR2"], ["ACVR1B", "ACVR2A"]]


def test_bad_inputs_name_the_fix() -> None:
    with pytest.raises(P.CommstPriorsError, match="lr_resource"):
        P.load_lr_resource("nosuchdb", "human")
    with pytest.raises(P.CommstPriorsError, match="human"):
        P.load_lr_resource("consensus", "zebrafish")
    with pytest.raises(P.CommstPriorsError, match="receptor"):
        P.lr_genes(pd.DataFrame({"ligand": ["A"]}))


def test_orthology_keeps_complexes_and_cellchat_v2_complexes_resolved() -> None:
    lr = P.load_lr_resource("cellchatdb_v2", "human")
    # CellChat complex names such as TGFbR1_R2 become subunit symbols
    assert not lr["receptor"].str.contains("TGFbR").any()
    mouse = P.load_lr_resource("cellphonedb_v5", "mouse")
    assert mouse.attrs["native_species"] == "human"
    assert mouse["receptor"].str.contains("_").any()


def test_own_lr_table_is_read_checked_and_aliases_resolved(tmp_path) -> None:
    from commst.validate import CommstInputError

    good = tmp_path / "my_pairs.tsv"
    good.write_text("ligand\treceptor\tnote\nTGFB1\tTGFBR1_TGFBR2\tmine\nCTGF\tLRP1\t\n TGFB1 \tTGFBR1_TGFBR2\tdup\n")
    lr = P.load_lr_resource(str(good), "human")
    assert list(zip(lr["ligand"], lr["receptor"])) == [("TGFB1", "TGFBR1_TGFBR2"), ("CCN2", "LRP1")]
    assert lr.attrs["resource"] == str(good) and "note" in lr.columns
    cases = {
        "ligand\tpartner\nTGFB1\tTGFBR1\n": "lacks column(s) ['receptor']",
        "ligand\treceptor\nTgfb1\tTgfbr1\nCxcl12\tCxcr4\n": "look mouse but the sample's species is human",
        "ligand\treceptor\nTGFB1\tTGFBR1, TGFBR2\n": (
            "not gene symbols or '_'-joined complexes (e.g. 'TGFBR1, TGFBR2' in row 2)"
        ),
        "ligand\treceptor\n": "has no ligand-receptor pairs",
    }
    for i, (text, problem) in enumerate(cases.items()):
        bad = tmp_path / f"bad{i}.tsv"
        bad.write_text(text)
        with pytest.raises(CommstInputError, match="Fix: give lr_resource: name a tab-separated file") as err:
            P.load_lr_resource(str(bad), "human")
        assert problem in str(err.value) and str(bad) in str(err.value)
    with pytest.raises(CommstInputError, match="does not exist"):
        P.load_lr_resource(str(tmp_path / "missing.tsv"), "human")
    assert not P.is_lr_table_path("consensus") and P.is_lr_table_path("pairs.tsv")
