"""Log-log figure of time and memory against size for the report (rule scale_plot)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)

import pandas as pd

from commst._utils import run_logged, save_figure
from commst.benchmark.plot import plot_scale


def main(snakemake):
    table = pd.read_csv(snakemake.input.table, sep="\t", keep_default_na=False, na_values=[""])
    fig = plot_scale(
        table,
        time_limit_s=snakemake.params.time_limit_s,
        memory_limit_mb=snakemake.params.memory_limit_mb,
        target_s=snakemake.params.target_s,
        target_mb=snakemake.params.target_mb,
    )
    save_figure(fig, snakemake.output[0])


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
