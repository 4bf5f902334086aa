"""STRING protein–protein interactions as a gene × gene graph."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from commst._utils import atomic_path

from .._constants import subunits
from ._genes import load_alias_map, ortholog_map
from ._lr import complex_subunits
from ._paths import CommstPriorsError, check_species, read_bundled

log = logging.getLogger(__name__)

#: NCBI taxonomy ids of the STRING files per species.
STRING_TAXON = {"human": 9606, "mouse": 10090}
EDGE_COLUMNS = ["gene_1", "gene_2", "weight"]


def _undirected(df: pd.DataFrame) -> pd.DataFrame:
    """Order each pair, drop self-loops, keep the highest weight per pair."""
    a, b = df["gene_1"].astype(str).to_numpy(), df["gene_2"].astype(str).to_numpy()
    lo, hi = np.where(a < b, a, b), np.where(a < b, b, a)
    out = pd.DataFrame({"gene_1": lo, "gene_2": hi, "weight": df["weight"].astype(np.float32).to_numpy()})
    out = out[out["gene_1"] != out["gene_2"]]
    return out.groupby(["gene_1", "gene_2"], as_index=False, sort=True)["weight"].max()


def _harmonise(df: pd.DataFrame, species: str) -> pd.DataFrame:
    amap = load_alias_map(species)
    df = df.copy()
    for col in ("gene_1", "gene_2"):
        df[col] = df[col].map(lambda g: amap.get(g, g))
    return df


def read_string_official(links: str | os.PathLike, info: str | os.PathLike, *, min_score: float = 0.7) -> pd.DataFrame:
    """Read the official STRING ``protein.links`` and ``protein.info`` files into symbol edges.

    Parameters
    ----------
    links
        ``{taxon}.protein.links.v12.0.txt.gz``: space-separated ``protein1 protein2 combined_score``.
    info
        ``{taxon}.protein.info.v12.0.txt.gz``: tab-separated, ``#string_protein_id`` and ``preferred_name``.
    min_score
        Minimum combined score on STRING's 0–1 scale (0.7 = "high confidence").

    Returns
    -------
    pandas.DataFrame
        Columns ``gene_1``, ``gene_2``, ``weight`` (combined score / 1000).
    """
    inf = pd.read_csv(info, sep="\t", usecols=[0, 1], dtype=str)
    inf.columns = ["protein", "symbol"]
    names = dict(zip(inf["protein"], inf["symbol"]))
    edges = []
    for chunk in pd.read_csv(links, sep=" ", chunksize=2_000_000, dtype={"combined_score": np.int32}):
        if list(chunk.columns[:3]) != ["protein1", "protein2", "combined_score"]:
            raise CommstPriorsError(
                f"{links} is not a STRING protein.links file (columns {list(chunk.columns)}): "
                "download the plain protein.links (not .full / .detailed) file"
            )
        chunk = chunk[chunk["combined_score"] >= min_score * 1000]
        edges.append(
            pd.DataFrame(
                {
                    "gene_1": chunk["protein1"].map(names),
                    "gene_2": chunk["protein2"].map(names),
                    "weight": chunk["combined_score"] / 1000.0,
                }
            ).dropna()
        )
    return pd.concat(edges, ignore_index=True)


def string_edges(
    species: str,
    *,
    min_score: float = 0.7,
    source: str = "bundled",
    links: str | os.PathLike | None = None,
    info: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """STRING v12 edges between current gene symbols of ``species``.

    Parameters
    ----------
    species
        ``"human"`` or ``"mouse"``.
    min_score
        Minimum combined score (0–1).
    source
        ``"bundled"``: the bundled human network (STRING v12, text-mining channel excluded,
        combined ≥ 0.7 plus each gene's top-3 edges ≥ 0.4), mapped to mouse through one-to-one
        orthologs. ``"download"``: the official files given as ``links`` and ``info``.

    Returns
    -------
    pandas.DataFrame
        Undirected edges, one row per pair (``gene_1 < gene_2``), columns ``gene_1``, ``gene_2``,
        ``weight`` (combined score / 1000), symbols alias-resolved.
    """
    species = check_species(species)
    if source == "download":
        if links is None or info is None:
            raise CommstPriorsError(
                "source='download' needs the STRING links and info files (priors: string: url/info_url)"
            )
        df = read_string_official(links, info, min_score=min_score)
    elif source == "bundled":
        raw = read_bundled("string_v12_human_ntm.tsv.gz", dtype={"symbol_1": str, "symbol_2": str})
        raw = raw[raw["combined_score"] >= min_score * 1000]
        df = pd.DataFrame(
            {"gene_1": raw["symbol_1"], "gene_2": raw["symbol_2"], "weight": raw["combined_score"] / 1000.0}
        )
        df = _harmonise(df, "human")
        if species == "mouse":
            omap = ortholog_map("human", "mouse")
            one = omap[~omap["source"].duplicated(keep=False) & ~omap["target"].duplicated(keep=False)]
            m = dict(zip(one["source"], one["target"]))
            df = pd.DataFrame(
                {"gene_1": df["gene_1"].map(m), "gene_2": df["gene_2"].map(m), "weight": df["weight"]}
            ).dropna()
    else:
        raise CommstPriorsError(f"priors source {source!r} is unknown: use 'bundled' or 'download'")
    df = _undirected(_harmonise(df, species))
    log.info(
        "STRING %s (%s, score >= %.2f): %d edges, %d genes",
        species,
        source,
        min_score,
        len(df),
        len(set(df["gene_1"]) | set(df["gene_2"])),
    )
    return df


def write_table(df: pd.DataFrame, dest: str | os.PathLike) -> Path:
    """Write a table atomically as parquet (``.parquet``) or gzip TSV (``.tsv.gz``)."""
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        if dest.suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, sep="\t", index=False, compression="gzip" if dest.suffix == ".gz" else None)
    return dest


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a parquet or (gzip) TSV table written by :func:`write_table`."""
    path = Path(path)
    if not path.is_file():
        raise CommstPriorsError(
            f"prior artefact {path} does not exist: build it with the workflow rule priors_* or pass path=None"
        )
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, sep="\t")


