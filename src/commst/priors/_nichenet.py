"""NicheNet-style ligand → target regulatory potential: offline builder and official matrix reader.

The offline builder follows NicheNet's prior model (Browaeys et al. 2020, Nat Methods;
nichenetr ``construct_weighted_networks``, ``apply_hub_corrections``,
``construct_ligand_target_matrix`` with ``algorithm = "PPR"``):

1. integrate source networks per layer by summing source weights of each ``from → to`` edge:
   ligand–signalling (ligand–receptor edges + signalling edges) and gene regulation;
2. hub correction: each edge weight divided by (in-degree of its ``to`` node) ** hub;
3. personalised PageRank from each ligand on the ligand–signalling graph (damping
   ``damping_factor``; dangling nodes return to the seed, as in scikit-network);
4. per ligand, scores at or below the ``ltf_cutoff`` quantile over all nodes set to 0;
5. ligand → target = (ligand × node PPR) @ (regulator × target gene-regulatory weights).

Step 3 runs for all ligands at once as sparse × dense power iterations.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm.auto import tqdm

from ._genes import load_alias_map, ortholog_map
from ._lr import load_lr_resource, lr_genes
from commst._utils import atomic_path

from ._paths import CommstPriorsError, bundled_dir, check_species, read_bundled

log = logging.getLogger(__name__)

#: Defaults of the offline builder (config ``priors: nichenet: builder``), chosen on a grid
#: (KEGG/Reactome on/off, hubs 0/0.25/0.5/1, damping 0.5/0.8, cutoff 0.95/0.99) by the mean
#: percentile (= AUROC) of 29 textbook validation pairs (IL6→SOCS3, BMP4→ID1, WNT3A→AXIN2,
#: DLL1→HES1, IFNA1→MX1, …) that exclude the TGFB1/IFNG/TNF pairs used to evaluate the prior;
#: see resources/priors/validation/ (grid.tsv, tune_nichenet.py).
DEFAULT_PARAMS: dict[str, Any] = {
    "lr_sig_hub": 0.5,
    "gr_hub": 0.0,
    "damping_factor": 0.5,
    "ltf_cutoff": 0.95,
    "kegg_reactome": True,
    "dorothea_levels": "ABC",
    "tol": 1e-8,
    "max_iter": 100,
}


@dataclass
class LigandTargetMatrix:
    """Sparse ligand → target regulatory potential (NicheNet orientation: targets × ligands).

    Attributes
    ----------
    matrix
        ``len(targets) × len(ligands)`` CSC matrix of regulatory potential scores (≥ 0).
    targets, ligands
        Row and column gene symbols.
    meta
        Provenance and build parameters (written to the artefact and ``manifest.json``).
    """

    matrix: sp.csc_matrix
    targets: list[str]
    ligands: list[str]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_frame(
        self, *, ligands: Sequence[str] | None = None, targets: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Dense targets × ligands DataFrame, optionally subset (missing genes give zero rows/columns)."""
        lig = list(self.ligands) if ligands is None else [str(g) for g in ligands]
        tgt = list(self.targets) if targets is None else [str(g) for g in targets]
        li = {g: i for i, g in enumerate(self.ligands)}
        ti = {g: i for i, g in enumerate(self.targets)}
        out = np.zeros((len(tgt), len(lig)), dtype=np.float32)
        cols = [(k, li[g]) for k, g in enumerate(lig) if g in li]
        rows = [(k, ti[g]) for k, g in enumerate(tgt) if g in ti]
        if cols and rows:
            rk, rsrc = zip(*rows)
            ck, csrc = zip(*cols)
            sub = self.matrix[list(rsrc)][:, list(csrc)].toarray()
            out[np.ix_(rk, ck)] = sub
        return pd.DataFrame(out, index=pd.Index(tgt, name="target"), columns=pd.Index(lig, name="ligand"))

    def percentile_rank(self, ligand: str, target: str) -> float:
        """Percentile (0–100, 100 = top) of ``target`` among all targets for ``ligand``; ties share the mean rank."""
        j = self.ligands.index(ligand)
        col = self.matrix[:, j].toarray().ravel()
        ranks = pd.Series(col).rank(method="average", pct=True).to_numpy()
        return float(100.0 * ranks[self.targets.index(target)])

    def save(self, path: str | os.PathLike) -> Path:
        """Write as ``.npz`` (matrix + gene lists + JSON meta) atomically."""
        path = Path(path)
        m = self.matrix.tocsc()
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                data=m.data.astype(np.float32),
                indices=m.indices,
                indptr=m.indptr,
                shape=np.asarray(m.shape),
                targets=np.asarray(self.targets, dtype=str),
                ligands=np.asarray(self.ligands, dtype=str),
                meta=np.asarray(json.dumps(self.meta, default=str)),
            )
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> LigandTargetMatrix:
        """Read an artefact written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise CommstPriorsError(
                f"ligand-target artefact {path} does not exist: build it with the priors_ligand_target rule"
            )
        with np.load(path, allow_pickle=False) as z:
            m = sp.csc_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
            return cls(
                m, [str(x) for x in z["targets"]], [str(x) for x in z["ligands"]], json.loads(str(z["meta"]))
            )


# --------------------------------------------------------------------------- networks


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
        for a in lig.split("_")
        for b in rec.split("_")
    ]
    return pd.DataFrame(rows, columns=["from", "to"]).assign(source=f"lrdb_{name}")


def load_networks(
    species: str,
    *,
    lr: pd.DataFrame | None = None,
    lr_name: str = "custom",
    kegg_reactome: bool = False,
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
        Add the KEGG + Reactome signalling graph (SpaTalk) to the signalling layer.
    dorothea_levels
        DoRothEA confidence levels kept in the regulatory layer (subset of ``"ABC"``).

    Returns
    -------
    dict
        ``lr``, ``sig``, ``gr``: DataFrames with columns ``from``, ``to``, ``source``.
    """
    species = check_species(species)

    def human_layers(sp_: str) -> dict[str, list[pd.DataFrame]]:
        nn = {
            k: read_bundled(f"nichenet_v1_{k}_network_human.tsv.gz", dtype=str) for k in ("lr", "sig", "gr")
        }
        om = read_bundled(f"omnipath_{sp_}.tsv.gz", dtype={"source": str, "target": str})
        sig = [
            nn["sig"],
            om.rename(columns={"source": "from", "target": "to"})[["from", "to"]].assign(source="omnipath"),
        ]
        if kegg_reactome:
            kr = read_bundled(f"kegg_reactome_{sp_}.tsv.gz", dtype=str)
            sig.append(
                kr.rename(columns={"src": "from", "dest": "to"})[["from", "to"]].assign(
                    source="kegg_reactome"
                )
            )
        do = read_bundled(f"dorothea_ABC_{sp_}.tsv.gz", dtype=str)
        do = do[do["confidence"].isin(list(dorothea_levels.upper()))]
        gr = [
            nn["gr"],
            pd.DataFrame({"from": do["tf"], "to": do["target"], "source": "dorothea_" + do["confidence"]}),
        ]
        return {"lr": [nn["lr"]], "sig": sig, "gr": gr}

    layers = human_layers("human")
    layers = {k: _harmonise(pd.concat(v, ignore_index=True), "human") for k, v in layers.items()}
    if species == "mouse":
        mapping = _ortholog_dict()
        layers = {k: _to_mouse(v, mapping) for k, v in layers.items()}
        om = read_bundled("omnipath_mouse.tsv.gz", dtype={"source": str, "target": str})
        layers["sig"] = pd.concat(
            [
                layers["sig"],
                om.rename(columns={"source": "from", "target": "to"})[["from", "to"]].assign(
                    source="omnipath"
                ),
            ]
        )
        if kegg_reactome:
            kr = read_bundled("kegg_reactome_mouse.tsv.gz", dtype=str)
            layers["sig"] = pd.concat(
                [
                    layers["sig"],
                    kr.rename(columns={"src": "from", "dest": "to"})[["from", "to"]].assign(
                        source="kegg_reactome"
                    ),
                ]
            )
        do = read_bundled("dorothea_ABC_mouse.tsv.gz", dtype=str)
        do = do[do["confidence"].isin(list(dorothea_levels.upper()))]
        layers["gr"] = pd.concat(
            [
                layers["gr"],
                pd.DataFrame(
                    {"from": do["tf"], "to": do["target"], "source": "dorothea_" + do["confidence"]}
                ),
            ]
        )
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


