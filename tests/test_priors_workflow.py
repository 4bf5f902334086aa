"""The priors rules end to end with `priors: source: download`, from local file:// URLs.

Small official-format files (STRING protein.links/info, a NicheNet .rds matrix) are written to
a local folder and named by file:// URLs (accepted only with ``$COMMST_ALLOW_FILE_URLS=1``, which
these runs set; the workflow otherwise takes https:// only); the workflow downloads them with
checksum verification, converts them and writes the manifest. (The offline `bundled` path is
covered by test_priors_networks.py; its full build takes about a minute per species, too long for a unit test.)
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import commst.priors as P
from commst.priors.download import ENV_ALLOW_FILE

REPO = Path(__file__).resolve().parents[1]


def _write_rds(path: Path, values: np.ndarray, rows: list[str], cols: list[str]) -> None:
    from rdata.conversion.to_r import ConverterFromPythonToR, build_r_object
    from rdata.unparser import unparse_file

    conv = ConverterFromPythonToR()
    obj = conv.convert_to_r_object(values.ravel(order="F"))
    attrs = conv.convert_to_r_attributes(
        {"dim": np.array(values.shape, dtype=np.int32), "dimnames": [np.array(rows), np.array(cols)]}
    )
    rd = dataclasses.replace(
        conv.convert_to_r_data(values),
        object=build_r_object(obj.info.type, value=obj.value, attributes=attrs),
    )
    unparse_file(path, rd, file_format="xdr", file_type="rds")


def _snakemake(work: Path, config: dict, target: str) -> subprocess.CompletedProcess:
    """Run the repository's Snakefile in ``work`` with ``config`` (sample sheet of the repository)."""
    config = {**config, "samples": str(REPO / "config" / "samples.tsv")}
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        target,
        "--cores",
        "1",
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(work),
        "--configfile",
        str(work / "config.yaml"),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), ENV_ALLOW_FILE: "1"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture()
def served(tmp_path: Path):
    www = tmp_path / "www"
    www.mkdir()
    with gzip.open(www / "links.txt.gz", "wt") as fh:
        fh.write(
            "protein1 protein2 combined_score\n"
            "9606.A 9606.B 950\n9606.B 9606.A 950\n9606.A 9606.C 500\n9606.B 9606.C 800\n"
        )
    with gzip.open(www / "info.txt.gz", "wt") as fh:
        fh.write(
            "#string_protein_id\tpreferred_name\tprotein_size\tannotation\n9606.A\tTGFB1\t1\t.\n9606.B\tTGFBR2\t1\t.\n9606.C\tCTGF\t1\t.\n"
        )
    _write_rds(www / "lt.rds", np.array([[0.3, 0.0], [0.1, 0.2]]), ["SERPINE1", "CTGF"], ["TGFB1", "IFNG"])
    sha = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in www.iterdir()}
    return www.as_uri(), sha


def test_download_rules_end_to_end(served, tmp_path: Path) -> None:
    url, sha = served
    work = tmp_path / "work"
    (work / "results/priors/human").mkdir(parents=True)
    # the LR table comes from rule lr_resource (preprocess.smk); provide it as a source file here
    P.load_lr_resource("consensus", "human").to_csv(
        work / "results/priors/human/lr_resource.tsv", sep="\t", index=False
    )
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["priors"].update(
        {
            "source": "download",
            "download_dir": str(work / "downloads"),
            "download": {"retries": 1, "timeout": 10, "rule_retries": 0},
        }
    )
    config["priors"]["string"]["min_score"] = 0.7
    config["priors"]["string"]["human"] = {
        "links_url": f"{url}/links.txt.gz",
        "links_sha256": sha["links.txt.gz"],
        "info_url": f"{url}/info.txt.gz",
        "info_sha256": sha["info.txt.gz"],
    }
    config["priors"]["nichenet"]["human"] = {"url": f"{url}/lt.rds", "sha256": sha["lt.rds"]}
    run = _snakemake(work, config, "results/priors/human/manifest.json")
    assert run.returncode == 0, run.stderr[-3000:]

    g = P.ppi_graph(["TGFB1", "TGFBR2", "CCN2"], "human", path=work / "results/priors/human/ppi_edges.parquet")
    assert g[0, 1] == pytest.approx(0.95) and g[1, 2] == pytest.approx(0.8) and g[0, 2] == 0  # 0.5 < min_score
    lt = P.ligand_target_matrix("human", path=work / "results/priors/human/ligand_target.npz")
    assert list(lt.index) == ["SERPINE1", "CCN2"] and lt.loc["CCN2", "IFNG"] == pytest.approx(0.2)
    manifest = json.loads((work / "results/priors/human/manifest.json").read_text())
    art = manifest["artefacts"]
    assert manifest["source"] == "download"
    assert art["ligand_target"]["input_sha256"] == sha["lt.rds"] and art["ligand_target"]["url"].endswith("/lt.rds")
    assert art["ppi"]["input_sha256"] == {"links": sha["links.txt.gz"], "info": sha["info.txt.gz"]}
    assert len(art["lr"]["sha256"]) == 64 and art["lr"]["source"] == "consensus"
    for name in ("download_string", "download_nichenet", "ppi", "ligand_target", "manifest"):
        assert (work / f"logs/priors/human/{name}.log").is_file()
        assert (work / f"benchmarks/priors/human/{name}.tsv").is_file()

    # a cached download that changed since is not used: the rule reading it re-checks its sha256
    links = work / "downloads/human/string_links.txt.gz"
    with gzip.open(links, "wt") as fh:
        fh.write("protein1 protein2 combined_score\n9606.A 9606.C 990\n")
    rerun = _snakemake(work, config, "results/priors/human/manifest.json")
    log = (work / "logs/priors/human/ppi.log").read_text()
    assert rerun.returncode != 0
    assert f"the cached file {links} has sha256" in log and f"not the configured {sha['links.txt.gz']}" in log
    assert f"delete {links}" in log


def test_download_rule_fails_cleanly_on_checksum_mismatch(served, tmp_path: Path) -> None:
    url, _ = served
    work = tmp_path / "work"
    work.mkdir()
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["priors"].update(
        {
            "source": "download",
            "download_dir": str(work / "downloads"),
            "download": {"retries": 0, "timeout": 10, "rule_retries": 0},
        }
    )
    config["priors"]["nichenet"]["human"] = {"url": f"{url}/lt.rds", "sha256": "0" * 64}
    config["priors"]["string"]["human"] = {k: "f" * 64 for k in ("links_sha256", "info_sha256")}
    config["priors"]["string"]["human"].update(links_url=f"{url}/links.txt.gz", info_url=f"{url}/info.txt.gz")
    run = _snakemake(work, config, str(work / "downloads/human/ligand_target_matrix.rds"))
    assert run.returncode != 0
    assert "checksum mismatch" in (work / "logs/priors/human/download_nichenet.log").read_text()
    assert not (work / "downloads/human/ligand_target_matrix.rds").exists()
    folder = work / "downloads/human"
    assert not folder.exists() or list(folder.iterdir()) == []  # no partial or temporary file
