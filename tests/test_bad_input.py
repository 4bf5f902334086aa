"""Bad input stops early, names the file and the problem, says the fix and leaves no output.

One table, ``CASES``: each row builds one kind of bad input from the real fixtures
(``tests/data``: 60 Visium spots and 55 reference cells of the bundled lymph node demo) or
small synthetic tables, and says how it is run:

``script``
    the preprocess rule's own script (``scripts/preprocess.py``, run as Snakemake runs it,
    through a small stand-in ``snakemake`` object), so the validation layer is exercised
    exactly as in the workflow, in a second or less;
``function``
    the function that checks prior files (:func:`commst.validate.check_prior_file`);
``workflow``
    a real ``snakemake`` run (sheet and config errors, and two data errors end to end).

Every case asserts the error type (or the workflow's non-zero exit), that the message names
the offending file and the problem (and a fix), and that nothing was written: no output of the
rule and no temporary file under ``results/``.
"""

from __future__ import annotations

import gzip
import os
import re
import runpy
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import yaml
from conftest import snakemake_cmd
from scipy import sparse

from commst.priors import load_lr_resource, lr_genes
from commst.validate import CommstInputError, check_prior_file

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
SCRIPT = REPO / "scripts" / "preprocess.py"
#: Settings the fixture pair needs (its reference has 5 cells per type); else the defaults.
PREPROCESS = {
    "min_expr_frac": 0.05,
    "min_shared_genes": 50,
    "min_shared_genes_hard": 10,
    "min_counts_spot": 10,
    "min_counts_cell": 10,
    "target_sum": 10000.0,
    "min_cells_per_type": 5,
    "allow_non_counts": False,
}
OUTPUTS = ("prepared/spatial.h5ad", "prepared/reference.h5ad", "prepared/genes.json", "prepared/warnings.tsv")


class _Named(dict):
    """Snakemake's named lists: attribute and ``get`` access."""

    __getattr__ = dict.__getitem__


@pytest.fixture(scope="session")
def lr_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The human consensus LR resource as the priors rule writes it."""
    path = tmp_path_factory.mktemp("priors") / "lr_resource.tsv"
    load_lr_resource("consensus", "human").to_csv(path, sep="\t", index=False)
    return path


@dataclass
class Inputs:
    """One sample's inputs in a scratch folder; cases edit them before the run."""

    work: Path
    lr: Path
    spatial: Path
    reference: Path
    sample: dict[str, Any] = field(default_factory=dict)
    preprocess: dict[str, Any] = field(default_factory=lambda: dict(PREPROCESS))
    config: dict[str, Any] = field(default_factory=lambda: {"impute": {"method": "knn"}, "preprocess": {}})
    mem_mb: float | None = 64000
    coords: Path | None = None
    extra_args: list[str] = field(default_factory=list)

    @property
    def sheet(self) -> Path:
        return self.work / "samples.tsv"

    @property
    def config_file(self) -> Path:
        return self.work / "config.yaml"

    def row(self, **changes: Any) -> dict[str, Any]:
        """This sample's sample sheet row (absolute paths), with ``changes``."""
        return {
            "sample": "s1",
            "reference": str(self.reference),
            "spatial": str(self.spatial),
            "spatial_format": "h5ad",
            "species": "human",
            "cell_type_key": "annotation",
            **changes,
        }

    def write_sheet(self, rows: list[dict[str, Any]] | None = None) -> Path:
        """The sample sheet of a workflow run (default: this sample's row)."""
        pd.DataFrame(rows or [self.row()]).to_csv(self.sheet, sep="\t", index=False)
        return self.sheet

    def write_config(self, **sections: dict[str, Any]) -> Path:
        """The default config with this sample sheet and the fixture's min_cells_per_type."""
        config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
        config["samples"] = str(self.sheet)
        config["preprocess"]["min_cells_per_type"] = PREPROCESS["min_cells_per_type"]
        for key, value in sections.items():
            config.setdefault(key, {}).update(value)
        self.config_file.write_text(yaml.safe_dump(config))
        return self.config_file

    def spatial_adata(self) -> ad.AnnData:
        return ad.read_h5ad(DATA / "lymph_sp.h5ad")

    def reference_adata(self) -> ad.AnnData:
        return ad.read_h5ad(DATA / "lymph_ref.h5ad")

    def write_spatial(self, adata: ad.AnnData, name: str = "bad_sp.h5ad") -> Path:
        self.spatial = self.work / name
        adata.write_h5ad(self.spatial)
        return self.spatial

    def write_reference(self, adata: ad.AnnData, name: str = "bad_ref.h5ad") -> Path:
        self.reference = self.work / name
        adata.write_h5ad(self.reference)
        return self.reference

    def snakemake(self) -> SimpleNamespace:
        sample = {
            "sample": "s1",
            "spatial_format": "h5ad",
            "species": "human",
            "cell_type_key": "annotation",
            "bin_size": float("nan"),
            **self.sample,
        }
        files = {"spatial": str(self.spatial), "reference": str(self.reference), "lr": str(self.lr)}
        if self.coords is not None:
            files["coords"] = str(self.coords)
        out = self.work / "results" / "s1"
        return SimpleNamespace(
            input=_Named(files),
            output=_Named({Path(o).stem: str(out / o) for o in OUTPUTS}),
            params=SimpleNamespace(sample=sample, preprocess=self.preprocess),
            log=[str(self.work / "logs" / "s1" / "preprocess.log")],
            resources=SimpleNamespace(mem_mb=self.mem_mb),
            config=self.config,
            scriptdir=str(SCRIPT.parent),
            threads=1,
        )


