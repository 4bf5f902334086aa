"""The workflow end to end on a small subsample of the bundled demo (slow: runs Snakemake)."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import DEMO, demo_workdir, snakemake_cmd

import commst
from commst.priors import load_lr_resource, lr_genes

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _user_inputs(work: Path) -> list[Path]:
    """Every file the user hands the workflow: sheet, config, spatial data, reference."""
    return [work / "samples.tsv", work / "config.yaml", work / "spatial.h5ad", DEMO / "visium_lymphnode_human_ref.h5ad"]


def _snapshot(paths: list[Path]) -> dict[str, tuple[str, int]]:
    return {str(p): (_sha256(p), p.stat().st_mtime_ns) for p in paths}


def _cmd(work: Path) -> list[str]:
    return snakemake_cmd(work, "--cores", "2")


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory):
    """Run the whole workflow on 250 demo spots in a fresh working directory.

    Returns the folder, the spatial subsample and a snapshot (SHA-256, mtime) of every user
    input taken before the run.
    """
    work = demo_workdir(tmp_path_factory.mktemp("run"), 250)
    sub = ad.read_h5ad(work / "spatial.h5ad")
    inputs_before = _snapshot(_user_inputs(work))
    cmd = _cmd(work)
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    report = subprocess.run(cmd + ["--report", str(work / "report.html")], capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr[-4000:]
    return work, sub, inputs_before


def test_imputed_output_contract(workflow_run):
    work, spatial, _ = workflow_run
    imputed = ad.read_h5ad(work / "results/mini/commst/imputed.h5ad")
    reference = ad.read_h5ad(work / "results/mini/prepared/reference.h5ad")
    ligands, receptors = lr_genes(load_lr_resource("consensus", "human"))
    # every imputed gene is an LR gene the reference expresses (>= 5 % of one cell type)
    assert set(imputed.var_names) <= ligands | receptors
    counts = reference[:, imputed.var_names].layers["counts"] > 0
    frac = (
        pd.DataFrame(counts.toarray(), columns=imputed.var_names).groupby(reference.obs["cell_type"].to_numpy()).mean()
    )
    assert (frac.max(axis=0) >= 0.05).all()
    assert np.isfinite(imputed.X).all() and (imputed.X >= 0).all()
    # coordinates and spot names preserved
    kept = spatial[imputed.obs_names]
    np.testing.assert_array_equal(imputed.obsm["spatial"], kept.obsm["spatial"])
    assert {"imputed_counts", "observed", "uncertainty", "guarded", "expected_lognorm", "lo", "hi", "p_zero"} <= set(
        imputed.layers
    )
    assert {"is_ligand", "is_receptor", "measured_in_spatial"} <= set(imputed.var.columns)
    assert imputed.var["is_ligand"].any() and imputed.var["is_receptor"].any()
    assert imputed.uns["commst"]["method"] == "commst"  # the default
    assert set(imputed.obs["matched_cell_type"]) <= set(reference.obs["cell_type"])
    assert imputed.var["reliability"].notna().mean() > 0.5
    # the run's built-in held-out check: masked input genes, commst and knn on the same genes
    quality = pd.read_csv(work / "results/mini/commst/quality.tsv", sep="\t")
    prepared = ad.read_h5ad(work / "results/mini/prepared/spatial.h5ad")
    assert len(quality) > 50 and set(quality["gene"]) <= set(prepared.uns["commst"]["genes"]["input"])
    assert quality["pcc_counts"].median() > quality["baseline_pcc_counts"].median()


def test_ccc_tables_reference_real_lr_pairs(workflow_run):
    work, _, _ = workflow_run
    lr = load_lr_resource("consensus", "human")
    pairs = set(zip(lr["ligand"], lr["receptor"]))
    biv = pd.read_csv(work / "results/mini/commst/ccc/bivariate.tsv", sep="\t")
    assert len(biv) > 50
    assert all((l, r) in pairs for l, r in zip(biv["ligand"], biv["receptor"]))
    assert biv["pvalue"].between(0, 1).all() and biv["global_score"].notna().all()
    assert biv["qvalue"].between(0, 1).all() and {"significant", "null", "only_after_imputation"} <= set(biv.columns)
    local = ad.read_h5ad(work / "results/mini/commst/ccc/local_scores.h5ad")
    assert local.n_obs == ad.read_h5ad(work / "results/mini/commst/imputed.h5ad").n_obs and "spatial" in local.obsm
    assert list(local.var_names) == list(biv["interaction"])
    assert biv["global_score"].is_monotonic_decreasing
    for name in ("commst/ccc/rank_aggregate.tsv", "ccc/reference_rank_aggregate.tsv"):
        table = pd.read_csv(work / "results/mini" / name, sep="\t")
        assert len(table) > 0
        assert all((l, r) in pairs for l, r in zip(table["ligand_complex"], table["receptor_complex"]))
    spatial_ra = pd.read_csv(work / "results/mini/commst/ccc/rank_aggregate.tsv", sep="\t")
    imputed = ad.read_h5ad(work / "results/mini/commst/imputed.h5ad")
    assert set(spatial_ra["source"]) <= set(imputed.obs["matched_cell_type"])


def test_report_and_logs(workflow_run):
    work, _, _ = workflow_run
    html = (work / "report.html").read_text(errors="ignore")
    figures = (
        "spatial_lr_genes.png",
        "top_interactions.png",
        "interaction_maps.png",
        "imputed_vs_measured.png",
        "moran_inflation.png",
        "dotplot_spots_rank_aggregate.png",
        "quality.png",
        "imputed_vs_observed.png",
        "uncertainty_maps.png",
    )
    # one tree per method (the default config compares commst with knn), each with its figures
    for method in ("commst", "knn"):
        for png in figures:
            assert (work / "results/mini" / method / "report" / png).stat().st_size > 10_000
            assert f"results/mini/{method}/report/{png}" in html
    for name in ("dotplot_reference_rank_aggregate.png", "method_comparison.png", "method_comparison.html"):
        assert (work / "results/mini/report" / name).stat().st_size > 2_000 and name in html
    # the run's own tables (rule report_run): the overview counts this run, the verdict is the quality table's
    report = work / "results/mini/commst/report"
    imputed = ad.read_h5ad(work / "results/mini/commst/imputed.h5ad")
    overview = (report / "overview.html").read_text()
    assert f"<td>spots</td>\n      <td>{imputed.n_obs}</td>" in overview and "<td>commst</td>" in overview
    assert "<td>knn</td>" in (work / "results/mini/knn/report/overview.html").read_text()
    quality = pd.read_csv(work / "results/mini/commst/quality.tsv", sep="\t")
    assert commst.pl.quality_verdict(quality) in (report / "quality.html").read_text()
    assert "kept (alpha=" in (report / "selection.html").read_text()
    assert "no (off by default" in (report / "priors.html").read_text()
    impute_log = (work / "logs/mini/commst/impute.log").read_text()
    n_candidates = len(commst.tl.selection_table(imputed))
    assert impute_log.count("INFO commst: selection ") == n_candidates + 2  # + the kept setting per scale
    logs = list((work / "logs").rglob("*.log"))
    assert len(logs) >= 6 and all(p.stat().st_size > 0 for p in logs if "priors" not in str(p))
    assert (work / "logs/mini/knn/impute.log").is_file() and (work / "benchmarks/mini/commst/impute.tsv").is_file()
    assert not list((work / "results").rglob("*.part*")), "temporary files left behind"


def test_both_methods_kept_and_compared(workflow_run):
    """commst (the primary) and knn (impute: compare:) each keep their own imputed spots and CCC,
    and the comparison table holds the numbers recomputed from those files."""
    from commst.tl import compare_methods

    work, _, _ = workflow_run
    tree = work / "results/mini"
    imputed = {m: ad.read_h5ad(tree / m / "imputed.h5ad") for m in ("commst", "knn")}
    assert [a.uns["commst"]["method"] for a in imputed.values()] == ["commst", "knn"]
    assert '"knn"' not in imputed["commst"].uns["commst"]["config"]  # each gets its own settings only
    assert '"model"' not in imputed["knn"].uns["commst"]["config"]
    quality = {m: pd.read_csv(tree / m / "quality.tsv", sep="\t") for m in imputed}
    bivariate = {m: pd.read_csv(tree / m / "ccc/bivariate.tsv", sep="\t") for m in imputed}
    table = compare_methods(imputed, quality, bivariate, primary="commst", n_top=20)
    page = (tree / "report/method_comparison.html").read_text()
    rows = [
        re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S)
    ]
    shown = pd.DataFrame(rows[1:], columns=rows[0])
    assert list(shown["method"]) == ["commst", "knn"]
    for column in (
        "heldout_pcc_counts",
        "label_agreement",
        "top_pairs_shared",
        "n_significant",
        "lr_gene_corr_lognorm",
    ):
        np.testing.assert_allclose(
            pd.to_numeric(shown[column], errors="coerce"), table[column].astype(float), rtol=2e-3, atol=1e-3
        )
    knn = table.set_index("method").loc["knn"]
    # knn's own built-in held-out check (impute: heldout_rounds: 3): its medians, knn on its genes is itself
    prepared = ad.read_h5ad(tree / "prepared/spatial.h5ad")
    assert set(quality["knn"]["gene"]) <= set(prepared.uns["commst"]["genes"]["input"])
    # same seed, same first-round genes as commst's check, so knn there scores as knn here
    first = {m: quality[m][quality[m]["round"] == 0].set_index("gene") for m in imputed}
    assert set(first["commst"].index) == set(first["knn"].index)
    np.testing.assert_allclose(
        first["commst"]["baseline_pcc_counts"], first["knn"].loc[first["commst"].index, "pcc_counts"], rtol=1e-6
    )
    assert (
        knn["heldout_genes"] > 50
        and np.isfinite(knn[["heldout_pcc_counts", "heldout_pcc_lognorm"]].astype(float)).all()
    )
    assert (knn["knn_pcc_counts"], knn["knn_pcc_lognorm"]) == (knn["heldout_pcc_counts"], knn["heldout_pcc_lognorm"])
    assert 0 <= knn["label_agreement"] < 1 and 0 <= knn["top_pairs_shared"] <= 20
    assert -1 <= knn["lr_gene_corr_lognorm"] <= 1 and knn["lr_genes_compared"] > 50


def test_inputs_are_never_modified(workflow_run):
    """The run (and the report) only read the user's files: same bytes, same mtime."""
    work, _, before = workflow_run
    assert _snapshot(_user_inputs(work)) == before


