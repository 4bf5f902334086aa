"""Rebuild the small bundled prior tables in ``resources/priors/bundled/`` from the staged originals.

Maintainer script, run once by hand (not by the workflow or tests)::

    .venv/bin/python resources/priors/build_bundle.py /work/shared/data

It reads the original files listed in ``resources/priors/README.md`` (provenance in the staged
``SOURCES.md``), keeps only the columns CommST needs, and writes gzip-compressed TSVs.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger("build_bundle")
OUT = Path(__file__).resolve().parent / "bundled"


def _write(df: pd.DataFrame, name: str) -> None:
    path = OUT / name
    tmp = path.with_suffix(path.suffix + ".tmp")
    df.to_csv(tmp, sep="\t", index=False, compression={"method": "gzip", "mtime": 0})
    tmp.replace(path)
    log.info("%s: %d rows, %.0f kB", name, len(df), path.stat().st_size / 1024)


def aliases(src: Path) -> None:
    import rdata

    for species in ("human", "mouse"):
        name = f"geneinfo_alias_{species}"
        df = rdata.read_rda(src / "nichenetr" / "data" / f"{name}.rda")[name]
        df = df[["alias", "symbol"]].dropna().astype(str)
        df = df[df["alias"] != df["symbol"]].drop_duplicates()
        _write(df.sort_values(["alias", "symbol"]), f"aliases_{species}.tsv.gz")


def orthologs(src: Path) -> None:
    v1 = pd.read_csv(src / "nichenetr" / "converted" / "geneinfo_human.csv.gz")
    v1 = v1.dropna(subset=["symbol", "symbol_mouse"])[["symbol", "symbol_mouse"]]
    v1.columns = ["human", "mouse"]
    v1["source"] = "nichenetr_geneinfo_human"
    sp = pd.read_csv(src / "SpaCET" / "inst" / "extdata" / "Mouse2Human_filter.csv", index_col=0)
    sp = sp[["human", "mouse"]].dropna()
    sp = sp[~sp["human"].isin(v1["human"]) & ~sp["mouse"].isin(v1["mouse"])]
    sp["source"] = "SpaCET_Mouse2Human"
    _write(pd.concat([v1, sp]).drop_duplicates(["human", "mouse"]), "orthologs_human_mouse.tsv.gz")


def cellchat_v2(src: Path) -> None:
    for species in ("human", "mouse"):
        df = pd.read_csv(src / "pycellchat" / "data" / f"interaction_{species}.csv")
        cols = ["interaction_name", "pathway_name", "ligand", "receptor", "annotation", "evidence", "version"]
        _write(df[cols], f"cellchatdb_v2_interaction_{species}.tsv.gz")
        cx = pd.read_csv(src / "pycellchat" / "data" / f"complex_{species}.csv", index_col=0)
        cx.index.name = "complex"
        _write(cx.reset_index(), f"cellchatdb_v2_complex_{species}.tsv.gz")


def cellphonedb_v5(src: Path) -> None:
    base = src / "cellphonedb-data" / "data"
    inter = pd.read_csv(base / "interaction_input.csv")
    _write(
        inter[["partner_a", "partner_b", "classification", "directionality", "version"]],
        "cellphonedb_v5_interaction.tsv.gz",
    )
    cx = pd.read_csv(base / "complex_input.csv")
    _write(
        cx[["complex_name", "uniprot_1", "uniprot_2", "uniprot_3", "uniprot_4", "uniprot_5"]],
        "cellphonedb_v5_complex.tsv.gz",
    )
    gene = pd.read_csv(base / "gene_input.csv")
    _write(gene[["uniprot", "hgnc_symbol"]].drop_duplicates(), "cellphonedb_v5_gene.tsv.gz")
    prot = pd.read_csv(base / "protein_input.csv")
    keep = [c for c in ("uniprot", "protein_name", "secreted", "receptor", "transmembrane") if c in prot.columns]
    _write(prot[keep], "cellphonedb_v5_protein.tsv.gz")


def string_v12(src: Path) -> None:
    df = pd.read_csv(src / "dmfind" / "converted" / "string_v12_human_ntm700_top3_400.csv.gz")
    df = df.dropna(subset=["symbol_1", "symbol_2"])[["symbol_1", "symbol_2", "combined_score"]]
    df["combined_score"] = df["combined_score"].astype(int)
    _write(df, "string_v12_human_ntm.tsv.gz")


def nichenet_networks(src: Path) -> None:
    base = src / "nichenetr" / "converted"
    for name in ("lr_network", "sig_network", "gr_network"):
        df = pd.read_csv(base / f"{name}.csv.gz")[["from", "to", "source"]].drop_duplicates()
        _write(df, f"nichenet_v1_{name}_human.tsv.gz")


def omnipath(src: Path) -> None:
    for species in ("human", "mouse"):
        df = pd.read_csv(src / "CellNeighborEX" / "database" / f"omnipath_{species}.csv.gz")
        df = df[df["is_directed"] == 1]
        cols = [
            "source_gene_symbol",
            "target_gene_symbol",
            "consensus_stimulation",
            "consensus_inhibition",
            "n_resources",
            "curation_effort",
        ]
        df = df[cols].rename(columns={"source_gene_symbol": "source", "target_gene_symbol": "target"})
        _write(df.dropna(subset=["source", "target"]), f"omnipath_{species}.tsv.gz")


def dorothea(src: Path) -> None:
    for species, tag in (("human", "hs"), ("mouse", "mm")):
        df = pd.read_csv(src / "dorothea" / "converted" / f"dorothea_{tag}.csv.gz")
        df = df[df["confidence"].isin(["A", "B", "C"])]
        _write(df[["tf", "target", "confidence", "mor"]], f"dorothea_ABC_{species}.tsv.gz")


def kegg_reactome(src: Path) -> None:
    df = pd.read_csv(src / "SpaTalk" / "converted" / "pathways.csv.gz")
    # KEGG "expression" relations (TF -> target gene transcription, e.g. STAT1 -> CXCL10) are
    # gene regulation, not signalling: flag them so the builder can use them in that layer;
    # keep which database(s) an edge comes from so the two can be weighted apart
    df["expression"] = df["type"].str.contains("expression", regex=False)
    df["kegg"] = df["source"].str.contains("KEGG", regex=False)
    df["reactome"] = df["source"].str.contains("Reactome", regex=False)
    for species in ("human", "mouse"):
        sub = df[df["species"].str.lower() == species]
        flags = sub.groupby(["src", "dest"], sort=False)[["expression", "kegg", "reactome"]].any()
        sub = sub[["src", "dest", "src_tf", "dest_tf"]].drop_duplicates(["src", "dest"])
        flags = flags.reindex(pd.MultiIndex.from_frame(sub[["src", "dest"]]))
        database = np.where(
            flags["kegg"] & flags["reactome"], "kegg,reactome", np.where(flags["kegg"], "kegg", "reactome")
        )
        sub = sub.assign(expression=flags["expression"].to_numpy(), database=database)
        _write(sub, f"kegg_reactome_{species}.tsv.gz")


def main(src: str) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    OUT.mkdir(parents=True, exist_ok=True)
    root = Path(src)
    for step in (
        aliases,
        orthologs,
        cellchat_v2,
        cellphonedb_v5,
        string_v12,
        nichenet_networks,
        omnipath,
        dorothea,
        kegg_reactome,
    ):
        step(root)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data")
