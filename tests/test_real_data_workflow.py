"""Real data through the workflow with the default config: a small imaging panel and a reference
with rare cell types run end to end and say so in the log and the report; a LIANA failure of one
sample becomes our message and does not stop the other (slow: runs Snakemake).

Both samples are cut from the bundled MERFISH hypothalamus pair (resources/benchmark) and use the
user's own LR table (``lr_resource: name: my_pairs.tsv``, a pair of ours added to the consensus):
``panel25`` keeps 25 of the panel's 134 genes on the spatial side, ``rare`` keeps 5 cells of
each of two oligodendrocyte types in the reference. The config is config/config.yaml as shipped,
except fewer CCC permutations (10) to keep the run short; Snakemake runs without
``--keep-going`` and without a named profile, so the default workflow profile applies.
"""

from __future__ import annotations

import base64
import re
import subprocess
from html import unescape
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import snakemake_cmd

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "resources" / "benchmark"
pytestmark = pytest.mark.slow

RARE = ("Immature oligodendrocyte", "Newly formed oligodendrocyte")
#: A pair in no database: only the user's own LR table (lr_resource: name: a path) holds it.
OWN_PAIR = ("Gad1", "Slc17a6")


def _cmd(work: Path, *extra: str) -> list[str]:
    return snakemake_cmd(work, *extra)