def _dry_run_rules(work: Path) -> set[str]:
    """Rules a dry run would run (from its job table), or the empty set when nothing is to be done."""
    result = subprocess.run(_cmd(work) + ["--dry-run"], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    table = (result.stdout + result.stderr).split("Job stats:")[-1].split("Reasons:")[0]
    return {m.group(1) for m in re.finditer(r"^(\w+)\s+\d+$", table, re.M)} - {"job", "total", "all"}


def _reordered(value):
    """Every dict's keys in reverse order: the same config, written the other way round."""
    if isinstance(value, dict):
        return {key: _reordered(value[key]) for key in reversed(list(value))}
    return value


def _dry_run_outputs(work: Path) -> list[str]:
    """Output files of every job a dry run would run."""
    result = subprocess.run(_cmd(work) + ["--dry-run"], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = (result.stdout + result.stderr).splitlines()
    return [path for line in lines if line.strip().startswith("output:") for path in line.split(":", 1)[1].split(", ")]


def test_config_edits_rerun_only_the_rules_that_use_them(workflow_run):
    """Editing report: or benchmark: reruns no upstream job; re-ordering keys reruns nothing;
    adding a method to impute: compare: runs that method's tree and the comparison only."""
    work, _, _ = workflow_run
    path = work / "config.yaml"
    text, stat = path.read_text(), path.stat()
    config = yaml.safe_load(text)
    try:
        assert _dry_run_rules(work) == set()
        edited = {
            **config,
            "report": {**config["report"], "n_genes": config["report"]["n_genes"] + 1},
            "benchmark": {**config["benchmark"], "seed": config["benchmark"]["seed"] + 1},
        }
        path.write_text(yaml.safe_dump(edited, sort_keys=False))
        assert _dry_run_rules(work) == {"report_figures"}  # impute, preprocess, ccc: nothing
        path.write_text(yaml.safe_dump(_reordered(config), sort_keys=False))
        assert _dry_run_rules(work) == set()
        # one more method compared: its own tree and the comparison; nothing of commst's or knn's
        more = {**config, "impute": {**config["impute"], "compare": ["knn", "raw"]}}
        path.write_text(yaml.safe_dump(more, sort_keys=False))
        outputs = [p.strip() for p in _dry_run_outputs(work) if p.strip()]
        assert "results/mini/raw/imputed.h5ad" in outputs and "results/mini/report/method_comparison.html" in outputs
        assert not [p for p in outputs if "/commst/" in p or "/knn/" in p or "/prepared/" in p], outputs
        # and none compared: nothing to run (the kept knn tree is simply not a target)
        fewer = {**config, "impute": {**config["impute"], "compare": []}}
        path.write_text(yaml.safe_dump(fewer, sort_keys=False))
        assert _dry_run_rules(work) == set()
    finally:
        path.write_text(text)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_rerun_keeps_earlier_results_of_other_samples(workflow_run):
    """A rerun redoes nothing, and a new sample that fails leaves the finished one untouched.

    Runs last in this module: it adds a sample to the sheet (and restores the sheet after).
    """
    work, spatial, before = workflow_run
    finished = sorted(p for p in (work / "results" / "mini").rglob("*") if p.is_file())
    assert len(finished) >= 8  # prepared (3), imputed, ccc tables, report figures
    results_before = _snapshot(finished)

    again = subprocess.run(_cmd(work), capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stderr[-4000:]
    assert "Nothing to be done" in again.stdout + again.stderr
    assert _snapshot(finished) == results_before

    # a second sample whose spatial data are log-normalised: its preprocess fails, the rest stays
    bad = spatial.copy()
    bad.X = np.log1p(bad.X.toarray() if hasattr(bad.X, "toarray") else bad.X)
    bad.write_h5ad(work / "bad_spatial.h5ad")
    sheet = work / "samples.tsv"
    original = sheet.read_text()
    row = original.splitlines()[1].split("\t")
    row[0], row[2] = "second", "bad_spatial.h5ad"
    sheet.write_text(original + "\t".join(row) + "\n")
    # the temporary file of a job killed in an earlier run: removed when the next run starts
    stale = work / "results" / "mini" / ".imputed.h5ad.k1ll3d00.part.h5ad"
    stale.write_bytes(b"half a file")
    try:
        failed = subprocess.run(_cmd(work) + ["--keep-going"], capture_output=True, text=True, timeout=600, check=False)
    finally:
        sheet.write_text(original)
    said = failed.stdout + failed.stderr + (work / "logs/second/preprocess.log").read_text()
    assert failed.returncode != 0
    assert "bad_spatial.h5ad" in said and "non-integer values" in said and "looks log" in said
    assert not [p for p in (work / "results" / "second").rglob("*") if p.is_file()]
    assert not list((work / "results").rglob("*.part*")) and f"removed {stale.relative_to(work)}" in said
    assert _snapshot(finished) == results_before
    inputs = [p for p in _user_inputs(work) if p.name != "samples.tsv"]
    assert _snapshot(inputs) == {k: v for k, v in before.items() if not k.endswith("samples.tsv")}


#: A toy method, as a developer would add it: this file, plus one registry line.
TOY_METHOD = '''"""The ``toy`` method: every spot gets the reference's mean share of each target, at its own depth."""

from __future__ import annotations

import numpy as np

from .._types import ImputationResult
from ._common import check_genes, input_depth, shares


def impute_toy(spatial, reference, *, targets, input_genes, seed=0, scale=1.0):
    targets, input_genes = check_genes(spatial, reference, targets, input_genes, "toy")
    mean_share = np.asarray(shares(reference, targets, input_genes).mean(axis=0)).ravel() * scale
    counts = input_depth(spatial, input_genes)[:, None] * mean_share[None, :]
    return ImputationResult(counts=counts, targets=targets, extra={"scale": scale})
'''
TOY_ENTRY = '    MethodMeta("toy", "commst.tl.methods.toy:impute_toy", defaults={"scale": 1.0}),\n'


def test_a_new_method_is_one_file_and_one_registry_line(workflow_run, tmp_path):
    """Register a toy method in a copy of the repository (one new module, one line in
    commst.tl.methods.METHODS) and run it through `impute: method:` on the finished run:
    preprocess is reused, impute and the CCC step run with it, with its params section."""
    import shutil

    # a copy of the finished run (outputs, their mtimes and .snakemake metadata), so the other
    # tests' run is not touched by the copied repository; the sample sheet and inputs stay where they were
    work = shutil.copytree(workflow_run[0], tmp_path / "work", symlinks=True)
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("Snakefile", "workflow", "scripts", "src", "config", "envs", "profiles"):
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy2
        copy(
            REPO / name,
            repo / name,
            **({"ignore": shutil.ignore_patterns("__pycache__")} if copy is shutil.copytree else {}),
        )
    (repo / "resources").symlink_to(REPO / "resources")
    methods = repo / "src" / "commst" / "tl" / "methods"
    (methods / "toy.py").write_text(TOY_METHOD)
    registry = (methods / "__init__.py").read_text()
    assert registry.count(")  # fmt: skip") == 1
    (methods / "__init__.py").write_text(registry.replace(")  # fmt: skip", TOY_ENTRY + ")  # fmt: skip"))

    config = yaml.safe_load((work / "config.yaml").read_text())
    config["impute"] = {"method": "toy", "seed": 0, "toy": {"scale": 2.0}}
    (work / "toy.yaml").write_text(yaml.safe_dump(config))
    prepared = work / "results/mini/prepared/spatial.h5ad"
    before = prepared.stat().st_mtime_ns
    targets = ["results/mini/toy/imputed.h5ad", "results/mini/toy/ccc/bivariate.tsv"]
    cmd = snakemake_cmd(work, "--cores", "2", *targets, configfile=work / "toy.yaml", snakefile=repo / "Snakefile")
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert prepared.stat().st_mtime_ns == before  # preprocess was reused

    imputed = ad.read_h5ad(work / "results/mini/toy/imputed.h5ad")
    assert imputed.uns["commst"]["method"] == "toy"
    assert '"toy": {"scale": 2.0}' in imputed.uns["commst"]["config"]
    # the known answer: twice the reference's mean share, at each spot's input depth
    spatial = ad.read_h5ad(prepared)
    reference = ad.read_h5ad(work / "results/mini/prepared/reference.h5ad")
    genes = spatial.uns["commst"]["genes"]
    inputs, targets = list(genes["input"]), list(imputed.var_names)
    ref_counts = reference[:, targets].layers["counts"].toarray()
    ref_depth = np.asarray(reference[:, inputs].layers["counts"].sum(axis=1)).ravel()
    share = (ref_counts / np.where(ref_depth > 0, ref_depth, np.inf)[:, None]).mean(axis=0)
    depth = np.asarray(spatial[:, inputs].layers["counts"].sum(axis=1)).ravel()
    np.testing.assert_allclose(imputed.layers["imputed_counts"], 2.0 * depth[:, None] * share[None, :], rtol=1e-5)
    bivariate = pd.read_csv(work / "results/mini/toy/ccc/bivariate.tsv", sep="\t")
    assert len(bivariate) > 0 and bivariate["global_score"].notna().all()
    # the toy gives no uncertainty and no spot labels: the impute step gives it the kNN neighbours',
    # so the calibrated test and the label-level tables run as with any method
    info = imputed.uns["commst"]
    assert info["uncertainty_source"] == "knn" and info["labels_source"] == "knn"
    assert "matched_cell_type" in imputed.obs and (imputed.layers["uncertainty"] > 0).any()
    assert (bivariate["null"] == "uncertainty_labels").all() and bivariate["qvalue"].notna().all()
    assert not pd.read_csv(work / "results/mini/toy/ccc/rank_aggregate.tsv", sep="\t").empty
    # the primary's tree is the commst run's, untouched
    assert (work / "results/mini/commst/imputed.h5ad").stat().st_mtime_ns == (
        workflow_run[0] / "results/mini/commst/imputed.h5ad"
    ).stat().st_mtime_ns


def test_report_shows_every_figure_in_a_browser(workflow_run, tmp_path):
    """The report opened in headless Chromium: every category, every result's eye button, no
    JavaScript error, and each figure result displays its own picture."""
    from browser import view_report

    work, _, _ = workflow_run
    view = view_report(work / "report.html", screenshots=tmp_path)
    assert not view.errors, view.errors
    assert {"1. Overview", "2. Quality", "Imputed LR genes", "Communication", "Warnings", "Method comparison"} <= set(
        view.categories
    )
    listed = [path for subs in view.categories.values() for paths in subs.values() for path in paths]
    assert sorted(listed) == sorted(view.mime_types)  # every result sits in a category
    for (category, subcategory), shown in view.shown.items():
        paths = view.categories[category][subcategory]
        assert len(shown) == len(paths), (category, subcategory)
        images = [p for p in paths if view.mime_types[p].startswith("image/")]
        pictures = {fingerprint for fingerprint, width in shown if width > 200}
        assert len(pictures) == len(images), (category, subcategory, images)
        # every HTML result is a table that shows rows (a .tsv result would only be a download link)
        pages = [p for p in paths if view.mime_types[p] == "text/html"]
        rows = view.tables[(category, subcategory)]
        assert len(rows) == len(pages) and all(n > 0 for n in rows), (category, subcategory, rows)
    assert not [p for p in listed if p.endswith(".tsv")], "a .tsv report item shows nothing in the browser"
    # per method (commst and knn): overview, priors, quality, selection, warnings, LR pairs, Moran's I; + the comparison
    assert sum(len(rows) for rows in view.tables.values()) == 7 * 2 + 1
    assert len(list(tmp_path.glob("*.png"))) == len(listed)
