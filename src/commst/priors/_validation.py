"""Ligand-specificity validation of a ligand → target matrix.

A ligand → target prior is useful only if a ligand's *own* column ranks that ligand's known
response genes above what a ligand-agnostic score does: the row mean over all ligands' columns
("how responsive is this gene to anything"), and the columns of other, unrelated ligands. For each
validation ligand this module computes the AUROC of its known targets among all genes of the
matrix under (1) its own column, (2) the row mean, (3) random other ligands' columns (median over
draws with a fixed seed), and the differences own − agnostic and own − other.

The validation pairs (``resources/priors/validation/ligand_targets.tsv``) are textbook ligand
response genes with literature references, independent of the builder's inputs, split by ligand
family into a ``tuning`` and a ``heldout`` half (provenance in that folder's README).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from ._networks import _ortholog_dict
from ._paths import CommstPriorsError, bundled_dir, check_species

log = logging.getLogger(__name__)

#: Validation halves, in report order.
HALVES = ("tuning", "heldout")


def validation_dir() -> Path:
    """Folder of the ligand-specificity validation set (``resources/priors/validation``)."""
    return bundled_dir().parent / "validation"


def load_validation(species: str = "human", *, half: str | None = None) -> pd.DataFrame:
    """Ligand → known target pairs of the ligand-specificity validation.

    Parameters
    ----------
    species
        ``"human"`` (as curated) or ``"mouse"`` (both genes through the bundled one-to-one
        orthologs, as the builder converts its human networks; pairs without an ortholog are
        dropped).
    half
        ``"tuning"``, ``"heldout"`` or None (both).

    Returns
    -------
    pandas.DataFrame
        One row per pair: ``ligand``, ``target``, ``family``, ``half``, ``references``.
    """
    species = check_species(species)
    path = validation_dir() / "ligand_targets.tsv"
    if not path.is_file():
        raise CommstPriorsError(f"validation table {path} is missing: check out resources/priors/validation/")
    df = pd.read_csv(path, sep="\t", dtype=str)
    if half is not None:
        if half not in HALVES:
            raise CommstPriorsError(f"validation half {half!r} is unknown: use one of {HALVES}")
        df = df[df["half"] == half]
    if species == "mouse":
        mapping = _ortholog_dict()
        df = df.assign(ligand=df["ligand"].map(mapping), target=df["target"].map(mapping))
        df = df.dropna(subset=["ligand", "target"])
    return df.reset_index(drop=True)


def mask_validation_pairs(networks: Mapping[str, pd.DataFrame], pairs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Drop every edge ``ligand → target`` of a validation pair from the builder's networks.

    Some builder inputs state validation pairs directly (NicheNet v1's gene-regulatory example
    network has literature ligand → target edges, e.g. TGFB1 → SERPINE1; some signalling
    sources link a ligand to a response gene). A matrix built from the masked networks can only
    reach a known target through receptors, signalling and transcription factors, so the
    validation measures what the network predicts rather than what it was given.

    Parameters
    ----------
    networks
        ``lr``, ``sig``, ``gr`` frames from :func:`load_networks`.
    pairs
        ``ligand``, ``target`` rows (e.g. :func:`load_validation`).

    Returns
    -------
    dict
        The same layers without those edges (other edges untouched).
    """
    drop = pd.MultiIndex.from_frame(pairs[["ligand", "target"]].astype(str))
    out = {}
    for k, v in networks.items():
        hit = pd.MultiIndex.from_frame(v[["from", "to"]]).isin(drop)
        if hit.any():
            log.info("masked %d %s edges that state a validation pair", int(hit.sum()), k)
        out[k] = v[~hit].reset_index(drop=True)
    return out


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for the boolean mask ``positive`` (ties count half).

    NaN when there are no positives or no negatives.
    """
    scores = np.asarray(scores, dtype=float)
    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def ligand_specificity(
    matrix: pd.DataFrame,
    pairs: pd.DataFrame,
    *,
    n_other: int = 25,
    seed: int = 0,
    references: Mapping[str, pd.Series] | None = None,
) -> pd.DataFrame:
    """Own-column vs agnostic vs other-ligand AUROC of each validation ligand's known targets.

    Parameters
    ----------
    matrix
        Targets × ligands scores (e.g. :meth:`LigandTargetMatrix.to_frame`); all its columns
        form the agnostic row mean and the pool of other ligands.
    pairs
        ``ligand``, ``target`` (+ optional ``family``, ``half``) rows, e.g. :func:`load_validation`.
    n_other
        Other ligands drawn per validation ligand (without replacement, never the ligand itself
        nor a validation ligand of the same family); their AUROCs are summarised by the median.
        0 skips them (``auroc_other`` NaN).
    seed
        Seed of the other-ligand draws (one generator, ligands in sorted order).
    references
        Further ligand-agnostic gene scores (name → score per gene, missing genes 0), e.g. the
        row mean of another build: each adds a column ``auroc_<name>``, and
        ``auroc_agnostic_max`` is the largest agnostic AUROC of the ligand (row mean included).

    Returns
    -------
    pandas.DataFrame
        One row per validation ligand present as a column: ``ligand``, ``family``, ``half``,
        ``n_targets`` (known targets), ``n_in_rows`` (of them among the matrix rows),
        ``auroc_own``, ``auroc_agnostic`` (row mean), ``auroc_other`` and ``own_minus_agnostic``,
        ``own_minus_other`` (+ the ``references`` columns). The universe is the matrix rows plus
        the ligand's known targets that are no row, which score 0 (tie with unreached genes).
        Validation ligands absent from the matrix are logged and left out.
    """
    pairs = pairs.copy()
    for col in ("family", "half"):
        if col not in pairs:
            pairs[col] = ""
    fam_of = pairs.drop_duplicates("ligand").set_index("ligand")["family"]
    missing = sorted(set(fam_of.index) - set(matrix.columns))
    if missing:
        log.info("%d validation ligands have no column and are left out: %s", len(missing), missing)
    values = matrix.to_numpy(dtype=float)
    scores = {"agnostic": values.mean(axis=1)}
    for name, score in (references or {}).items():
        scores[name] = score.reindex(matrix.index).fillna(0.0).to_numpy(dtype=float)
    col = {g: j for j, g in enumerate(matrix.columns)}
    rng = np.random.default_rng(seed)
    out = []
    for lig in sorted(set(fam_of.index) & set(matrix.columns)):
        sub = pairs[pairs["ligand"] == lig]
        targets = set(sub["target"])
        n_absent = len(targets - set(matrix.index))
        # universe: the matrix rows plus this ligand's known targets that are no row (score 0)
        pos = np.concatenate([matrix.index.isin(targets), np.ones(n_absent, dtype=bool)])

        def auc(x: np.ndarray) -> float:
            return auroc(np.concatenate([x, np.zeros(n_absent)]), pos)

        same_family = set(fam_of.index[fam_of == fam_of[lig]])
        pool = [j for g, j in col.items() if g not in same_family]
        draws = rng.choice(pool, size=min(n_other, len(pool)), replace=False)
        own = auc(values[:, col[lig]])
        other = float(np.median([auc(values[:, j]) for j in draws])) if len(draws) else float("nan")
        agnostic = {f"auroc_{name}": auc(score) for name, score in scores.items()}
        if references:
            agnostic["auroc_agnostic_max"] = max(agnostic.values())
        out.append(
            {
                "ligand": lig,
                "family": fam_of[lig],
                "half": sub["half"].iloc[0],
                "n_targets": len(targets),
                "n_in_rows": len(targets) - n_absent,
                "auroc_own": own,
                "auroc_other": other,
                **agnostic,
                "own_minus_agnostic": own - agnostic["auroc_agnostic"],
                "own_minus_other": own - other,
            }
        )
    return pd.DataFrame(out)


def summarise_specificity(per_ligand: pd.DataFrame, *, by: Sequence[str] = ("half",)) -> pd.DataFrame:
    """Medians of :func:`ligand_specificity`'s AUROC columns per group (default per half).

    Returns one row per group with ``n_ligands``, the median of each ``auroc_*`` column and of
    the paired differences, ``share_own_gt_agnostic`` (fraction of ligands whose own column
    beats the row mean) and, when ``auroc_agnostic_max`` is present, ``own_minus_agnostic_max``
    (median paired difference) and ``share_own_gt_agnostic_max``.
    """
    per_ligand = per_ligand.copy()
    if "auroc_agnostic_max" in per_ligand:
        per_ligand["own_minus_agnostic_max"] = per_ligand["auroc_own"] - per_ligand["auroc_agnostic_max"]
    cols = [c for c in per_ligand if c.startswith("auroc_") or c.startswith("own_minus_")]
    g = per_ligand.groupby(list(by), sort=False)
    out = g[cols].median()
    out.insert(0, "n_ligands", g.size())
    out["share_own_gt_agnostic"] = g["own_minus_agnostic"].apply(lambda d: float((d > 0).mean()))
    if "own_minus_agnostic_max" in per_ligand:
        out["share_own_gt_agnostic_max"] = g["own_minus_agnostic_max"].apply(lambda d: float((d > 0).mean()))
    return out.reset_index()
