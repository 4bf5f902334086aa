"""One benchmark sample's per-method tables joined (rule benchmark_aggregate).

Writes gene_metrics.tsv, thinning.tsv, ccc_recovery.tsv, paired_ci.tsv and the sample's summary rows.
"""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)

from pathlib import Path

import pandas as pd

from commst._utils import run_logged, write_table
from commst.benchmark.summary import paired_ci_rows, summary_rows, truth_reference_rows


def _concat(paths):
    return pd.concat([pd.read_csv(p, sep="\t", keep_default_na=True) for p in paths], ignore_index=True)


def main(snakemake):
    gene_metrics = _concat(snakemake.input.heldout)
    thinning = _concat(snakemake.input.thinning)
    truth_dir = Path(snakemake.params.truth_dir)
    truth = {
        name: pd.read_csv(truth_dir / f"{name}.tsv", sep="\t")
        for name in ("rank_aggregate", "reference_rank_aggregate", "bivariate", "pairs")
    }
    ccc = pd.concat(
        [
            _concat(snakemake.input.ccc),
            truth_reference_rows(truth, top_k=snakemake.params.top_k, alpha=snakemake.params.alpha),
        ],
        ignore_index=True,
    )
    for table in (gene_metrics, thinning, ccc):
        table["error"] = table["error"].fillna("")
    ccc["null"] = ccc["null"].fillna("")
    write_table(gene_metrics, snakemake.output.gene_metrics)
    write_table(thinning, snakemake.output.thinning)
    write_table(ccc, snakemake.output.ccc)
    write_table(summary_rows(snakemake.params.sample, gene_metrics, thinning, ccc), snakemake.output.summary)
    # paired per-gene bootstrap CIs of every method against the best peer, knn and SpaGE (LR genes)
    paired = [
        paired_ci_rows(snakemake.params.sample, gene_metrics, peers=snakemake.params.peers, scenario=scenario)
        for scenario in ("heldout", "lrmask")
    ]
    write_table(pd.concat(paired, ignore_index=True), snakemake.output.paired_ci)


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
