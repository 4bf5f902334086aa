"""The ligand → target matrix (NicheNet orientation: targets × ligands): the artefact and the official reader."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from commst._utils import atomic_path

from ._paths import CommstPriorsError


@dataclass
class LigandTargetMatrix:
    """Sparse ligand → target regulatory potential (NicheNet orientation: targets × ligands).

    Attributes
    ----------
    matrix
        ``len(targets) × len(ligands)`` CSC matrix of regulatory potential scores (≥ 0).
    targets, ligands
        Row and column gene symbols.
    meta
        Provenance and build parameters (written to the artefact and ``manifest.json``).
    """

    matrix: sp.csc_matrix
    targets: list[str]
    ligands: list[str]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_frame(self, *, ligands: Sequence[str] | None = None, targets: Sequence[str] | None = None) -> pd.DataFrame:
        """Dense targets × ligands DataFrame, optionally subset (missing genes give zero rows/columns)."""
        lig = list(self.ligands) if ligands is None else [str(g) for g in ligands]
        tgt = list(self.targets) if targets is None else [str(g) for g in targets]
        li = {g: i for i, g in enumerate(self.ligands)}
        ti = {g: i for i, g in enumerate(self.targets)}
        out = np.zeros((len(tgt), len(lig)), dtype=np.float32)
        cols = [(k, li[g]) for k, g in enumerate(lig) if g in li]
        rows = [(k, ti[g]) for k, g in enumerate(tgt) if g in ti]
        if cols and rows:
            rk, rsrc = zip(*rows)
            ck, csrc = zip(*cols)
            sub = self.matrix[list(rsrc)][:, list(csrc)].toarray()
            out[np.ix_(rk, ck)] = sub
        return pd.DataFrame(out, index=pd.Index(tgt, name="target"), columns=pd.Index(lig, name="ligand"))

    def percentile_rank(self, ligand: str, target: str) -> float:
        """Percentile (0–100, 100 = top) of ``target`` among all targets for ``ligand``; ties share the mean rank."""
        j = self.ligands.index(ligand)
        col = self.matrix[:, j].toarray().ravel()
        ranks = pd.Series(col).rank(method="average", pct=True).to_numpy()
        return float(100.0 * ranks[self.targets.index(target)])

    def save(self, path: str | os.PathLike) -> Path:
        """Write as ``.npz`` (matrix + gene lists + JSON meta) atomically."""
        path = Path(path)
        m = self.matrix.tocsc()
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                data=m.data.astype(np.float32),
                indices=m.indices,
                indptr=m.indptr,
                shape=np.asarray(m.shape),
                targets=np.asarray(self.targets, dtype=str),
                ligands=np.asarray(self.ligands, dtype=str),
                meta=np.asarray(json.dumps(self.meta, default=str)),
            )
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> LigandTargetMatrix:
        """Read an artefact written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise CommstPriorsError(
                f"ligand-target artefact {path} does not exist: build it with the priors_ligand_target rule"
            )
        with np.load(path, allow_pickle=False) as z:
            m = sp.csc_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
            return cls(m, [str(x) for x in z["targets"]], [str(x) for x in z["ligands"]], json.loads(str(z["meta"])))


def read_nichenet_rds(path: str | os.PathLike) -> LigandTargetMatrix:
    """Read NicheNet's official ``ligand_target_matrix*.rds`` (targets × ligands) with ``rdata``.

    Raises a :class:`CommstPriorsError` naming the file when it is not a numeric matrix with
    row and column names.
    """
    import rdata

    path = Path(path)
    obj = rdata.read_rds(path)
    try:
        values = np.asarray(obj.values, dtype=np.float32)
        targets = [str(x) for x in obj.coords[obj.dims[0]].values]
        ligands = [str(x) for x in obj.coords[obj.dims[1]].values]
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as err:
        raise CommstPriorsError(
            f"{path} is not a NicheNet ligand-target matrix (expected a numeric matrix with dimnames, "
            f"got {type(obj).__name__}): "
            "download ligand_target_matrix_nsga2r_final(.rds / _mouse.rds) from Zenodo record 7074291"
        ) from err
    values[~np.isfinite(values)] = 0
    return LigandTargetMatrix(
        sp.csc_matrix(values), targets, ligands, {"source": "NicheNet official", "file": str(path)}
    )
