"""Shared fixtures: paths of the repository and the bundled demo data."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "resources" / "demo"

# Keep test runs within the machine's two cores and quiet.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def demo_pair() -> tuple[ad.AnnData, ad.AnnData]:
    """The bundled human lymph node pair (spatial, reference), raw counts."""
    spatial = ad.read_h5ad(DEMO / "visium_lymphnode_human_sp.h5ad")
    reference = ad.read_h5ad(DEMO / "visium_lymphnode_human_ref.h5ad")
    return spatial, reference


def prepared_demo_subset(demo_pair, n_spots: int, seed: int = 0) -> tuple[ad.AnnData, ad.AnnData, list[str]]:
    """``n_spots`` seeded demo spots and the demo reference, prepared (consensus LR genes, human
    aliases), with the run's input genes."""
    from commst.pp import prepare
    from commst.priors import load_alias_map, load_lr_resource, lr_genes

    spatial, reference = demo_pair
    spatial = spatial[np.random.default_rng(seed).choice(spatial.n_obs, n_spots, replace=False)].copy()
    lr = load_lr_resource("consensus", "human")
    spatial, reference = prepare(spatial, reference, lr_genes(lr), alias_map=load_alias_map("human"))
    return spatial, reference, list(spatial.uns["commst"]["genes"]["input"])


def snakemake_cmd(work: Path, *args: str, configfile: Path | None = None, snakefile: Path | None = None) -> list[str]:
    """The command line of a workflow run in ``work``: the repository's Snakefile (or
    ``snakefile``), ``work/config.yaml`` (or ``configfile``), then ``args`` (targets, options)."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        # first: --configfile takes several values, so a target right after it would be read as one
        "--configfile",
        str(configfile or work / "config.yaml"),
        "--snakefile",
        str(snakefile or REPO / "Snakefile"),
        "--directory",
        str(work),
        *args,
    ]


def demo_workdir(work: Path, n_spots: int, *, n_perms: int = 20) -> Path:
    """A working directory for a workflow run on ``n_spots`` random demo spots.

    Writes ``spatial.h5ad`` (the subsample), ``samples.tsv`` (sample ``mini``, the bundled
    reference) and ``config.yaml`` (the default config with ``n_perms`` permutations).
    Returns ``work``.
    """
    work.mkdir(parents=True, exist_ok=True)
    spatial = ad.read_h5ad(DEMO / "visium_lymphnode_human_sp.h5ad")
    sub = spatial[np.random.default_rng(0).choice(spatial.n_obs, n_spots, replace=False)].copy()
    sub.write_h5ad(work / "spatial.h5ad")
    (work / "samples.tsv").write_text(
        "sample\treference\tspatial\tspatial_format\tspecies\tcell_type_key\n"
        f"mini\t{DEMO}/visium_lymphnode_human_ref.h5ad\tspatial.h5ad\th5ad\thuman\tcell_type\n"
    )
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["samples"] = str(work / "samples.tsv")
    config["ccc"]["n_perms"] = n_perms
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    return work