def _run(work: Path, *extra: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(_cmd(work, *extra), capture_output=True, text=True, timeout=timeout, check=False)


def _report_tables(html: str) -> dict[str, str]:
    """The warnings tables embedded in a Snakemake report (HTML pages as base64 data URIs), by sample."""
    found = {}
    for match in re.finditer(r"data:[^;]+;charset=[^;]+;filename=warnings\.html;base64,([A-Za-z0-9+/=]+)", html):
        text = unescape(base64.b64decode(match.group(1)).decode())
        for sample in ("panel25", "rare"):
            if f"/{sample}/" in text or f"{sample}_" in text:
                found[sample] = text
    return found


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp("realdata")
    rng = np.random.default_rng(0)
    spatial = ad.read_h5ad(BENCH / "merfish_hypothalamus_sp.h5ad")
    spatial = spatial[np.sort(rng.choice(spatial.n_obs, 250, replace=False))].copy()
    reference = ad.read_h5ad(BENCH / "merfish_hypothalamus_ref.h5ad")
    genes = np.sort(rng.choice(spatial.n_vars, 25, replace=False))
    spatial[:, genes].copy().write_h5ad(work / "panel25_sp.h5ad")
    spatial.write_h5ad(work / "full_sp.h5ad")
    keep = np.ones(reference.n_obs, dtype=bool)
    counted = np.asarray(reference.X.sum(axis=1)).ravel() >= 10  # five cells each that pass QC
    for cell_type in RARE:
        keep[np.flatnonzero((reference.obs["cell_type"] == cell_type).to_numpy() & counted)[5:]] = False
        keep[np.flatnonzero((reference.obs["cell_type"] == cell_type).to_numpy() & ~counted)] = False
    reference[keep].copy().write_h5ad(work / "rare_ref.h5ad")
    pd.DataFrame(
        [
            ["panel25", str(BENCH / "merfish_hypothalamus_ref.h5ad"), "panel25_sp.h5ad", "h5ad", "mouse", "cell_type"],
            ["rare", "rare_ref.h5ad", "full_sp.h5ad", "h5ad", "mouse", "cell_type"],
        ],
        columns=["sample", "reference", "spatial", "spatial_format", "species", "cell_type_key"],
    ).to_csv(work / "samples.tsv", sep="\t", index=False)
    # the user's own LR table (relative to the working directory): the mouse consensus plus a pair of ours
    from commst.priors import load_lr_resource

    lr = load_lr_resource("consensus", "mouse")[["ligand", "receptor"]]
    pd.concat([lr, pd.DataFrame({"ligand": [OWN_PAIR[0]], "receptor": [OWN_PAIR[1]]})]).to_csv(
        work / "my_pairs.tsv", sep="\t", index=False
    )
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["samples"] = str(work / "samples.tsv")
    config["lr_resource"]["name"] = "my_pairs.tsv"
    config["ccc"]["n_perms"] = 10
    config["impute"]["compare"] = []  # the primary method only: this run checks real data, not the comparison
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    first = _run(work, "--cores", "2")
    assert first.returncode == 0, first.stderr[-4000:]
    report = _run(work, "--cores", "1", "--report", str(work / "report.html"), timeout=300)
    assert report.returncode == 0, report.stderr[-4000:]
    return work


def test_small_panel_runs_with_a_warning_in_log_and_report(run):
    work = run
    genes = pd.read_json(work / "results/panel25/prepared/genes.json", typ="series")
    n_input = len(genes["input"])
    assert 10 <= n_input < 50  # between the hard floor and the warning level
    imputed = ad.read_h5ad(work / "results/panel25/commst/imputed.h5ad")
    # spots with fewer than 10 counts over 25 genes are removed by QC; the rest is imputed
    assert 200 <= imputed.n_obs <= 250 and imputed.n_vars > 0 and np.isfinite(imputed.X).all()
    warning = f"share only {n_input} input genes (fewer than preprocess.min_shared_genes = 50)"
    assert warning in (work / "logs/panel25/preprocess.log").read_text()
    table = pd.read_csv(work / "results/panel25/commst/report/warnings.tsv", sep="\t")
    assert any(warning in m for m in table.loc[table["step"] == "preprocess", "message"])
    assert warning in _report_tables((work / "report.html").read_text())["panel25"]


def test_rare_cell_types_are_kept_and_named_in_log_and_report(run):
    work = run
    prepared = ad.read_h5ad(work / "results/rare/prepared/reference.h5ad")
    counts = prepared.obs["cell_type"].value_counts()
    assert all(counts[t] == 5 for t in RARE)  # kept as reference cells for imputation
    log = (work / "logs/rare/preprocess.log").read_text()
    named = "2 cell type(s) in obs['cell_type'] have fewer than 10 cells (preprocess.min_cells_per_type)"
    assert named in log and all(f"{t} (5)" in log for t in RARE)
    report = _report_tables((work / "report.html").read_text())["rare"]
    assert named in report and all(f"{t} (5)" in report for t in RARE)
    assert (work / "results/rare/commst/imputed.h5ad").is_file()
    # label-level CCC keeps the types with at least ccc.min_cells (5) cells and says which it leaves out
    ref_ccc = pd.read_csv(work / "results/rare/ccc/reference_rank_aggregate.tsv", sep="\t")
    assert set(RARE) & (set(ref_ccc["source"]) | set(ref_ccc["target"]))  # 5 cells: enough for ccc.min_cells
    assert not any(
        t in line
        for t in RARE
        for line in (work / "logs/rare/ccc_reference.log").read_text().splitlines()
        if "leaves out" in line
    )
    spots = ad.read_h5ad(work / "results/rare/commst/imputed.h5ad").obs["matched_cell_type"].value_counts()
    small = spots[spots < 5]
    ccc_log = (work / "logs/rare/commst/ccc_spatial.log").read_text()
    spot_ccc = pd.read_csv(work / "results/rare/commst/ccc/rank_aggregate.tsv", sep="\t")
    for label in small.index:
        assert f"{label} ({small[label]})" in ccc_log
        assert label not in set(spot_ccc["source"]) | set(spot_ccc["target"])


def test_own_lr_table_and_the_communication_outputs(run):
    """The user's LR table is the one tested; the calibrated test's tables, local scores and figures exist."""
    work = run
    own = pd.read_csv(work / "my_pairs.tsv", sep="\t")
    table = pd.read_csv(work / "results/priors/mouse/lr_resource.tsv", sep="\t")
    assert set(zip(table["ligand"], table["receptor"])) == set(zip(own["ligand"], own["receptor"]))
    biv = pd.read_csv(work / "results/rare/commst/ccc/bivariate.tsv", sep="\t")
    assert "^".join(OWN_PAIR) in set(biv["interaction"])
    assert set(zip(biv["ligand"], biv["receptor"])) <= set(zip(own["ligand"], own["receptor"]))
    columns = [
        "interaction",
        "ligand",
        "receptor",
        "global_metric",
        "global_score",
        "pvalue",
        "qvalue",
        "significant",
        "null",
    ]
    assert list(biv.columns[: len(columns)]) == columns
    assert {
        "ligand_status",
        "receptor_status",
        "ligand_guarded_share",
        "receptor_guarded_share",
        "measured_significant",
        "measured_testable",
        "only_after_imputation",
    } <= set(biv.columns)
    assert (biv["null"] == "uncertainty_labels").all() and biv["pvalue"].between(0, 1).all()
    assert set(biv["ligand_status"]) <= {"measured", "imputed", "guarded"}
    assert (biv["significant"] == ((biv["qvalue"] < 0.05) & (biv["global_score"] > 0))).all()
    # the MERFISH panel measured these genes: the measured data test the same pairs
    measured = pd.read_csv(work / "results/rare/commst/ccc/bivariate_measured.tsv", sep="\t")
    assert len(measured) > 0 and biv["measured_testable"].sum() == len(
        set(measured["interaction"]) & set(biv["interaction"])
    )
    assert (biv["only_after_imputation"] == (biv["significant"] & ~biv["measured_significant"])).all()
    local = ad.read_h5ad(work / "results/rare/commst/ccc/local_scores.h5ad")
    assert list(local.var_names) == list(biv["interaction"]) and local.obsm["spatial"].shape == (local.n_obs, 2)
    moran = pd.read_csv(work / "results/rare/commst/ccc/moran.tsv", sep="\t")
    assert len(moran) > 10 and moran["moran_observed"].notna().all()
    html = (work / "report.html").read_text(errors="ignore")
    for png in (
        "commst/report/interaction_maps.png",
        "commst/report/imputed_vs_measured.png",
        "commst/report/moran_inflation.png",
        "commst/report/dotplot_spots_rank_aggregate.png",
        "report/dotplot_reference_rank_aggregate.png",
    ):
        assert (work / "results/rare" / png).stat().st_size > 10_000 and png.split("/")[-1] in html


def test_liana_failure_is_our_message_and_the_other_sample_finishes(run):
    """A LIANA failure in one sample (its imputed file holds a NaN) stops that sample only.

    The changed file reruns that sample's communication, a changed report setting the other
    sample's figures; the failing job is put first (--prioritize) on one core, so without the
    default profile's keep-going the other sample's job would never start.
    """
    work = run
    broken = ad.read_h5ad(work / "results/rare/commst/imputed.h5ad")
    broken.X[0, 0] = np.nan
    broken.write_h5ad(work / "results/rare/commst/imputed.h5ad")
    config = yaml.safe_load((work / "config.yaml").read_text())
    config["report"]["n_genes"] += 1
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    before = (work / "results/panel25/commst/report/top_interactions.png").stat().st_mtime_ns
    again = _run(work, "--cores", "1", "--prioritize", "results/rare/commst/ccc/bivariate.tsv")
    said = again.stdout + again.stderr
    assert again.returncode != 0
    log = (work / "logs/rare/commst/ccc_spatial.log").read_text()
    assert (
        "sample 'rare', step ccc_spatial (LIANA bivariate cosine/morans): LIANA failed "
        "(ValueError: mat contains non finite values" in log
    )
    assert "Fix: check this step's input file" in log and "Fix: check this step's input file" in said
    assert not (work / "results/rare/commst/ccc/bivariate.tsv").exists()
    # the other sample ran to the end
    assert (work / "results/panel25/commst/report/top_interactions.png").stat().st_mtime_ns > before
    assert pd.read_csv(work / "results/panel25/commst/ccc/bivariate.tsv", sep="\t")["pvalue"].notna().all()
    assert not list((work / "results").rglob("*.part*"))
