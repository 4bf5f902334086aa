"""The same cell-type-level LIANA+ analysis on the scRNA-seq reference (Snakemake script)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)


import anndata as ad
import pandas as pd

from commst._utils import run_logged, write_table
from commst.ccc import celltype_communication


def main(snakemake):
    options = snakemake.params.ccc
    reference = ad.read_h5ad(snakemake.input.reference)
    lr = pd.read_csv(snakemake.input.lr, sep="\t")
    for method, path in zip(snakemake.params.methods, snakemake.output):
        result = celltype_communication(
            reference,
            lr,
            groupby="cell_type",
            method=method,
            expr_prop=options["expr_prop"],
            min_cells=options["min_cells"],
            n_perms=options["n_perms"],
            seed=snakemake.params.seed,
        )
        write_table(result, path)


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