def weighted_networks(
    networks: Mapping[str, pd.DataFrame],
    *,
    source_weights: Mapping[str, float] | None = None,
    lr_sig_hub: float = DEFAULT_PARAMS["lr_sig_hub"],
    gr_hub: float = DEFAULT_PARAMS["gr_hub"],
) -> dict[str, pd.DataFrame]:
    """Integrate source networks (sum of source weights per edge) and apply hub corrections.

    Returns ``lr_sig`` and ``gr`` with columns ``from``, ``to``, ``weight``. Sources missing
    from ``source_weights`` get weight 1; weight 0 removes a source.
    """
    sw = dict(source_weights or {})

    def integrate(df: pd.DataFrame, hub: float) -> pd.DataFrame:
        w = df["source"].map(lambda s: float(sw.get(s, 1.0)))
        df = df.assign(weight=w)[w > 0]
        df = df.groupby(["from", "to"], as_index=False, sort=False)["weight"].sum()
        if hub > 0:
            indeg = df.groupby("to")["weight"].transform("size")
            df["weight"] = df["weight"] / indeg**hub
        return df

    lr_sig = pd.concat([networks["lr"], networks["sig"]], ignore_index=True)
    return {"lr_sig": integrate(lr_sig, lr_sig_hub), "gr": integrate(networks["gr"], gr_hub)}


