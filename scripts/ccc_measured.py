"""The spatial bivariate test on the data as measured, and the Moran's I inflation check (Snakemake script)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)


import anndata as ad
import pandas as pd

from commst._utils import collect_warnings, run_logged, write_table, write_warnings
from commst.ccc import measured_communication


def main(snakemake):
    with collect_warnings() as warnings:
        table, moran = measured_communication(
            ad.read_h5ad(snakemake.input.spatial),
            ad.read_h5ad(snakemake.input.imputed),
            pd.read_csv(snakemake.input.lr, sep="\t"),
            snakemake.params.ccc,
            seed=snakemake.params.seed,
            sample=snakemake.wildcards.sample,
            path=snakemake.input.spatial,
        )
    write_table(table, snakemake.output.bivariate)
    write_table(moran, snakemake.output.moran)
    write_warnings(warnings, snakemake.output.warnings, step="ccc_measured")


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
