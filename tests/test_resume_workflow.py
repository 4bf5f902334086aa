"""A training job killed mid-run resumes on rerun and gives the same bytes as an uninterrupted run.

The uninterrupted run has one core (``--cores 1``), the killed and resumed one two: the model's
torch threads are fixed (``model.num_threads``, else 2), so --cores changes no byte either.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import yaml
from conftest import demo_workdir, snakemake_cmd

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

#: Short training that still spans several epochs (several checkpoints) on 200 demo spots.
MODEL = {"epochs": 8, "pretrain_epochs": 2, "min_steps_per_epoch": 15, "patience": 100}


def _workdir(path: Path) -> Path:
    work = demo_workdir(path, 200, n_perms=10)
    config = yaml.safe_load((work / "config.yaml").read_text())
    config["impute"]["method"] = "commst"
    config["model"].update(MODEL)
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    return work


def _cmd(work: Path, cores: int = 2) -> list[str]:
    return snakemake_cmd(work, "--cores", str(cores), "results/mini/imputed.h5ad")


def _run(work: Path, *extra: str, cores: int = 2) -> None:
    result = subprocess.run([*_cmd(work, cores), *extra], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]


def test_killed_training_resumes_to_the_same_result(tmp_path):
    reference_run = _workdir(tmp_path / "uninterrupted")
    _run(reference_run, cores=1)

    work = _workdir(tmp_path / "killed")
    checkpoint = work / "results/mini/model/checkpoints/last.pt"
    proc = subprocess.Popen(_cmd(work), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 600
        writes: set[int] = set()  # the checkpoint is rewritten after every epoch
        # wait for the third epoch's checkpoint: training is then under way, not finished
        while time.time() < deadline and proc.poll() is None and len(writes) < 3:
            if checkpoint.exists():
                writes.add(checkpoint.stat().st_mtime_ns)
            time.sleep(0.05)
        assert proc.poll() is None, "training finished before it could be killed; lengthen MODEL"
        os.killpg(proc.pid, signal.SIGKILL)  # the whole job: Snakemake and the training script
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert checkpoint.exists()
    assert not (work / "results/mini/model/commst.pt").exists(), "a killed job must not leave its output"

    # as after any kill: release Snakemake's lock, then rerun; the incomplete train job reruns
    # and training resumes from the checkpoint
    _run(work, "--unlock")
    _run(work, "--rerun-incomplete")
    log = (work / "logs/mini/train.log").read_text()
    assert "resumed from" in log, log[-2000:]

    a = ad.read_h5ad(reference_run / "results/mini/imputed.h5ad")
    b = ad.read_h5ad(work / "results/mini/imputed.h5ad")
    assert np.asarray(a.X).tobytes() == np.asarray(b.X).tobytes()
    for layer in ("imputed_counts", "uncertainty", "guarded"):
        assert np.asarray(a.layers[layer]).tobytes() == np.asarray(b.layers[layer]).tobytes(), layer
