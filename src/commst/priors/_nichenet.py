"""NicheNet-style ligand → target regulatory potential: the offline builder.

The offline builder follows NicheNet's prior model (Browaeys et al. 2020, Nat Methods;
nichenetr ``construct_weighted_networks``, ``apply_hub_corrections``,
``construct_ligand_target_matrix`` with ``algorithm = "PPR"``):

1. integrate source networks per layer by summing source weights of each ``from → to`` edge:
   ligand–signalling (ligand–receptor edges + signalling edges) and gene regulation;
2. hub correction: each edge weight divided by (in-degree of its ``to`` node) ** hub;
3. personalised PageRank from each ligand on the ligand–signalling graph (damping
   ``damping_factor``; dangling nodes return to the seed, as in scikit-network); the restart
   can be shared with the ligand's receptors (``receptor_seed``);
4. ligand specificity (issue 18): each node's score divided by the background's **
   ``node_specificity``, the background being the PageRank of the mean restart over all
   ligands (= the mean of their PageRanks);
5. per ligand, scores at or below the ``ltf_cutoff`` quantile over all nodes set to 0;
6. ligand → target = (ligand × node score) @ (regulator × target gene-regulatory weights),
   optionally divided per target by the background's target potential ** ``target_specificity``.

Step 3 runs for all ligands at once as sparse × dense power iterations. The validation of the
result's ligand specificity is in :mod:`commst.priors._validation`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm.auto import tqdm

from ._ligand_target import LigandTargetMatrix
from ._lr import load_lr_resource, lr_genes
from ._networks import load_networks
from ._paths import CommstPriorsError, bundled_dir, check_species

log = logging.getLogger(__name__)

#: Defaults of the offline builder (config ``priors: nichenet: builder`` mirrors them). Chosen
#: for ligand specificity on the tuning half of resources/priors/validation/ (textbook response
#: genes, the validation pairs' own edges masked): the paired median own-column minus best
#: ligand-agnostic AUROC over a grid of 432 settings (tune_nichenet.py, grid.tsv); KEGG's
#: transcription edges in the regulatory layer are required, not tuned. receptor_seed and
#: target_specificity lowered that measure on the tuning half and stay off.
DEFAULT_PARAMS: dict[str, Any] = {
    "lr_sig_hub": 0.5,
    "gr_hub": 0.0,
    "damping_factor": 0.5,
    "ltf_cutoff": 0.95,
    "kegg_reactome": True,
    "kegg_expression": True,
    "dorothea_levels": "ABC",
    "receptor_seed": 0.0,
    "node_specificity": 0.5,
    "target_specificity": 0.0,
    "tol": 1e-8,
    "max_iter": 100,
}


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
    seeds: Sequence[int] | sp.spmatrix,
    *,
    damping_factor: float = 0.5,
    tol: float = 1e-8,
    max_iter: int = 100,
    block: int = 256,
    verbose: bool = False,
) -> np.ndarray:
    """Personalised PageRank from each seed on a weighted directed graph.

    Parameters
    ----------
    adjacency
        ``n × n`` weights, ``adjacency[i, j]`` = edge ``i → j``.
    seeds
        Node indices (one PageRank vector each), or an ``n × k`` sparse matrix whose columns
        are restart distributions (each summing to 1), e.g. a ligand's receptors.
    damping_factor
        Probability of following an edge; ``1 - damping_factor`` = restart at the seed.
        Walkers at nodes without out-edges restart at the seed.

    Returns
    -------
    numpy.ndarray
        ``k × n`` float32 (``k`` seeds); each row sums to 1.
    """
    n = adjacency.shape[0]
    out_w = np.asarray(adjacency.sum(axis=1)).ravel()
    dangling = out_w == 0
    inv = np.divide(1.0, out_w, out=np.zeros_like(out_w), where=~dangling)
    pt = (sp.diags(inv) @ adjacency).T.tocsr()  # column-stochastic transition (to × from)
    if sp.issparse(seeds):
        restart = sp.csc_matrix(seeds, dtype=float)
    else:
        idx = np.asarray(seeds, dtype=np.int64)
        restart = sp.csc_matrix((np.ones(len(idx)), (idx, np.arange(len(idx)))), shape=(n, len(idx)))
    k = restart.shape[1]
    result = np.zeros((k, n), dtype=np.float32)
    starts = range(0, k, block)
    for s in tqdm(starts, desc="PPR", disable=not verbose, unit="block"):
        e = restart[:, s : s + block].toarray()
        r = e.copy()
        for _ in range(max_iter):
            walk = pt @ r
            walk += e * r[dangling].sum(axis=0)
            new = damping_factor * walk + (1.0 - damping_factor) * e
            delta = np.abs(new - r).sum(axis=0).max()
            r = new
            if delta < tol:
                break
        result[s : s + e.shape[1]] = r.T
    return result


def _clip_quantile(mat: np.ndarray, cutoff: float) -> None:
    """Zero each row's scores at or below its ``cutoff`` quantile (nichenetr's ltf_cutoff), in place."""
    if cutoff <= 0:
        return
    q = np.quantile(mat, cutoff, axis=1, keepdims=True)
    mat[mat <= q] = 0.0


@dataclass
class _Graphs:
    """Integrated, hub-corrected layers on one gene index (internal to the builder)."""

    genes: list[str]
    index: dict[str, int]
    signalling: sp.csr_matrix  # ligand-signalling adjacency (LR + signalling edges)
    regulation: sp.csr_matrix  # regulator × target weights
    receptors: sp.csr_matrix  # the LR-layer edges only (ligand → receptor), hub-corrected weights


def _graphs(networks: Mapping[str, pd.DataFrame], p: Mapping[str, Any], source_weights) -> _Graphs:
    wn = weighted_networks(
        networks, source_weights=source_weights, lr_sig_hub=float(p["lr_sig_hub"]), gr_hub=float(p["gr_hub"])
    )
    lr_sig, gr = wn["lr_sig"], wn["gr"]
    genes = sorted(set(lr_sig["from"]) | set(lr_sig["to"]) | set(gr["from"]) | set(gr["to"]))
    gid = {g: i for i, g in enumerate(genes)}
    n = len(genes)

    def csr(df: pd.DataFrame) -> sp.csr_matrix:
        return sp.csr_matrix((df["weight"].to_numpy(float), (df["from"].map(gid), df["to"].map(gid))), shape=(n, n))

    lr_pairs = networks["lr"][["from", "to"]].drop_duplicates()
    return _Graphs(genes, gid, csr(lr_sig), csr(gr), csr(lr_sig.merge(lr_pairs, on=["from", "to"])))


def _restarts(graphs: _Graphs, ligands: Sequence[str], receptor_seed: float) -> sp.csc_matrix:
    """``n × len(ligands)`` restart distributions: ``1 - receptor_seed`` at the ligand, the rest
    over its receptors in proportion to the (hub-corrected) LR edge weights. A ligand without
    receptors in the network restarts at itself only."""
    n = len(graphs.genes)
    idx = np.asarray([graphs.index[g] for g in ligands], dtype=np.int64)
    own = sp.csc_matrix((np.ones(len(idx)), (idx, np.arange(len(idx)))), shape=(n, len(idx)))
    if receptor_seed <= 0:
        return own
    rec = graphs.receptors[idx].T.tocsc()  # n × ligands
    total = np.asarray(rec.sum(axis=0)).ravel()
    share = np.where(total > 0, receptor_seed, 0.0)
    rec = rec @ sp.diags(np.divide(share, total, out=np.zeros_like(total), where=total > 0))
    return (own @ sp.diags(1.0 - share) + rec).tocsc()


def _ligand_signal(
    graphs: _Graphs, ligands: Sequence[str], background: Sequence[str], p: Mapping[str, Any], verbose: bool
) -> tuple[np.ndarray, np.ndarray]:
    """PPR of each ligand (``len(ligands) × n``) and of the background walker, whose restart is
    the mean of all ``background`` ligands' restarts (= their mean PPR, by linearity)."""
    restart = _restarts(graphs, ligands, float(p["receptor_seed"]))
    bg_restart = sp.csc_matrix(_restarts(graphs, background, float(p["receptor_seed"])).mean(axis=1))
    ppr = personalized_pagerank(
        graphs.signalling,
        sp.hstack([restart, bg_restart]).tocsc(),
        damping_factor=float(p["damping_factor"]),
        tol=float(p["tol"]),
        max_iter=int(p["max_iter"]),
        verbose=verbose,
    )
    return ppr[:-1], ppr[-1].astype(float)


