"""Communication figures of a sample: interaction maps, imputed vs measured, Moran's I (Snakemake script)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)


import logging

import anndata as ad
import pandas as pd

from commst import pl
from commst._utils import run_logged, save_figure


def main(snakemake):
    bivariate = pd.read_csv(snakemake.input.bivariate, sep="\t")
    imputed = ad.read_h5ad(snakemake.input.imputed)
    local = ad.read_h5ad(snakemake.input.local_scores)
    save_figure(
        pl.interaction_maps(local, imputed, bivariate, n=snakemake.params.n_maps), snakemake.output.maps, dpi=110
    )
    save_figure(pl.imputed_vs_measured(bivariate), snakemake.output.measured, dpi=110)
    moran = pd.read_csv(snakemake.input.moran, sep="\t")
    save_figure(pl.moran_inflation(moran), snakemake.output.moran, dpi=110)
    logging.getLogger("commst").info(
        "%d of %d LR pairs significant (%d only after imputation); %d of %d measured LR genes inflated",
        int(bivariate["significant"].sum()),
        len(bivariate),
        int(bivariate["only_after_imputation"].sum()),
        int(moran["inflated"].sum()),
        len(moran),
    )


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
