"""Shared fixtures: paths of the repository and the bundled demo data."""

from __future__ import annotations

import os
from pathlib import Path

import anndata as ad
import pytest

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