@pytest.fixture
def inputs(tmp_path: Path, lr_table: Path) -> Inputs:
    for name in ("lymph_sp.h5ad", "lymph_ref.h5ad"):
        shutil.copy(DATA / name, tmp_path / name)
    return Inputs(tmp_path, lr_table, tmp_path / "lymph_sp.h5ad", tmp_path / "lymph_ref.h5ad")


def run_preprocess(inp: Inputs) -> None:
    """Run the preprocess rule's script as Snakemake does (module globals hold ``snakemake``)."""
    path = list(sys.path)
    try:
        runpy.run_path(str(SCRIPT), init_globals={"snakemake": inp.snakemake()}, run_name="__main__")
    finally:
        sys.path[:] = path


def _counts(a: ad.AnnData) -> sparse.csr_matrix:
    """The fixture keeps raw counts in layers['counts'] and log-normalised X."""
    return sparse.csr_matrix(a.layers["counts"], dtype=np.float32)


def _with_counts(a: ad.AnnData, counts: Any) -> ad.AnnData:
    """``a`` with ``counts`` as its only matrix (X), as a core facility's h5ad would have it."""
    out = ad.AnnData(X=counts, obs=a.obs.copy(), var=a.var.copy(), obsm=dict(a.obsm))
    return out


# ----------------------------------------------------------------------------------- the cases
# Each builder edits ``inp`` and returns the path the message must name.


def missing_file(inp: Inputs) -> Path:
    inp.spatial = inp.work / "no_such_spatial.h5ad"
    return inp.spatial


def unreadable_file(inp: Inputs) -> Path:
    if os.geteuid() == 0:  # root reads anything: a folder in place of the file is unreadable too
        inp.reference = inp.work / "reference_folder.h5ad"
        inp.reference.mkdir()
    else:
        inp.reference.chmod(0)
    return inp.reference


def wrong_format(inp: Inputs) -> Path:
    inp.sample["spatial_format"] = "visium"  # an h5ad file given as a Space Ranger folder
    return inp.spatial


def gem_given_h5ad(inp: Inputs) -> Path:
    inp.sample.update(spatial_format="stereo_gem", bin_size=50)
    return inp.spatial


def unknown_format(inp: Inputs) -> Path:
    inp.sample["spatial_format"] = "slideseq"
    return inp.spatial


