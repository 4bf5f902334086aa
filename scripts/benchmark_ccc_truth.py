"""LIANA+ on the truth and the reference of one benchmark sample (rule benchmark_ccc_truth).

Also writes the decoy and absent-ligand pairs and the spot labels.
"""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)

import anndata as ad
import pandas as pd

from commst._utils import run_logged, write_table
from commst.benchmark.ccc_truth import ccc_truth


def main(snakemake):
    spatial = ad.read_h5ad(snakemake.input.spatial)
    reference = ad.read_h5ad(snakemake.input.reference)
    lr = pd.read_csv(snakemake.input.lr, sep="\t")
    tables = ccc_truth(
        spatial,
        reference,
        lr,
        options=snakemake.params.ccc,
        nulls=snakemake.params.nulls,
        n_cross=snakemake.params.n_cross,
        seed=snakemake.params.seed,
    )
    for name, table in tables.items():
        write_table(table, snakemake.output[name])


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
