"""What a sample's run did and how far it can be trusted, as report tables and figures (Snakemake script)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)


import json
import logging
from functools import partial

import anndata as ad
import pandas as pd

from commst import pl
from commst._utils import run_logged, save_figure, write_text

# not commst.tl: the env check reads its methods (torch, not in the ccc env)
from commst.tl._selection import selection_reasons, selection_table

save = partial(save_figure, dpi=110)

#: Columns of the bivariate table the report shows (the TSV keeps every column).
BIVARIATE_COLUMNS = [
    "interaction", "global_score", "pvalue", "qvalue", "significant", "null", "ligand_status", "receptor_status",
    "ligand_guarded_share", "receptor_guarded_share", "measured_score", "measured_significant", "only_after_imputation",
]  # fmt: skip


#: One line under each table's heading (the report's caption, workflow/report/*.rst, says more).
CAPTIONS = {
    "overview": "What this run imputed, from what, with which method, and how long it took.",
    "priors": "The prior knowledge built for this species (results/priors/{species}/manifest.json) and whether "
    "this run's imputation used it.",
    "warnings": "Every step's warnings: results that ran but are weaker than usual.",
    "bivariate": "LR pairs scored on the imputed spots, by global score (Moran's R); significant: q < ccc.fdr "
    "and a positive score.",
    "moran": "Moran's I of the measured LR genes: observed, noise-corrected observed and imputed; inflated when "
    "the imputation adds structure the measurement does not support.",
}


def main(snakemake):
    inp, out, params = snakemake.input, snakemake.output, snakemake.params
    sample = snakemake.wildcards.sample
    imputed = ad.read_h5ad(inp.imputed)
    reference = ad.read_h5ad(inp.reference, backed="r")
    quality = pd.read_csv(inp.quality, sep="\t")
    warnings = pd.concat([pd.read_csv(path, sep="\t") for path in inp.warnings], ignore_index=True)
    wall_s = float(pd.read_csv(inp.benchmark, sep="\t")["s"].iloc[0])
    method = imputed.uns["commst"]["method"]

    overview = pl.overview_table(imputed, reference=reference, wall_s=wall_s, n_warnings=len(warnings), sample=sample)
    write_text(pl.html_table(overview, f"Run overview: {sample}", CAPTIONS["overview"]), out.overview)

    verdict = pl.quality_verdict(quality, method=method)
    summary = pl.quality_summary(quality)
    if method == "knn":  # its baseline is itself
        summary = summary.drop(columns=["baseline", "difference"])
    summary = summary.rename(columns={"method": method, "baseline": "knn"})
    write_text(pl.html_table(summary, f"Held-out measured genes: {sample}", verdict), out.quality)
    save(pl.heldout_quality(quality, method=method), out.quality_figure)
    log = logging.getLogger("commst")
    log.info("%s", verdict)

    reasons = selection_reasons(imputed) or [f"{method} has no model selection"]
    log.info("model selection: %s", " ".join(reasons))
    write_text(pl.html_table(selection_table(imputed), f"Model selection: {sample}", " ".join(reasons)), out.selection)

    manifest = json.loads(open(inp.manifest).read())
    n_pairs = len(pd.read_csv(inp.lr, sep="\t"))
    priors = pl.priors_table(manifest, used=pl.priors_used(imputed), n_pairs=n_pairs)
    write_text(pl.html_table(priors, f"Priors: {sample}", CAPTIONS["priors"]), out.priors)

    write_text(pl.html_table(warnings, f"Warnings: {sample}", CAPTIONS["warnings"]), out.warnings)

    bivariate = pd.read_csv(inp.bivariate, sep="\t")
    shown = bivariate[[c for c in BIVARIATE_COLUMNS if c in bivariate]]
    page = pl.html_table(shown, f"LR pairs: {sample}", CAPTIONS["bivariate"], full_table=inp.bivariate)
    write_text(page, out.bivariate)
    moran = pd.read_csv(inp.moran, sep="\t")
    write_text(pl.html_table(moran, f"Moran's I: {sample}", CAPTIONS["moran"], full_table=inp.moran), out.moran)

    save(pl.imputed_vs_observed(imputed, n=params.n_maps), out.observed)
    save(pl.uncertainty_maps(imputed, pl.top_lr_genes(bivariate, imputed, params.n_maps)), out.uncertainty)
    log.info("overview: %s", "; ".join(f"{q}: {v}" for q, v in overview.itertuples(index=False)))


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
