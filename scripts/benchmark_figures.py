"""Report figures of one benchmark sample: metric boxplots, recovery vs capture rate, spatial maps (rule benchmark_figures)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)

import anndata as ad
import numpy as np
import pandas as pd

from commst._utils import run_logged
from commst.benchmark.data import thin_counts
from commst.benchmark.heldout import log_normalise_with
from commst.benchmark.plot import plot_gene_metrics, plot_spatial_genes, plot_thinning, save_figure
from commst.pp import counts_matrix


def main(snakemake):
    gene_metrics = pd.read_csv(snakemake.input.gene_metrics, sep="\t")
    save_figure(plot_gene_metrics(gene_metrics[gene_metrics["status"] == "ok"]), snakemake.output.metrics)
    thinning = pd.read_csv(snakemake.input.thinning, sep="\t")
    save_figure(plot_thinning(thinning[thinning["status"] == "ok"]), snakemake.output.thinning)

    spatial = ad.read_h5ad(snakemake.input.spatial)
    imputed = {m: ad.read_h5ad(p) for m, p in zip(snakemake.params.methods, snakemake.input.imputed)}
    imputed = {m: a for m, a in imputed.items() if a.n_vars}
    lr_genes = [g for g in spatial.uns["commst"]["genes"]["lr_targets"] if g in spatial.var_names]
    # the LR genes best imputed by held-out PCC across methods, so the maps show structure
    scores = gene_metrics[gene_metrics["gene"].isin(lr_genes)].groupby("gene")["pcc"].median()
    genes = list(scores.sort_values(ascending=False).index[: snakemake.params.n_genes]) or lr_genes[: snakemake.params.n_genes]
    full_lib = np.asarray(counts_matrix(spatial).sum(axis=1)).ravel()
    truth = ad.AnnData(X=log_normalise_with(counts_matrix(spatial[:, genes]), full_lib), obsm={"spatial": spatial.obsm["spatial"]})
    truth.var_names = genes
    thinned = thin_counts(spatial, snakemake.params.p, seed=snakemake.params.seed)[:, genes].copy()
    panels = {"truth": truth, f"thinned p={snakemake.params.p:g}": thinned, **imputed}
    save_figure(plot_spatial_genes(panels, genes), snakemake.output.maps)


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
