"""The workflow end to end on a small subsample of the bundled demo (slow: runs Snakemake)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from conftest import demo_workdir

from commst.priors import load_lr_resource, lr_genes

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory):
    """Run the whole workflow on 250 demo spots in a fresh working directory."""
    work = demo_workdir(tmp_path_factory.mktemp("run"), 250)
    sub = ad.read_h5ad(work / "spatial.h5ad")
    cmd = [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(work),
        "--configfile", str(work / "config.yaml"), "--cores", "2",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    report = subprocess.run(cmd + ["--report", str(work / "report.html")], capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr[-4000:]
    return work, sub


def test_imputed_output_contract(workflow_run):
    work, spatial = workflow_run
    imputed = ad.read_h5ad(work / "results/mini/imputed.h5ad")
    reference = ad.read_h5ad(work / "results/mini/prepared/reference.h5ad")
    ligands, receptors = lr_genes(load_lr_resource("consensus", "human"))
    # every imputed gene is an LR gene the reference expresses (>= 5 % of one cell type)
    assert set(imputed.var_names) <= ligands | receptors
    counts = reference[:, imputed.var_names].layers["counts"] > 0
    frac = pd.DataFrame(counts.toarray(), columns=imputed.var_names).groupby(reference.obs["cell_type"].to_numpy()).mean()
    assert (frac.max(axis=0) >= 0.05).all()
    assert np.isfinite(imputed.X).all() and (imputed.X >= 0).all()
    # coordinates and spot names preserved
    kept = spatial[imputed.obs_names]
    np.testing.assert_array_equal(imputed.obsm["spatial"], kept.obsm["spatial"])
    assert {"imputed_counts", "observed", "uncertainty"} <= set(imputed.layers)
    assert {"is_ligand", "is_receptor", "measured_in_spatial"} <= set(imputed.var.columns)
    assert imputed.var["is_ligand"].any() and imputed.var["is_receptor"].any()
    assert imputed.uns["commst"]["method"] == "knn"
    assert set(imputed.obs["matched_cell_type"]) <= set(reference.obs["cell_type"])


def test_ccc_tables_reference_real_lr_pairs(workflow_run):
    work, _ = workflow_run
    lr = load_lr_resource("consensus", "human")
    pairs = set(zip(lr["ligand"], lr["receptor"]))
    biv = pd.read_csv(work / "results/mini/ccc/bivariate.tsv", sep="\t")
    assert len(biv) > 50
    assert all((l, r) in pairs for l, r in zip(biv["ligand"], biv["receptor"]))
    assert biv["pvalue"].between(0, 1).all() and biv["global_score"].notna().all()
    assert biv["global_score"].is_monotonic_decreasing
    for name in ("rank_aggregate.tsv", "reference_rank_aggregate.tsv"):
        table = pd.read_csv(work / "results/mini/ccc" / name, sep="\t")
        assert len(table) > 0
        assert all((l, r) in pairs for l, r in zip(table["ligand_complex"], table["receptor_complex"]))
    spatial_ra = pd.read_csv(work / "results/mini/ccc/rank_aggregate.tsv", sep="\t")
    imputed = ad.read_h5ad(work / "results/mini/imputed.h5ad")
    assert set(spatial_ra["source"]) <= set(imputed.obs["matched_cell_type"])


def test_report_and_logs(workflow_run):
    work, _ = workflow_run
    html = (work / "report.html").read_text(errors="ignore")
    assert "spatial_lr_genes.png" in html and "top_interactions.png" in html
    for png in ("spatial_lr_genes.png", "top_interactions.png"):
        assert (work / "results/mini/report" / png).stat().st_size > 10_000
    logs = list((work / "logs").rglob("*.log"))
    assert len(logs) >= 6 and all(p.stat().st_size > 0 for p in logs if "priors" not in str(p))
    assert not list((work / "results").rglob("*.part*")), "temporary files left behind"
