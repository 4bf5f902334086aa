"""Train the CommST model of one sample (Snakemake script; rule train)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  (the workflow runs without installing commst)

import logging

import anndata as ad
import pandas as pd

from commst._utils import run_logged, write_table
from commst.model import CommSTConfig, model_priors, plot_history, train
from commst.pp import get_gene_sets
from commst.validate import check_neighbours, check_prior_file


def main(snakemake):
    log = logging.getLogger("commst")
    spatial = ad.read_h5ad(snakemake.input.spatial)
    reference = ad.read_h5ad(snakemake.input.reference)
    genes = get_gene_sets(spatial)
    targets, inputs = genes.lr_targets, genes.input
    settings = dict(snakemake.params.model)
    settings["seed"] = snakemake.params.seed
    settings["num_threads"] = snakemake.params.num_threads  # fixed: --cores changes no byte
    config = CommSTConfig.from_dict(settings)
    check_neighbours(config.k_neighbours, reference.n_obs, key="model.k_neighbours", path=snakemake.input.reference)
    species = snakemake.params.species
    if config.w_ppi > 0:
        check_prior_file(snakemake.input.ppi, "ppi", species)
    if config.w_nichenet > 0:
        check_prior_file(snakemake.input.ligand_target, "ligand_target", species)
    priors = model_priors(
        targets,
        inputs,
        config=config,
        species=species,
        lr=pd.read_csv(snakemake.input.lr, sep="\t") if config.w_ppi > 0 else None,
        ppi_path=snakemake.input.ppi,
        ligand_target_path=snakemake.input.ligand_target,
    )
    log.info("training CommST: %d targets, %d input genes, settings %s", len(targets), len(inputs), config.to_dict())
    model = train(
        spatial,
        reference,
        targets=targets,
        input_genes=inputs,
        config=config,
        checkpoint_dir=snakemake.params.checkpoint_dir,
        **priors,
    )
    write_table(model.history, snakemake.output.history)
    plot_history(model.history, snakemake.output.curve)
    model.save(snakemake.output.model)


run_logged(snakemake.log[0], main, snakemake)  # noqa: F821
