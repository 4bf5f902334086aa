"""Report figures of one benchmark sample (rule benchmark_figures).

Metric boxplots, recovery vs capture rate and spatial maps.
"""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)

import anndata as ad
import pandas as pd

from commst._constants import Keys
from commst._utils import run_logged, save_figure
from commst.benchmark.data import thin_counts
from commst.benchmark.plot import plot_gene_metrics, plot_spatial_genes, plot_thinning
from commst.pp import counts_matrix, get_gene_sets, library_size, lognorm, target_sum_of


def main(snakemake):
    gene_metrics = pd.read_csv(snakemake.input.gene_metrics, sep="\t")
    gene_metrics = gene_metrics[gene_metrics["scenario"] == "heldout"]  # not the cross-platform rows
    save_figure(plot_gene_metrics(gene_metrics[gene_metrics["status"] == "ok"]), snakemake.output.metrics)
    thinning = pd.read_csv(snakemake.input.thinning, sep="\t")
    save_figure(plot_thinning(thinning[thinning["status"] == "ok"]), snakemake.output.thinning)

    spatial = ad.read_h5ad(snakemake.input.spatial)
    imputed = {m: ad.read_h5ad(p) for m, p in zip(snakemake.params.methods, snakemake.input.imputed)}
    imputed = {m: a for m, a in imputed.items() if a.n_vars}
    lr_genes = [g for g in get_gene_sets(spatial).lr_targets if g in spatial.var_names]
    # the LR genes best imputed by held-out PCC across methods, so the maps show structure
    scores = gene_metrics[gene_metrics["gene"].isin(lr_genes)].groupby("gene")["pcc"].median()
    genes = (
        list(scores.sort_values(ascending=False).index[: snakemake.params.n_genes])
        or lr_genes[: snakemake.params.n_genes]
    )
    values = lognorm(
        counts_matrix(spatial[:, genes]).toarray(), library_size(spatial), target_sum=target_sum_of(spatial)
    )
    truth = ad.AnnData(X=values, obsm={Keys.obsm.spatial: spatial.obsm[Keys.obsm.spatial]})
    truth.var_names = genes
    thinned = thin_counts(spatial, snakemake.params.p, seed=snakemake.params.seed)[:, genes].copy()
    panels = {"truth": truth, f"thinned p={snakemake.params.p:g}": thinned, **imputed}
    save_figure(plot_spatial_genes(panels, genes), snakemake.output.maps)


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
