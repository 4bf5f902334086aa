"""One benchmark job: one method on one sample in one scenario (rules benchmark_{heldout,thinning,ccc}_*).

A method that fails is recorded in the output table (status = failed, with its error); the
job itself succeeds, so one failing method does not stop the benchmark.
"""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)

import logging
from functools import partial
from pathlib import Path

import anndata as ad
import pandas as pd

from commst._constants import Keys, entity_genes
from commst._utils import run_logged, write_h5ad, write_table
from commst.benchmark.jobs import ccc_job, heldout_job, thinning_job
from commst.benchmark.spec import resolve_method


def main(snakemake):
    log = logging.getLogger("commst")
    settings = snakemake.params.method_config
    options = snakemake.params.options
    method = snakemake.wildcards.method
    spatial = ad.read_h5ad(snakemake.input.spatial)
    reference = ad.read_h5ad(snakemake.input.reference)
    lr = pd.read_csv(snakemake.input.lr, sep="\t")
    ligands, receptors = entity_genes(lr["ligand"]), entity_genes(lr["receptor"])
    spec = partial(
        resolve_method,
        method,
        variants=settings["variants"],
        params=settings["params"],
        extra_methods=settings["extra_methods"],
        model=settings["model"],
    )
    spec.name = method
    scenario = snakemake.params.scenario
    seed = settings["seed"]
    log.info("benchmark %s: %s on %s", scenario, method, snakemake.wildcards.bsample)
    if scenario == "heldout":
        table = heldout_job(
            spatial,
            reference,
            spec,
            lr_genes=sorted(ligands | receptors),
            n_folds=options["n_folds"],
            seed=seed,
            n_splits=options["splits"],
            genes=options["genes"],
            lr_mask=options["lr_mask"],
        )
        write_table(table, snakemake.output[0], sep="\t", index=False)
    elif scenario == "thinning":
        table = thinning_job(
            spatial,
            reference,
            spec,
            lr_genes=sorted(ligands | receptors),
            p_values=options["p"],
            seeds=options["seeds"],
            scenarios=options["scenarios"],
        )
        write_table(table, snakemake.output[0], sep="\t", index=False)
    else:
        truth_dir = Path(snakemake.params.truth_dir)
        truth = {
            name: pd.read_csv(truth_dir / f"{name}.tsv", sep="\t")
            for name in ("pairs", "labels", "bivariate", "rank_aggregate", "reference_rank_aggregate")
        }
        truth["labels"]["spot"] = truth["labels"]["spot"].astype(str)
        table, imputed = ccc_job(
            spatial,
            reference,
            spec,
            truth=truth,
            options=snakemake.params.ccc,
            p_values=options["p"],
            seeds=options["seeds"],
            nulls=options["nulls"],
            scenario=options["scenario"],
            alpha=options["alpha"],
            top_k=options["top_k"],
        )
        if imputed is None:  # failed: an empty placeholder keeps the output contract
            imputed = ad.AnnData(obs=pd.DataFrame(index=spatial.obs_names.copy()))
            imputed.obsm[Keys.obsm.spatial] = spatial.obsm[Keys.obsm.spatial]
        imputed.uns[Keys.uns.benchmark] = {"method": method, "status": str(table["status"].iloc[0])}
        write_table(table, snakemake.output.table, sep="\t", index=False)
        write_h5ad(imputed, snakemake.output.imputed)
    failed = (table["status"] != "ok").sum()
    if failed:
        log.warning(
            "%s: %d of %d rows failed (recorded): %s",
            method,
            failed,
            len(table),
            table.loc[table["status"] != "ok", "error"].iloc[0],
        )


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
