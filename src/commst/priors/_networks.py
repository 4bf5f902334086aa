"""Bundled source networks of the offline NicheNet builder (NicheNet v1, OmniPath, KEGG/Reactome, DoRothEA)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from .._constants import subunits
from ._genes import load_alias_map, ortholog_map
from ._paths import check_species, read_bundled

log = logging.getLogger(__name__)


def _ortholog_dict() -> dict[str, str]:
    om = ortholog_map("human", "mouse")
    one = om[~om["source"].duplicated(keep=False) & ~om["target"].duplicated(keep=False)]
    return dict(zip(one["source"], one["target"]))


def _to_mouse(df: pd.DataFrame, mapping: Mapping[str, str]) -> pd.DataFrame:
    out = df.assign(**{"from": df["from"].map(mapping), "to": df["to"].map(mapping)})
    return out.dropna(subset=["from", "to"])


def _harmonise(df: pd.DataFrame, species: str) -> pd.DataFrame:
    amap = load_alias_map(species)
    return df.assign(**{c: df[c].map(lambda g: amap.get(g, g)) for c in ("from", "to")})


def _lr_edges(lr: pd.DataFrame, name: str) -> pd.DataFrame:
    rows = [
        (a, b)
        for lig, rec in zip(lr["ligand"].astype(str), lr["receptor"].astype(str))
        for a in subunits(lig)
        for b in subunits(rec)
    ]
    return pd.DataFrame(rows, columns=["from", "to"]).assign(source=f"lrdb_{name}")


def _species_tables(
    species: str, *, kegg_reactome: bool, kegg_expression: bool, dorothea_levels: str
) -> dict[str, list[pd.DataFrame]]:
    """Signalling and gene-regulatory edges of one species' own bundled tables (OmniPath,
    KEGG/Reactome, DoRothEA), as ``from``/``to``/``source`` frames."""
    om = read_bundled(f"omnipath_{species}.tsv.gz", dtype={"source": str, "target": str})
    sig = [om.rename(columns={"source": "from", "target": "to"})[["from", "to"]].assign(source="omnipath")]
    gr = []
    if kegg_reactome:
        kr = read_bundled(f"kegg_reactome_{species}.tsv.gz", dtype={"src": str, "dest": str, "database": str})
        kr = kr.rename(columns={"src": "from", "dest": "to"})
        # an edge in both databases is a KEGG edge (so each edge counts once, as before the split)
        source = np.where(kr["database"].str.contains("kegg"), "kegg", "reactome")
        sig.append(kr[["from", "to"]].assign(source=source))
        if kegg_expression:
            expr = kr["expression"].astype(str).str.lower() == "true"
            gr.append(kr.loc[expr, ["from", "to"]].assign(source="kegg_expression"))
    do = read_bundled(f"dorothea_ABC_{species}.tsv.gz", dtype=str)
    do = do[do["confidence"].isin(list(dorothea_levels.upper()))]
    gr.append(pd.DataFrame({"from": do["tf"], "to": do["target"], "source": "dorothea_" + do["confidence"]}))
    return {"sig": sig, "gr": gr}


def load_networks(
    species: str,
    *,
    lr: pd.DataFrame | None = None,
    lr_name: str = "custom",
    kegg_reactome: bool = False,
    kegg_expression: bool = False,
    dorothea_levels: str = "ABC",
) -> dict[str, pd.DataFrame]:
    """Bundled source networks for the offline NicheNet builder.

    Parameters
    ----------
    species
        ``"human"`` or ``"mouse"``. Mouse = human networks through one-to-one orthologs
        (as nichenetr converts its human model) plus the mouse OmniPath, DoRothEA and
        KEGG/Reactome edges (an edge present both ways counts once per source).
    lr
        Extra LR database (LIANA format) added to NicheNet's v1 ``lr_network``; complexes
        are split into subunit edges (each ligand subunit → each receptor subunit).
    lr_name
        Source name of ``lr`` (``lrdb_<name>``) for source weights.
    kegg_reactome
        Add the KEGG and Reactome signalling graph (SpaTalk) to the signalling layer, as
        sources ``kegg`` and ``reactome`` (Reactome-only edges).
    kegg_expression
        With ``kegg_reactome``, also put KEGG's transcription edges ("expression" relations,
        e.g. STAT1 → CXCL10; source ``kegg_expression``) in the gene-regulatory layer.
    dorothea_levels
        DoRothEA confidence levels kept in the regulatory layer (subset of ``"ABC"``).

    Returns
    -------
    dict
        ``lr``, ``sig``, ``gr``: DataFrames with columns ``from``, ``to``, ``source``.
    """
    species = check_species(species)
    opts = {"kegg_reactome": kegg_reactome, "kegg_expression": kegg_expression, "dorothea_levels": dorothea_levels}
    nn = {k: read_bundled(f"nichenet_v1_{k}_network_human.tsv.gz", dtype=str) for k in ("lr", "sig", "gr")}
    own = _species_tables("human", **opts)
    layers = {"lr": [nn["lr"]], "sig": [nn["sig"], *own["sig"]], "gr": [nn["gr"], *own["gr"]]}
    layers = {k: _harmonise(pd.concat(v, ignore_index=True), "human") for k, v in layers.items()}
    if species == "mouse":
        mapping = _ortholog_dict()
        layers = {k: _to_mouse(v, mapping) for k, v in layers.items()}
        own = _species_tables("mouse", **opts)
        for k in ("sig", "gr"):
            layers[k] = pd.concat([layers[k], *own[k]], ignore_index=True)
        layers = {k: _harmonise(v, "mouse") for k, v in layers.items()}
    if lr is not None:
        layers["lr"] = pd.concat([layers["lr"], _lr_edges(lr, lr_name)], ignore_index=True)
    out = {}
    for k, v in layers.items():
        v = v.dropna(subset=["from", "to"]).astype(str)
        out[k] = v[v["from"] != v["to"]].drop_duplicates(["from", "to", "source"]).reset_index(drop=True)
        log.info(
            "%s %s network: %d edges, %d genes, %d sources",
            species,
            k,
            len(out[k]),
            len(set(out[k]["from"]) | set(out[k]["to"])),
            out[k]["source"].nunique(),
        )
    return out
