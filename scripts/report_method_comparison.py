"""The methods of one sample compared with the primary one: a figure and a table (Snakemake script)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)


import logging

import anndata as ad
import pandas as pd

from commst import pl, tl
from commst._utils import atomic_path, run_logged, save_figure

CAPTION = (
    "One row per method, the primary first. heldout_*: median PCC of the method's built-in held-out "
    "check (masked measured input genes; – where the method has none) and knn_*: knn on the same genes; "
    "label_agreement: share of spots with the primary's matched cell type; top_pairs_shared: of the "
    "n_top_pairs spatial LR pairs with the highest global score, those also among the primary's; "
    "n_significant: significant spatial LR pairs; lr_gene_corr_*: median over LR genes of the per-gene "
    "Pearson r with the primary's imputed values across spots."
)


def main(snakemake):
    methods = list(snakemake.params.methods)
    primary = methods[0]
    imputed = {m: ad.read_h5ad(path) for m, path in zip(methods, snakemake.input.imputed)}
    quality = {m: pd.read_csv(path, sep="\t") for m, path in zip(methods, snakemake.input.quality)}
    bivariate = {m: pd.read_csv(path, sep="\t") for m, path in zip(methods, snakemake.input.bivariate)}
    table = tl.compare_methods(imputed, quality, bivariate, primary=primary, n_top=snakemake.params.n_top)
    per_gene = {m: tl.per_gene_agreement(imputed[m], imputed[primary]) for m in methods[1:]}
    save_figure(pl.method_comparison(table, per_gene), snakemake.output.figure, dpi=110)
    page = pl.html_table(table, f"Sample {snakemake.wildcards.sample}: methods compared with {primary}", CAPTION)
    with atomic_path(snakemake.output.table) as tmp:
        tmp.write_text(page, encoding="utf-8")
    logging.getLogger("commst").info("methods compared:\n%s", table.to_string(index=False))


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
