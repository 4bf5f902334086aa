"""Choose the offline NicheNet builder's hyperparameters on validation pairs, report the held-out ones.

Maintainer script (not run by the workflow or tests)::

    .venv/bin/python resources/priors/validation/tune_nichenet.py

Writes ``grid.tsv`` beside this file: for every setting, the median rank and the mean/min
percentile of the *validation* pairs and of the *evaluation* pairs named in issue #3 (TGFB1,
IFNG, TNF). ``commst.priors.DEFAULT_PARAMS`` is the setting with the highest mean validation
percentile (the mean percentile of positives among all genes equals their AUROC); the
evaluation pairs are never used for the choice.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from commst.priors import build_ligand_target, load_lr_resource, load_networks

log = logging.getLogger("tune_nichenet")

# textbook ligand -> early-response target pairs, disjoint from the evaluation pairs
VALIDATION = {
    "IL6": ["SOCS3", "JUNB", "BCL3"],
    "EGF": ["FOS", "EGR1", "DUSP6"],
    "IL4": ["SOCS1", "CISH", "CCL26"],
    "BMP4": ["ID1", "ID2", "ID3"],
    "WNT3A": ["AXIN2", "LEF1", "NKD1"],
    "IL1B": ["IL6", "CCL20", "NFKBIZ"],
    "DLL1": ["HES1", "HEY1", "HES5"],
    "IFNA1": ["ISG15", "MX1", "IFIT1"],
    "IL10": ["SOCS3", "IL1RN"],
    "PDGFB": ["FOS", "MYC", "EGR1"],
}
EVALUATION = {
    "TGFB1": ["SERPINE1", "COL1A1", "CCN2"],
    "IFNG": ["CXCL9", "CXCL10", "IRF1", "STAT1"],
    "TNF": ["NFKBIA", "TNFAIP3", "CXCL8"],
}


def score(pairs: dict[str, list[str]], params: dict, lr: pd.DataFrame, nets: dict) -> dict[str, float]:
    """Median rank (1 = top) and mean/min percentile of the targets within their ligand's column."""
    m = build_ligand_target("human", lr=lr, ligands=list(pairs), params=params, networks=nets)
    ranks, pcts = [], []
    for lig, targets in pairs.items():
        if lig not in m.ligands:
            ranks += [len(m.targets)] * len(targets)
            pcts += [0.0] * len(targets)
            continue
        col = m.matrix[:, m.ligands.index(lig)].toarray().ravel()
        pos = {m.targets[i]: r + 1 for r, i in enumerate(np.argsort(-col))}
        ranks += [pos.get(t, len(m.targets)) for t in targets]
        pcts += [m.percentile_rank(lig, t) if t in pos else 0.0 for t in targets]
    return {"median_rank": float(np.median(ranks)), "mean_pct": float(np.mean(pcts)), "min_pct": float(min(pcts))}


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    lr = load_lr_resource("consensus", "human")
    rows = []
    for kegg in (False, True):
        nets = load_networks("human", lr=lr, lr_name="consensus", kegg_reactome=kegg)
        grid = itertools.product([0, 0.25, 0.5, 1], [0, 0.25, 0.5, 1], [0.5, 0.8], [0.95, 0.99])
        for lr_sig_hub, gr_hub, damping, cutoff in grid:
            p = {"lr_sig_hub": lr_sig_hub, "gr_hub": gr_hub, "damping_factor": damping, "ltf_cutoff": cutoff}
            v = {f"val_{k}": x for k, x in score(VALIDATION, p, lr, nets).items()}
            e = {f"eval_{k}": x for k, x in score(EVALUATION, p, lr, nets).items()}
            rows.append({"kegg_reactome": kegg, **p, **v, **e})
    df = pd.DataFrame(rows).sort_values(["val_mean_pct", "val_median_rank"], ascending=[False, True])
    out = Path(__file__).with_name("grid.tsv")
    df.to_csv(out, sep="\t", index=False, float_format="%.2f")
    print(df.head(10).to_string(index=False))


if __name__ == "__main__":
    main()
