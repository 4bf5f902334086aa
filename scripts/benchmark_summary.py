"""All benchmark samples' summary rows and the headline table (rule benchmark_summary).

Writes results/benchmark/summary.tsv and results/benchmark/headline.tsv.
"""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)

import logging

import pandas as pd

from commst._utils import run_logged, write_table
from commst.benchmark.summary import headline_table


def main(snakemake):
    summary = pd.concat([pd.read_csv(p, sep="\t", dtype={"sample": str}) for p in snakemake.input], ignore_index=True)
    write_table(summary, snakemake.output.summary)
    headline = headline_table(summary, p=snakemake.params.p, null=snakemake.params.null)
    write_table(headline, snakemake.output.headline, index=True)
    logging.getLogger("commst").info("headline:\n%s", headline.round(3).to_string())


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