# --------------------------------------------------------------------------- PPR


def personalized_pagerank(
    adjacency: sp.csr_matrix,
    seeds: Sequence[int],
    *,
    damping_factor: float = 0.5,
    tol: float = 1e-8,
    max_iter: int = 100,
    block: int = 256,
    verbose: bool = False,
) -> np.ndarray:
    """Personalised PageRank from each seed node on a weighted directed graph.

    Parameters
    ----------
    adjacency
        ``n × n`` weights, ``adjacency[i, j]`` = edge ``i → j``.
    seeds
        Node indices, one PageRank vector each.
    damping_factor
        Probability of following an edge; ``1 - damping_factor`` = restart at the seed.
        Walkers at nodes without out-edges restart at the seed.

    Returns
    -------
    numpy.ndarray
        ``len(seeds) × n`` float32; each row sums to 1.
    """
    n = adjacency.shape[0]
    out_w = np.asarray(adjacency.sum(axis=1)).ravel()
    dangling = out_w == 0
    inv = np.divide(1.0, out_w, out=np.zeros_like(out_w), where=~dangling)
    pt = (sp.diags(inv) @ adjacency).T.tocsr()  # column-stochastic transition (to × from)
    seeds = np.asarray(seeds, dtype=np.int64)
    result = np.zeros((len(seeds), n), dtype=np.float32)
    starts = range(0, len(seeds), block)
    for s in tqdm(starts, desc="PPR", disable=not verbose, unit="block"):
        idx = seeds[s : s + block]
        e = np.zeros((n, len(idx)))
        e[idx, np.arange(len(idx))] = 1.0
        r = e.copy()
        for _ in range(max_iter):
            walk = pt @ r
            walk += e * r[dangling].sum(axis=0)
            new = damping_factor * walk + (1.0 - damping_factor) * e
            delta = np.abs(new - r).sum(axis=0).max()
            r = new
            if delta < tol:
                break
        result[s : s + len(idx)] = r.T
    return result


def _clip_quantile(mat: np.ndarray, cutoff: float) -> None:
    """Zero each row's scores at or below its ``cutoff`` quantile (nichenetr's ltf_cutoff), in place."""
    if cutoff <= 0:
        return
    q = np.quantile(mat, cutoff, axis=1, keepdims=True)
    mat[mat <= q] = 0.0


