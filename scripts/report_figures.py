"""Figures of one sample for the Snakemake report (Snakemake script)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)


from functools import partial

import anndata as ad
import pandas as pd

from commst import pl
from commst._utils import run_logged, save_figure, write_table

save = partial(save_figure, dpi=110)


def main(snakemake):
    imputed = ad.read_h5ad(snakemake.input.imputed)
    bivariate = pd.read_csv(snakemake.input.bivariate, sep="\t")
    genes = pl.top_lr_genes(bivariate, imputed, snakemake.params.n_genes)
    save(pl.spatial_lr_genes(imputed, genes), snakemake.output.spatial)
    fig = pl.top_interactions(
        bivariate,
        pd.read_csv(snakemake.input.spatial_celltype, sep="\t"),
        pd.read_csv(snakemake.input.reference_celltype, sep="\t"),
        n_interactions=snakemake.params.n_interactions,
    )
    save(fig, snakemake.output.interactions)
    # one table of every step's warnings (preprocess, ccc_spatial, ccc_reference) for the report
    warnings = pd.concat([pd.read_csv(path, sep="\t") for path in snakemake.input.warnings], ignore_index=True)
    write_table(warnings, snakemake.output.warnings)


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