def _ligand_target(signal: np.ndarray, bg: np.ndarray, graphs: _Graphs, p: Mapping[str, Any]) -> sp.csr_matrix:
    """Targets (all genes) × ligands potential from the ligands' signalling scores (in place).

    Node specificity divides each node's score by the background's ** ``node_specificity``;
    ``ltf_cutoff`` keeps each ligand's top nodes; the regulatory layer maps nodes to targets;
    target specificity divides each target by the background's target potential **
    ``target_specificity`` (the background pushed through the same steps, without cutoff).
    """
    alpha, beta = float(p["node_specificity"]), float(p["target_specificity"])
    if alpha > 0:
        scale = np.divide(1.0, bg**alpha, out=np.zeros_like(bg), where=bg > 0)
        signal *= scale.astype(signal.dtype)
    _clip_quantile(signal, float(p["ltf_cutoff"]) if p["damping_factor"] > 0 else 0.0)
    lt = (sp.csr_matrix(signal) @ graphs.regulation).T.tocsr()  # genes × ligands
    if beta > 0:
        bg_target = np.asarray(graphs.regulation.T @ bg ** (1.0 - alpha)).ravel()
        lt = sp.diags(np.divide(1.0, bg_target**beta, out=np.zeros_like(bg_target), where=bg_target > 0)) @ lt
    return lt.tocsr()


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
        lr_network present in the integrated network. A column does not depend on which other
        ligands are computed: the specificity background is always that full ligand set.
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
            kegg_expression=bool(p["kegg_expression"]),
            dorothea_levels=str(p["dorothea_levels"]),
        )
    graphs = _graphs(networks, p, source_weights)
    gid = graphs.index
    every = lr_genes(lr)[0] | set(networks["lr"]["from"])
    cand = every if ligands is None else {str(g) for g in ligands}
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
    background = sorted((every | set(lig)) & set(gid))
    signal, bg = _ligand_signal(graphs, lig, background, p, verbose)
    lt = _ligand_target(signal, bg, graphs, p)
    del signal
    # rows: every gene with a regulator in the gene-regulatory layer, so percentiles do not
    # depend on which ligands were computed
    keep = np.flatnonzero(np.diff(graphs.regulation.tocsc().indptr) > 0)
    lt = lt[keep].tocsc().astype(np.float32)
    lt.eliminate_zeros()
    targets = [graphs.genes[i] for i in keep]
    seconds = time.perf_counter() - t0
    meta = {
        "source": "offline builder (commst.priors.build_ligand_target)",
        "species": species,
        "lr_resource": lr_name,
        "params": p,
        "source_weights": dict(source_weights or {}),
        "n_network_genes": len(graphs.genes),
        "n_lr_sig_edges": int(graphs.signalling.nnz),
        "n_gr_edges": int(graphs.regulation.nnz),
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