def corrupt_h5ad(inp: Inputs) -> Path:
    data = inp.spatial.read_bytes()
    inp.spatial = inp.work / "truncated.h5ad"
    inp.spatial.write_bytes(data[: len(data) // 2])
    return inp.spatial


def truncated_gem(inp: Inputs) -> Path:
    data = (DATA / "lymph_sp.gem.gz").read_bytes()
    inp.spatial = inp.work / "truncated.gem.gz"
    inp.spatial.write_bytes(data[: len(data) // 2])
    inp.sample.update(spatial_format="stereo_gem", bin_size=50)
    return inp.spatial


def log_normalised(inp: Inputs) -> Path:
    a = inp.spatial_adata()
    return inp.write_spatial(_with_counts(a, sparse.csr_matrix(a.X)))  # the fixture's log1p X only


def negative_values(inp: Inputs) -> Path:
    a = inp.spatial_adata()
    x = sc.pp.scale(np.asarray(a.X.toarray()), copy=True)
    return inp.write_spatial(_with_counts(a, x))


def non_integer(inp: Inputs) -> Path:
    a = inp.reference_adata()
    a.X = sparse.csr_matrix(a.X * 0.9)  # ambient-corrected-like
    return inp.write_reference(a)


def nan_values(inp: Inputs) -> Path:
    a = inp.spatial_adata()
    counts = _counts(a)
    counts.data[5] = np.nan
    return inp.write_spatial(_with_counts(a, counts))


def inf_values(inp: Inputs) -> Path:
    a = inp.spatial_adata()
    counts = _counts(a)
    counts.data[:3] = np.inf
    return inp.write_spatial(_with_counts(a, counts))


def _duplicate_name(a: ad.AnnData, axis: str, i: int) -> ad.AnnData:
    names = list(getattr(a, f"{axis}_names"))
    names[i + 1] = names[i]
    setattr(a, f"{axis}_names", names)
    return a


def duplicated_spots(inp: Inputs) -> Path:
    return inp.write_spatial(_duplicate_name(inp.spatial_adata(), "obs", 0))


def duplicated_genes(inp: Inputs) -> Path:
    return inp.write_reference(_duplicate_name(inp.reference_adata(), "var", 2))


def missing_coordinates(inp: Inputs) -> Path:
    a = inp.spatial_adata()
    del a.obsm["spatial"]
    return inp.write_spatial(a)


def text_coordinates(inp: Inputs) -> Path:
    a = inp.spatial_adata()
    del a.obsm["spatial"]
    a.obs["x"] = "left"
    a.obs["y"] = [f"row {i}" for i in range(a.n_obs)]
    return inp.write_spatial(a)


def constant_coordinates(inp: Inputs) -> Path:
    a = inp.spatial_adata()
    a.obsm["spatial"] = np.full((a.n_obs, 2), 7.0)
    return inp.write_spatial(a)


def cell_type_key_absent(inp: Inputs) -> Path:
    inp.sample["cell_type_key"] = "celltype"
    return inp.reference


def one_type_after_qc(inp: Inputs) -> Path:
    """Two types and more pass the first check, but QC (min_counts_cell) leaves one."""
    a = inp.reference_adata()
    x = a.X.toarray()
    others = (a.obs["annotation"] != "T_CD4").to_numpy()
    x[others] = 0
    x[others, 0] = 3  # a few counts: not empty, but below min_counts_cell = 10
    a.X = sparse.csr_matrix(x)
    return inp.write_reference(a)


def ensembl_ids(inp: Inputs) -> Path:
    a = inp.spatial_adata()
    a.var["gene_symbols"] = a.var_names.to_numpy()
    a.var_names = [f"ENSG{i:011d}" for i in range(a.n_vars)]
    return inp.write_spatial(a)


def mouse_genes(inp: Inputs) -> Path:
    a = inp.spatial_adata()
    a.var_names = [g[:1] + g[1:].lower() for g in a.var_names]
    return inp.write_spatial(a)


def few_shared_genes(inp: Inputs) -> Path:
    a = inp.spatial_adata()
    return inp.write_spatial(a[:, :8].copy())  # below the hard floor of 10 (30 genes only warn)


def unknown_gene_names(inp: Inputs) -> Path:
    a = inp.spatial_adata()
    a.var_names = [f"GENE{i}" for i in range(a.n_vars)]  # no symbols at all: no case to read
    return inp.write_spatial(a)


def one_spot(inp: Inputs) -> Path:
    return inp.write_spatial(inp.spatial_adata()[:1].copy())


def one_bin(inp: Inputs) -> Path:
    """A GEM binned so coarsely that the whole section is one spot."""
    inp.spatial = DATA / "lymph_sp.gem.gz"
    inp.sample.update(spatial_format="stereo_gem", bin_size=100_000)
    return inp.spatial


def qc_removes_every_spot(inp: Inputs) -> Path:
    """One count per spot: no spot is empty, every spot is below min_counts_spot = 10."""
    a = inp.spatial_adata()
    rows = np.arange(a.n_obs)
    counts = sparse.csr_matrix((np.ones(a.n_obs, dtype=np.float32), (rows, rows % a.n_vars)), shape=a.shape)
    return inp.write_spatial(_with_counts(a, counts))


def zero_input_genes(inp: Inputs) -> Path:
    """Counts only in genes the reference lacks: the shared (input) genes are all zero."""
    a = inp.spatial_adata()
    ref = set(inp.reference_adata().var_names)
    counts = _counts(a).toarray()
    shared = a.var_names.isin(list(ref))
    counts[:, shared] = 0
    counts[:, ~shared] = np.maximum(counts[:, ~shared], 20)  # spots stay above min_counts_spot
    return inp.write_spatial(_with_counts(a, sparse.csr_matrix(counts)))


def k_above_cells(inp: Inputs) -> Path:
    inp.config["impute"] = {"method": "knn", "knn": {"k": 100}}  # the fixture has 55 cells
    return inp.reference


def no_lr_expressed(inp: Inputs) -> Path:
    a = inp.reference_adata()
    ligands, receptors = lr_genes(load_lr_resource("consensus", "human"))
    lr = a.var_names.isin(list(ligands | receptors))
    x = a.X.toarray()
    x[:, lr] = 0
    a.X = sparse.csr_matrix(x)
    return inp.write_reference(a)


def empty_spots(inp: Inputs) -> Path:
    a = inp.spatial_adata()
    return inp.write_spatial(_with_counts(a, sparse.csr_matrix(a.shape, dtype=np.float32)))


def empty_reference(inp: Inputs) -> Path:
    return inp.write_reference(inp.reference_adata()[:0].copy())


def too_large_mem_mb(inp: Inputs) -> Path:
    inp.mem_mb = 200  # the job's resources.mem_mb: less than the Python process alone
    return inp.spatial


def too_large_max_memory(inp: Inputs) -> Path:
    inp.config["preprocess"]["max_memory_gb"] = 0.1
    return inp.spatial


def too_large_gem(inp: Inputs) -> Path:
    # a format that cannot be peeked at: checked right after reading, before anything else
    inp.spatial = DATA / "lymph_sp.gem.gz"
    inp.sample.update(spatial_format="stereo_gem", bin_size=50)
    inp.mem_mb = 200
    return inp.spatial


def corrupt_lr_table(inp: Inputs) -> Path:
    inp.lr = inp.work / "lr_resource.tsv"
    inp.lr.write_text("source\ttarget\nCXCL12\tCXCR4\n")
    return inp.lr


def binary_lr_table(inp: Inputs) -> Path:
    inp.lr = inp.work / "lr_resource.tsv"
    inp.lr.write_bytes(gzip.compress(b"ligand\treceptor\n") + b"\x00\xff" * 50)
    return inp.lr


def lr_table_of_mouse(inp: Inputs) -> Path:
    inp.lr = inp.work / "lr_resource.tsv"
    load_lr_resource("consensus", "mouse").to_csv(inp.lr, sep="\t", index=False)
    return inp.lr


def own_lr_table_without_receptor(inp: Inputs) -> Path:
    # lr_resource: name the path of the user's own table, which lacks a column
    table = inp.work / "my_pairs.tsv"
    table.write_text("ligand\tpartner\nCXCL12\tCXCR4\n")
    inp.write_sheet()
    inp.write_config(lr_resource={"name": str(table)})
    return table


def _npz(inp: Inputs, **arrays: Any) -> Path:
    path = inp.work / "ligand_target.npz"
    np.savez(path, **arrays)
    return path


def corrupt_ligand_target(inp: Inputs) -> Path:
    path = inp.work / "ligand_target.npz"
    valid = _npz(
        inp,
        data=np.ones(2),
        indices=np.array([0, 1]),
        indptr=np.array([0, 1, 2]),
        shape=np.array([2, 2]),
        targets=np.array(["CXCR4", "CCR7"]),
        ligands=np.array(["CXCL12", "CCL19"]),
    )
    data = valid.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def ligand_target_of_mouse(inp: Inputs) -> Path:
    return _npz(
        inp,
        data=np.ones(2),
        indices=np.array([0, 1]),
        indptr=np.array([0, 1, 2]),
        shape=np.array([2, 2]),
        targets=np.array(["Cxcr4", "Ccr7"]),
        ligands=np.array(["Cxcl12", "Ccl19"]),
    )


def corrupt_ppi(inp: Inputs) -> Path:
    path = inp.work / "ppi_edges.parquet"
    path.write_bytes(b"PAR1 this is not a parquet file")
    return path


def ppi_of_mouse(inp: Inputs) -> Path:
    path = inp.work / "ppi_edges.parquet"
    pd.DataFrame(
        {"gene_1": ["Cxcl12", "Ccl19", "Il7"], "gene_2": ["Cxcr4", "Ccr7", "Il7r"], "weight": [0.9, 0.8, 0.95]}
    ).to_parquet(path)
    return path


def ppi_without_weight(inp: Inputs) -> Path:
    path = inp.work / "ppi_edges.parquet"
    pd.DataFrame({"gene_1": ["CXCL12"], "gene_2": ["CXCR4"]}).to_parquet(path)
    return path


# workflow cases: a real Snakemake run on the sheet/config they write (1-8 s each)


def sheet_duplicate_samples(inp: Inputs) -> Path:
    return inp.write_sheet([inp.row(), inp.row()])


def sheet_unknown_column(inp: Inputs) -> Path:
    return inp.write_sheet([inp.row(colour="blue")])


def sheet_missing_path(inp: Inputs) -> Path:
    return inp.write_sheet([inp.row(reference="nowhere/ref.h5ad")])


def config_bad_value(inp: Inputs) -> Path:
    inp.write_sheet()
    return inp.write_config(impute={"method": "magic"})


def sheet_no_rows(inp: Inputs) -> Path:
    inp.sheet.write_text("\t".join(inp.row()) + "\n")  # a header only
    return inp.sheet


def sheet_schema_error(inp: Inputs) -> Path:
    return inp.write_sheet([inp.row(), inp.row(sample="s2", species="rat")])


def config_negative_seed(inp: Inputs) -> Path:
    inp.write_sheet()
    return inp.write_config(impute={"seed": -1})


def config_mask_frac(inp: Inputs) -> Path:
    inp.write_sheet()
    return inp.write_config(model={"mask_frac": 1.5})


def config_default_off_grid(inp: Inputs) -> Path:
    inp.write_sheet()
    return inp.write_config(model={"default": [5.0, 0.75, 40]})


def download_without_hashes(inp: Inputs) -> Path:
    inp.write_sheet()
    return inp.write_config(priors={"source": "download", "download_dir": str(inp.work / "downloads")})


def workflow_log_normalised(inp: Inputs) -> Path:
    culprit = log_normalised(inp)
    inp.write_sheet()
    return culprit


def workflow_too_large(inp: Inputs) -> Path:
    inp.write_sheet()
    inp.extra_args = ["--set-resources", "preprocess:mem_mb=200"]  # read from the job's resources
    return inp.spatial


def run_workflow(inp: Inputs) -> tuple[int, str]:
    """Snakemake up to the preprocess outputs; returns the exit code and everything it said."""
    if not inp.sheet.exists():
        inp.write_sheet()
    if not inp.config_file.exists():
        inp.write_config()
    cmd = snakemake_cmd(
        inp.work, "--cores", "1", "results/s1/prepared/genes.json", *inp.extra_args, configfile=inp.config_file
    )
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    log = inp.work / "logs/s1/preprocess.log"
    return result.returncode, result.stdout + result.stderr + (log.read_text() if log.exists() else "")


@dataclass(frozen=True)
class Case:
    """One row of the table: how to build the bad input, how to run it, what the message says."""

    build: Callable[[Inputs], Path]
    match: str
    via: str = "script"  # script | function (the prior-file check) | workflow
    prior_kind: str | None = None  # for via="function"
    fix: str | None = None  # a phrase the fix must contain


CASES: dict[str, Case] = {
    "missing-file": Case(missing_file, "file does not exist", fix="sample sheet"),
    "unreadable-file": Case(unreadable_file, "is a folder, expected a file|cannot be read as an AnnData"),
    "wrong-format-visium": Case(wrong_format, "is a file, expected a folder", fix="outs/"),
    "wrong-format-gem": Case(gem_given_h5ad, "cannot be read as a text GEM file", fix="GEM"),
    "unknown-format": Case(unknown_format, "unknown spatial_format 'slideseq'", fix="h5ad, visium"),
    "corrupt-h5ad": Case(corrupt_h5ad, "cannot be read as an AnnData .h5ad file", fix="complete"),
    "truncated-gem": Case(truncated_gem, r"malformed rows \(EOFError"),
    "log-normalised": Case(log_normalised, r"non-integer values .* looks log1p-normalised", fix="raw UMI counts"),
    "negative-values": Case(negative_values, r"negative values \(min -", fix="raw UMI counts"),
    "non-integer": Case(non_integer, r"non-integer values \(e\.g\. .*\)", fix="allow_non_counts: true"),
    "nan": Case(nan_values, "1 NaN or infinite values"),
    "inf": Case(inf_values, "3 NaN or infinite values"),
    "duplicated-spots": Case(duplicated_spots, "1 duplicated observation .spot/cell. names", fix="own id"),
    "duplicated-genes": Case(duplicated_genes, "1 duplicated gene names", fix="var_names_make_unique"),
    "missing-coordinates": Case(missing_coordinates, "has no coordinates", fix="obsm['spatial']"),
    "non-numeric-coordinates": Case(text_coordinates, "is not numeric", fix="numeric"),
    "constant-coordinates": Case(constant_coordinates, r"all 60 spots have the same coordinates \(7, 7\)"),
    "cell-type-key-absent": Case(cell_type_key_absent, "has no obs column 'celltype'", fix="cell_type_key"),
    "one-type-after-qc": Case(
        one_type_after_qc, r"obs\['annotation'\] has 1 cell type\(s\) \('T_CD4'\) after QC \(50 cells"
    ),
    "k-above-cells": Case(
        k_above_cells, r"impute\.knn\.k = 100 but the reference has only 55 cells after QC", fix="impute.knn.k"
    ),
    "ensembl-ids": Case(ensembl_ids, "150 of 150 gene names are Ensembl IDs", fix="var['gene_symbols']"),
    "mouse-genes-species-human": Case(mouse_genes, "look mouse .* but species is human", fix="species: mouse"),
    "few-shared-genes": Case(
        few_shared_genes, r"share only \d+ input genes \(at least 10 needed", fix="min_shared_genes_hard"
    ),
    "unknown-gene-names": Case(
        unknown_gene_names,
        r"[01] of 150 genes are known human or mouse symbols \(e\.g\. 'GENE0'",
        fix="use gene symbols",
    ),
    "one-spot": Case(one_spot, r"only 1 spots left after QC .*at least 10 are needed"),
    "one-bin": Case(one_bin, r"only 1 spots left after QC", fix="bin_size"),
    "qc-removes-every-spot": Case(
        qc_removes_every_spot, r"only 0 spots left after QC \(60 of 60 removed", fix="min_counts_spot"
    ),
    "zero-input-genes": Case(zero_input_genes, r"the \d+ input genes .* have no counts in any of the 60 spots"),
    "no-lr-gene-expressed": Case(
        no_lr_expressed, "no gene of the LR database is expressed in the reference", fix="min_expr_frac"
    ),
    "empty-spots": Case(empty_spots, "all 60 observations have zero counts"),
    "empty-reference": Case(empty_reference, r"is empty \(0 observations"),
    "too-large-for-mem_mb": Case(
        too_large_mem_mb, r"needs an estimated .* GiB .* job may use 0\.2 GiB \(the job's mem_mb = 200\)", fix="mem_mb="
    ),
    "too-large-for-max_memory_gb": Case(
        too_large_max_memory, r"may use 0\.1 GiB \(preprocess\.max_memory_gb = 0\.1\)", fix="bin_size"
    ),
    "too-large-gem-after-reading": Case(too_large_gem, "needs an estimated", fix="bin Stereo-seq data larger"),
    "lr-table-wrong-columns": Case(
        corrupt_lr_table, r"lacks column\(s\) \['ligand', 'receptor'\]", fix="results/priors/human"
    ),
    "lr-table-unreadable": Case(
        binary_lr_table, "cannot be read as a tab-separated LR table|lacks column", fix="rebuild the priors"
    ),
    "lr-table-of-mouse": Case(
        lr_table_of_mouse, "LR genes look mouse but the sample's species is human", fix="species: mouse"
    ),
    "own-lr-table-without-receptor": Case(
        own_lr_table_without_receptor,
        r"lacks column\(s\) \['receptor'\]",
        via="workflow",
        fix="give lr_resource: name a tab-separated file",
    ),
    "ligand-target-truncated": Case(
        corrupt_ligand_target, "cannot be read as a ligand-target matrix", via="function", prior_kind="ligand_target"
    ),
    "ligand-target-of-mouse": Case(
        ligand_target_of_mouse, "ligand/target genes look mouse", via="function", prior_kind="ligand_target"
    ),
    "ppi-corrupt": Case(corrupt_ppi, "cannot be read as a PPI edge table", via="function", prior_kind="ppi"),
    "ppi-of-mouse": Case(ppi_of_mouse, "PPI genes look mouse", via="function", prior_kind="ppi"),
    "ppi-missing-column": Case(ppi_without_weight, r"lacks column\(s\) \['weight'\]", via="function", prior_kind="ppi"),
    "sheet-duplicate-samples": Case(
        sheet_duplicate_samples, r"duplicated sample name\(s\) \['s1'\]", via="workflow", fix="needs a unique `sample`"
    ),
    "sheet-unknown-column": Case(
        sheet_unknown_column, r"unknown column\(s\) \['colour'\]", via="workflow", fix="samples.schema.yaml"
    ),
    "sheet-missing-path": Case(
        sheet_missing_path,
        "column 'reference' points to .*nowhere/ref.h5ad, which does not exist",
        via="workflow",
        fix="Fix the path",
    ),
    "config-bad-value": Case(config_bad_value, "'magic' is not one of", via="workflow", fix="config.schema.yaml"),
    "sheet-no-rows": Case(
        sheet_no_rows,
        r"has no samples \(a header but no rows\)",
        via="workflow",
        fix="one tab-separated row per sample",
    ),
    "sheet-schema-error": Case(
        sheet_schema_error,
        r"row 2 \(sample 's2'\), column 'species': 'rat' is not one of",
        via="workflow",
        fix="samples.schema.yaml",
    ),
    "config-negative-seed": Case(
        config_negative_seed, r"-1 is less than the minimum of 0", via="workflow", fix="config.schema.yaml"
    ),
    "config-mask-frac": Case(
        config_mask_frac,
        r"1\.5 is greater than or equal to the maximum of 1",
        via="workflow",
        fix="config.schema.yaml",
    ),
    "config-default-off-grid": Case(
        config_default_off_grid,
        r"model: default \(5\.0, 0\.75, 40\) is not a point of the grid",
        via="workflow",
        fix="add its values to model.alphas",
    ),
    "download-without-hashes": Case(
        download_without_hashes,
        r"priors\.string\.human\.links_sha256, .*priors\.nichenet\.human\.sha256 are empty, so nothing was downloaded",
        via="workflow",
        fix="sha256sum",
    ),
    "workflow-log-normalised": Case(
        workflow_log_normalised, "looks log1p-normalised", via="workflow", fix="allow_non_counts"
    ),
    "workflow-too-large": Case(
        workflow_too_large, r"job may use 0\.2 GiB \(the job's mem_mb = 200\)", via="workflow", fix="mem_mb="
    ),
}


def _assert_nothing_written(work: Path) -> None:
    results = work / "results"
    left = [p for p in results.rglob("*") if p.is_file()] if results.exists() else []
    assert not left, f"output left behind: {left}"


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_stops_with_file_problem_and_fix(name: str, inputs: Inputs) -> None:
    case = CASES[name]
    culprit = case.build(inputs)
    if case.via == "workflow":
        code, said = run_workflow(inputs)
        assert code != 0, said[-3000:]
        assert re.search(case.match, said), said[-3000:]
        assert str(culprit) in said, f"{culprit} not named in: {said[-3000:]}"
        assert case.fix is not None and case.fix in said, said[-3000:]
        results = inputs.work / "results"
        assert not (results / "s1").exists() or not [p for p in (results / "s1").rglob("*") if p.is_file()]
        assert not list(results.rglob("*.part*")) if results.exists() else True
        return
    with pytest.raises(CommstInputError, match=case.match) as err:
        if case.via == "function":
            check_prior_file(culprit, case.prior_kind, "human")
        else:
            run_preprocess(inputs)
    message = str(err.value)
    assert str(culprit) in err.value.path, f"{culprit} not named in: {message}"
    assert message.startswith(err.value.path + ": ") and ". Fix: " in message
    if case.fix is not None:
        assert case.fix in err.value.fix, err.value.fix
    _assert_nothing_written(inputs.work)
    if case.via == "script":  # the job's log tells the same
        assert err.value.problem in (inputs.work / "logs/s1/preprocess.log").read_text()


def test_fixture_pair_passes(inputs: Inputs) -> None:
    """The control: the unedited inputs go through, so each case fails for its own reason."""
    run_preprocess(inputs)
    for out in OUTPUTS:
        assert (inputs.work / "results/s1" / out).is_file()
    assert "memory estimate: preprocess" in (inputs.work / "logs/s1/preprocess.log").read_text()


def test_allow_non_counts_accepts_non_integer_knowingly(inputs: Inputs) -> None:
    non_integer(inputs)
    inputs.preprocess["allow_non_counts"] = True
    run_preprocess(inputs)
    assert (inputs.work / "results/s1/prepared/genes.json").is_file()
    log = (inputs.work / "logs/s1/preprocess.log").read_text()
    assert "non-integer values" in log and "using it anyway" in log


def test_prior_check_accepts_real_prior_files(tmp_path: Path) -> None:
    """The prior-file check passes the artefacts the priors rules write (bundled builders)."""
    from commst.priors import build_priors

    manifest = build_priors("human", tmp_path, lr_resource="consensus")
    check_prior_file(tmp_path / "lr.tsv.gz", "lr", "human")
    check_prior_file(tmp_path / "ppi_edges.parquet", "ppi", "human")
    check_prior_file(tmp_path / "ligand_target.npz", "ligand_target", "human")
    assert manifest
