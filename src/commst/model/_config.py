"""Settings of the CommST model (one source of defaults; the config schema's ``model:`` mirrors them)."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Any, Literal

#: One setting of the selection grid: ``(alpha, beta, k_within)``.
Setting = tuple[float, float, int]


@dataclass
class CommSTConfig:
    """Every setting of the CommST model, with its default.

    A spot's prediction is ``beta × mixture + (1 − beta) × knn`` (:mod:`commst.model`); the
    grid ``alphas × betas × k_withins`` is searched per run on masked spot input genes and the
    default setting is kept unless another beats it there by more than ``select_delta``.

    Attributes
    ----------
    alphas
        Dirichlet prior strengths (pseudo-counts toward the mean group weights) searched.
    betas
        Weights of the matched single-cell mixture against the global PV-kNN mean searched
        (0 = kNN only, 1 = mixture only).
    k_withins
        Matched single cells per reference cell type searched (capped by the type's size).
    default
        ``(alpha, beta, k_within)`` kept unless another grid point wins by ``select_delta``.
    select_delta
        Margin (median held-out PCC) another setting needs to replace the default.
    select
        ``False``: use ``default`` without the selection grid (the mask rounds still run:
        dispersion, reliability and the quality table come from them).
    neighbourhood
        ``'per_type'``: each type's ``k_within`` nearest cells of that type; ``'global'``: the
        spot's ``k_global`` nearest cells grouped by type.
    k_global
        Size of the global neighbourhood of ``neighbourhood='global'``.
    max_type_share
        At most this share of a type's cells in one matched group (default 0.75: a group is
        never a whole type, so no prediction is a type average, even for types smaller than
        ``k_within``); 1 lets such a type be matched whole (its pooled profile is then the
        type's average: a deconvolution, measured 0.035 better on the lymph node, README).
    k_knn
        Neighbours of the global PV-kNN component (SpaGE's 50).
    n_iter, n_iter_map
        EM iterations of the maximum-likelihood weights, then of the MAP weights (warm start).
    thin
        Thin reference cells deeper than the matching spot quantile before matching.
    lr_weighting
        Weight input genes in the likelihood by how much of their reference variation the
        LR targets' principal components explain.
    n_pv, min_cosine
        SpaGE/PRECISE principal vectors (``None``: half the inputs when > 50, else all) and
        the cosine similarity below which a principal vector is dropped.
    mask_frac, mask_rounds, max_select_spots
        The selection's masked rounds: share of input genes hidden per round, rounds, spots.
    max_baseline_spots
        The quality table's baseline (``knn`` on the same masked genes) is scored on at most
        this many of the rounds' spots (a random subset; its PCC per gene needs no more).
    interval
        Central probability of ``layers['lo']`` / ``layers['hi']``.
    guard_p
        ``layers['guarded']`` flags values with predictive P(0) at least this.
    chunk
        Spots per chunk of the mixture's EM (bounds memory: ``chunk × types × input genes``).
    predict_chunk
        Spots per chunk of the neighbour search and the prediction of all spots (bounds memory).
    search, n_probe, cluster_cells
        Nearest-cell search (:mod:`commst.model._search`): ``'exact'``, ``'clustered'`` (each type
        larger than ``n_probe × cluster_cells`` in k-means clusters of about ``cluster_cells``
        cells, a spot compared with its ``n_probe`` nearest clusters of the type) or ``'auto'``
        (exact up to 2·10^8 spots × cells).
    """

    alphas: tuple[float, ...] = (0.0, 10.0, 30.0, 100.0)
    betas: tuple[float, ...] = (0.0, 0.5, 0.75, 1.0)
    k_withins: tuple[int, ...] = (40,)
    default: tuple[float, float, int] = (10.0, 0.75, 40)
    select_delta: float = 0.005
    select: bool = True
    neighbourhood: Literal["per_type", "global"] = "per_type"
    k_global: int = 200
    max_type_share: float = 0.75
    k_knn: int = 50
    n_iter: int = 50
    n_iter_map: int = 30
    thin: bool = True
    lr_weighting: bool = False
    n_pv: int | None = None
    min_cosine: float = 0.3
    mask_frac: float = 0.2
    mask_rounds: int = 3
    max_select_spots: int = 5000
    max_baseline_spots: int = 2000
    interval: float = 0.9
    guard_p: float = 0.9
    chunk: int = 512
    predict_chunk: int = 2048
    search: Literal["auto", "exact", "clustered"] = "auto"
    n_probe: int = 4
    cluster_cells: int = 250

    def __post_init__(self) -> None:
        self.alphas = tuple(float(a) for a in self.alphas)
        self.betas = tuple(float(b) for b in self.betas)
        self.k_withins = tuple(int(k) for k in self.k_withins)
        a, b, k = self.default
        self.default = (float(a), float(b), int(k))
        if self.search not in ("auto", "exact", "clustered"):
            raise ValueError(f"search must be 'auto', 'exact' or 'clustered', got {self.search!r}")
        if self.neighbourhood not in ("per_type", "global"):
            raise ValueError(f"neighbourhood must be 'per_type' or 'global', got {self.neighbourhood!r}")
        if any(not 0 <= b <= 1 for b in self.betas):
            raise ValueError(f"betas must lie in [0, 1], got {self.betas}")
        if min(self.alphas) < 0 or min(self.k_withins) < 1:
            raise ValueError("alphas must be >= 0 and k_withins >= 1")
        if not 0 < self.max_type_share <= 1:
            raise ValueError(f"max_type_share must lie in (0, 1], got {self.max_type_share}")
        if not 0 < self.mask_frac < 1 or self.mask_rounds < 1:
            raise ValueError("mask_frac must lie in (0, 1) and mask_rounds be >= 1")
        if self.default not in self.grid():
            raise ValueError(f"default {self.default} is not a point of the grid; add its values to the grids")

    def grid(self) -> list[Setting]:
        """The settings searched: every ``(alpha, beta, k_within)`` (one kNN-only point)."""
        out: list[Setting] = []
        for a, b, k in itertools.product(self.alphas, self.betas, self.k_withins):
            if b == 0 and (a != self.alphas[0] or k != self.k_withins[0]):
                continue  # kNN only: alpha and k_within do not matter
            out.append((a, b, k))
        if self.default not in out and self.default[1] == 0:
            out.append(self.default)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain values (lists for the grids)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> CommSTConfig:
        """Settings from a mapping (the workflow's ``model:`` section); unknown keys are an error."""
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown CommST model settings {unknown}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    def replace(self, **changes: Any) -> CommSTConfig:
        """A copy with ``changes`` applied (validated like a new config)."""
        return CommSTConfig.from_dict({**dataclasses.asdict(self), **changes})
