"""LIANA's dotplot of one cell-type-level table, spots or reference (Snakemake script)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)


import logging

import matplotlib.pyplot as plt
import pandas as pd

from commst import pl
from commst._utils import atomic_path, run_logged


def main(snakemake):
    side, method = snakemake.params.side, snakemake.wildcards.celltype
    table = pd.read_csv(snakemake.input.table, sep="\t")
    where = (
        f"spots imputed by {snakemake.wildcards.method}, grouped by matched label"
        if side == "spots"
        else "scRNA-seq reference by cell type"
    )
    plot = pl.celltype_dotplot(
        table,
        method,
        top_n=snakemake.params.top_n,
        title=f"{method} on the {where}: top {snakemake.params.top_n} interactions",
    )
    logging.getLogger("commst").info(
        "%s dotplot of the %s: %d rows, top %d", method, where, len(table), snakemake.params.top_n
    )
    with atomic_path(snakemake.output[0]) as tmp:
        if plot is None:  # an empty table (a note in the warnings table says why)
            fig, ax = plt.subplots(figsize=(6, 2))
            ax.axis("off")
            ax.text(0.5, 0.5, f"no {method} interaction on the {where}", ha="center", va="center")
            fig.savefig(tmp, format="png", dpi=110)
            plt.close(fig)
        else:
            plot.save(tmp, format="png", dpi=110, verbose=False)


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
