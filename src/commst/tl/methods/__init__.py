"""The imputation methods: one module each, one :class:`MethodMeta` registry entry each.

============ ========================================================================
``knn``      mean of the k nearest reference cells in a shared PCA space
``commst``   the CommST model (:mod:`commst.model`): matched single-cell mixture + PV-kNN
``raw``      no imputation (observed counts, 0 where the gene was not measured)
``spage``    SpaGE: PRECISE domain adaptation + weighted kNN (own implementation)
``tangram``  Tangram, cells mode (tangram-sc)
``gimvi``    gimVI (scvi-tools)
``hvg_ae``   generic denoising autoencoder over highly variable genes (torch)
============ ========================================================================

Every function has the signature
``impute_<name>(spatial, reference, *, targets, input_genes, seed=0, **params) -> ImputationResult``.
A new method is one module here plus one line in :data:`METHODS`; the workflow's
``impute: method:``, the benchmark, the scale runs and the memory check then know it.
Importing this package loads no method (each is imported on first use).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._meta import DeviceParam, MemoryModel, MethodMeta, import_target

#: knn: per spot/cell × input gene, the dense float64 log-profile, its z-score (two
#: temporaries) and the PCA transform (4 × 8 bytes); per spot × LR target the result (counts,
#: uncertainty float32, guard) and the output layers (float32) — the neighbour statistics run in
#: spot chunks (knn.CHUNK_SPOTS), so 40 bytes, measured before chunking, now over-estimates
#: (conservative; not re-measured); 0.5 GiB of interpreter and libraries (measured ≈ 0.33 GB).
KNN_MEMORY = MemoryModel(base_mib=512, csr_copies=2, input_bytes=32, target_bytes=40)
#: commst (numpy + numba kernels, no torch): the dense log-profiles of spots and cells over
#: the input genes and their z-scores while the matching space is built (float64, ≈ 32 bytes per
#: observation × input gene); per spot × LR target only the outputs (counts, expected log, SD,
#: interval, P(0): float32, and the guard), ≈ 25 bytes, rounded up to 32 for the chunk
#: temporaries — neighbours, weights and predictions run in ``predict_chunk`` spots at a time and
#: no spots × targets float64 array exists (issue 15). Measured: 4050 MiB peak at 10⁵
#: spots × 10⁵ cells, 839 LR targets, 516 inputs, of which 1.9 GiB the outputs and 0.8 GiB the
#: loaded pair (formula 7.6 GB: conservative).
COMMST_MEMORY = MemoryModel(base_mib=512, csr_copies=3, input_bytes=32, target_bytes=32)
#: Methods without coefficients of their own are estimated like knn (not measured for them).
BORROWED_MEMORY = MemoryModel(base_mib=512, csr_copies=2, input_bytes=32, target_bytes=40, measured=False)

_TANGRAM = {"num_epochs": 1000, "learning_rate": 0.1, "density_prior": "rna_count_based", "device": "cpu"}
_HVG_AE = {
    "n_hvg": 2000,
    "hidden": 256,
    "latent": 32,
    "dropout": 0.2,
    "epochs": 100,
    "batch_size": 128,
    "lr": 1e-3,
    "device": "cpu",
}

#: The registered methods, one line each.
METHODS: tuple[MethodMeta, ...] = (
    MethodMeta("knn", "commst.tl.methods.knn:impute_knn", defaults={"k": 20, "n_pcs": 30, "metric": "cosine"}, neighbours="k", memory=KNN_MEMORY),
    MethodMeta("commst", "commst.tl.methods.commst:impute_commst", config_section="model", baseline=False, memory=COMMST_MEMORY),
    MethodMeta("raw", "commst.tl.methods.raw:impute_raw"),
    MethodMeta("spage", "commst.tl.methods.spage:impute_spage", defaults={"n_pv": None, "k": 50, "min_cosine": 0.3}, reference="Abdelaal et al. 2020, Nucleic Acids Res 48:e107"),
    MethodMeta("tangram", "commst.tl.methods.tangram:impute_tangram", env="tangram", defaults=_TANGRAM, device=DeviceParam("device", cuda="cuda:0"), reference="Biancalani et al. 2021, Nat Methods 18:1352"),
    MethodMeta("gimvi", "commst.tl.methods.gimvi:impute_gimvi", env="gimvi", defaults={"max_epochs": 200, "n_latent": 10, "accelerator": "auto", "batch_size": 128, "early_stopping": True}, device=DeviceParam("accelerator", cuda="gpu"), reference="Lopez et al. 2019, arXiv:1905.02269"),
    MethodMeta("hvg_ae", "commst.tl.methods.hvg_ae:impute_hvg_ae", defaults=_HVG_AE, device=DeviceParam("device")),
)  # fmt: skip

#: Name → entry of every registered method.
REGISTRY: dict[str, MethodMeta] = {meta.name: meta for meta in METHODS}

#: The methods CommST is compared with.
BASELINES: tuple[str, ...] = tuple(meta.name for meta in METHODS if meta.baseline)


def get_meta(name: str) -> MethodMeta:
    """The registry entry of ``name``.

    Raises
    ------
    ValueError
        ``name`` is not registered (the message lists the registered methods).
    """
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown imputation method {name!r}; registered methods: {sorted(REGISTRY)}") from None


def get_method(name: str) -> Callable[..., Any]:
    """The imputation function registered as ``name`` (imported on first use)."""
    return get_meta(name).function()


def memory_model(name: str) -> MemoryModel:
    """The memory model of ``name``: its own, else the one borrowed from knn (unknown names too)."""
    meta = REGISTRY.get(name)
    return meta.memory if meta is not None and meta.memory is not None else BORROWED_MEMORY


__all__ = [
    "BASELINES",
    "METHODS",
    "REGISTRY",
    "DeviceParam",
    "MemoryModel",
    "MethodMeta",
    "get_meta",
    "import_target",
    "get_method",
    "memory_model",
]