def build_ligand_target(
    species: str,
    *,
    lr: pd.DataFrame | None = None,
    lr_name: str = "consensus",
    ligands: Iterable[str] | None = None,
    source_weights: Mapping[str, float] | None = None,
    params: Mapping[str, Any] | None = None,
    networks: Mapping[str, pd.DataFrame] | None = None,
    verbose: bool = False,
) -> LigandTargetMatrix:
    """Build a NicheNet-style ligand → target matrix offline from bundled networks.

    Parameters
    ----------
    species
        ``"human"`` or ``"mouse"``.
    lr
        LR database (LIANA format) whose pairs join NicheNet's v1 lr_network; defaults to
        :func:`load_lr_resource` ``(lr_name, species)``.
    lr_name
        Name of the LR database (used when ``lr`` is None and in the metadata).
    ligands
        Ligand genes to compute; default: every ligand subunit of ``lr`` and of NicheNet's
        lr_network present in the integrated network.
    source_weights
        Per-source weights (0–1); missing sources weigh 1.
    params
        Overrides of :data:`DEFAULT_PARAMS`.
    networks
        Pre-loaded source networks (from :func:`load_networks`); loaded when None.

    Returns
    -------
    LigandTargetMatrix
        Targets × ligands sparse scores and build metadata (parameters, sizes, seconds).
    """
    species = check_species(species)
    p = {**DEFAULT_PARAMS, **dict(params or {})}
    t0 = time.perf_counter()
    if lr is None:
        lr = load_lr_resource(lr_name, species)
    if networks is None:
        networks = load_networks(
            species,
            lr=lr,
            lr_name=lr_name,
            kegg_reactome=bool(p["kegg_reactome"]),
            dorothea_levels=str(p["dorothea_levels"]),
        )
    wn = weighted_networks(
        networks, source_weights=source_weights, lr_sig_hub=float(p["lr_sig_hub"]), gr_hub=float(p["gr_hub"])
    )
    lr_sig, gr = wn["lr_sig"], wn["gr"]
    genes = sorted(set(lr_sig["from"]) | set(lr_sig["to"]) | set(gr["from"]) | set(gr["to"]))
    gid = {g: i for i, g in enumerate(genes)}
    n = len(genes)
    adj = sp.csr_matrix(
        (lr_sig["weight"].to_numpy(float), (lr_sig["from"].map(gid), lr_sig["to"].map(gid))), shape=(n, n)
    )
    grm = sp.csr_matrix(
        (gr["weight"].to_numpy(float), (gr["from"].map(gid), gr["to"].map(gid))), shape=(n, n)
    )
    if ligands is None:
        cand = lr_genes(lr)[0] | set(networks["lr"]["from"])
    else:
        cand = {str(g) for g in ligands}
    lig = sorted(g for g in cand if g in gid)
    missing = sorted(cand - set(lig))
    if missing:
        log.info(
            "%d ligands are not in the integrated network and get no column (e.g. %s)",
            len(missing),
            missing[:5],
        )
    if not lig:
        raise CommstPriorsError(
            "none of the requested ligands is in the integrated network: check gene symbols and species"
        )
    ppr = personalized_pagerank(
        adj,
        [gid[g] for g in lig],
        damping_factor=float(p["damping_factor"]),
        tol=float(p["tol"]),
        max_iter=int(p["max_iter"]),
        verbose=verbose,
    )
    _clip_quantile(ppr, float(p["ltf_cutoff"]) if p["damping_factor"] > 0 else 0.0)
    ltf = sp.csr_matrix(ppr)
    del ppr
    lt = (ltf @ grm).T.tocsr()  # genes × ligands
    # rows: every gene with a regulator in the gene-regulatory layer, so percentiles do not
    # depend on which ligands were computed
    keep = np.flatnonzero(np.diff(grm.tocsc().indptr) > 0)
    lt = lt[keep].tocsc().astype(np.float32)
    lt.eliminate_zeros()
    targets = [genes[i] for i in keep]
    seconds = time.perf_counter() - t0
    meta = {
        "source": "offline builder (commst.priors.build_ligand_target)",
        "species": species,
        "lr_resource": lr_name,
        "params": p,
        "source_weights": dict(source_weights or {}),
        "n_network_genes": n,
        "n_lr_sig_edges": int(adj.nnz),
        "n_gr_edges": int(grm.nnz),
        "n_ligands": len(lig),
        "n_targets": len(targets),
        "nnz": int(lt.nnz),
        "build_seconds": round(seconds, 1),
        "bundled_dir": str(bundled_dir()),
    }
    log.info(
        "ligand-target %s: %d targets × %d ligands, %d non-zero, built in %.1f s",
        species,
        len(targets),
        len(lig),
        lt.nnz,
        seconds,
    )
    return LigandTargetMatrix(lt, targets, lig, meta)


# --------------------------------------------------------------------------- official matrix


def read_nichenet_rds(path: str | os.PathLike) -> LigandTargetMatrix:
    """Read NicheNet's official ``ligand_target_matrix*.rds`` (targets × ligands) with ``rdata``.

    Raises a :class:`CommstPriorsError` naming the file when it is not a numeric matrix with
    row and column names.
    """
    import rdata

    path = Path(path)
    obj = rdata.read_rds(path)
    try:
        values = np.asarray(obj.values, dtype=np.float32)
        targets = [str(x) for x in obj.coords[obj.dims[0]].values]
        ligands = [str(x) for x in obj.coords[obj.dims[1]].values]
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as err:
        raise CommstPriorsError(
            f"{path} is not a NicheNet ligand-target matrix (expected a numeric matrix with dimnames, got {type(obj).__name__}): "
            "download ligand_target_matrix_nsga2r_final(.rds / _mouse.rds) from Zenodo record 7074291"
        ) from err
    values[~np.isfinite(values)] = 0
    return LigandTargetMatrix(
        sp.csc_matrix(values), targets, ligands, {"source": "NicheNet official", "file": str(path)}
    )