def ppi_graph(
    genes: Sequence[str],
    species: str,
    *,
    min_score: float = 0.7,
    lr: pd.DataFrame | None = None,
    source: str = "bundled",
    path: str | os.PathLike | None = None,
) -> sp.csr_matrix:
    """Symmetric weighted gene graph among ``genes`` from STRING, complexes and LR pairs.

    Parameters
    ----------
    genes
        Gene symbols (already harmonised); row/column order of the result.
    species
        ``"human"`` or ``"mouse"``.
    min_score
        Minimum STRING combined score (0–1) of an edge.
    lr
        Optional LR table (``ligand``, ``receptor``, subunits joined by ``_``). When given,
        subunits of every complex are linked with weight 1, and every ligand subunit is
        linked to every receptor subunit of its pair with weight 1.
    source
        ``"bundled"`` (offline) or ``"download"``; ignored when ``path`` is given.
    path
        A PPI edge artefact written by the ``priors_ppi`` rule (``gene_1``, ``gene_2``,
        ``weight``; parquet or TSV). Edges below ``min_score`` are dropped.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``len(genes) × len(genes)``, symmetric, zero diagonal, float32 weights in (0, 1]
        (the largest of STRING score, complex and LR edge for a pair). Genes absent from
        the network have empty rows.
    """
    genes = [str(g) for g in genes]
    index = {g: i for i, g in enumerate(genes)}
    if len(index) != len(genes):
        raise CommstPriorsError("ppi_graph: the gene list has duplicates; pass unique symbols (var_names_make_unique)")
    if path is not None:
        edges = read_table(path)
        edges = edges[edges["weight"] >= min_score]
    else:
        edges = string_edges(species, min_score=min_score, source=source)
    parts = [edges[EDGE_COLUMNS]]
    if lr is not None:
        extra = [(a, b) for subs in complex_subunits(lr) for i, a in enumerate(subs) for b in subs[i + 1 :]]
        for lig, rec in zip(lr["ligand"].astype(str), lr["receptor"].astype(str)):
            extra.extend((a, b) for a in subunits(lig) for b in subunits(rec))
        if extra:
            parts.append(pd.DataFrame(extra, columns=["gene_1", "gene_2"]).assign(weight=1.0))
    df = pd.concat(parts, ignore_index=True)
    i = df["gene_1"].map(index)
    j = df["gene_2"].map(index)
    keep = i.notna() & j.notna() & (i != j)
    i, j, w = (
        i[keep].astype(int).to_numpy(),
        j[keep].astype(int).to_numpy(),
        df["weight"][keep].to_numpy(np.float32),
    )
    n = len(genes)
    # symmetric, max over duplicate edges (coo sums duplicates, so reduce first)
    rows, cols = np.concatenate([i, j]), np.concatenate([j, i])
    vals = np.concatenate([w, w])
    key = rows.astype(np.int64) * n + cols
    order = np.lexsort((-vals, key))
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[order][1:] != key[order][:-1]
    sel = order[first]
    graph = sp.csr_matrix((vals[sel], (rows[sel], cols[sel])), shape=(n, n), dtype=np.float32)
    log.info("PPI graph: %d genes, %d undirected edges", n, graph.nnz // 2)
    return graph
