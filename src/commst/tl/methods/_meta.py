"""What the package knows about an imputation method: :class:`MethodMeta` and its parts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import import_module
from types import MappingProxyType
from typing import Any


def import_target(target: str) -> Callable[..., Any]:
    """The object ``"package.module:name"`` names (imported now)."""
    module, _, name = target.partition(":")
    if not name:
        raise ValueError(f"{target!r} must read 'package.module:function'")
    return getattr(import_module(module), name)


@dataclass(frozen=True)
class DeviceParam:
    """How a method is put on a device: the keyword and its value for each device.

    Attributes
    ----------
    name
        Keyword argument of the method (``device``, ``accelerator``).
    cpu, cuda
        Its value for the CPU and for a CUDA GPU.
    """

    name: str
    cpu: str = "cpu"
    cuda: str = "cuda"

    def kwargs(self, device: str) -> dict[str, str]:
        """``{name: value}`` that puts the method on ``device`` (``cpu`` or ``cuda``)."""
        if device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
        return {self.name: self.cpu if device == "cpu" else self.cuda}


@dataclass(frozen=True)
class MemoryModel:
    """Peak memory of a method's impute job as a formula in the sizes of the pair.

    With ``S``/``C`` spots/cells, ``I`` input genes, ``T`` LR targets and ``csr`` the bytes of
    one CSR copy of both count matrices::

        impute = base + csr_copies × csr + input_bytes × I × (S + C) + target_bytes × T × S
                 + dense_reference_bytes × min(C × I, dense_reference_cap) + chunk_bytes × chunk_rows × I

    Used by :func:`commst.validate.estimate_memory` (the check of rule preprocess).

    Attributes
    ----------
    base_mib
        Resident memory of the process before any data (interpreter and libraries), MiB.
    csr_copies
        CSR copies of the counts the job holds.
    input_bytes
        Bytes per observation × input gene (dense arrays over the input genes).
    target_bytes
        Bytes per spot × LR target (dense output arrays).
    dense_reference_bytes, dense_reference_cap
        Bytes per reference cell × input gene densified at once, up to ``cap`` entries.
    chunk_bytes, chunk_rows
        Bytes per row × input gene of a chunk of ``chunk_rows`` rows processed at once.
    measured
        The coefficients were measured for this method (``False``: borrowed from another).
    """

    base_mib: int
    csr_copies: int
    input_bytes: int = 0
    target_bytes: int = 0
    dense_reference_bytes: int = 0
    dense_reference_cap: int = 0
    chunk_bytes: int = 0
    chunk_rows: int = 0
    measured: bool = True

    @property
    def base_bytes(self) -> int:
        """:attr:`base_mib` in bytes."""
        return self.base_mib * 2**20

    def impute_bytes(self, *, n_spots: int, n_cells: int, n_input: int, n_targets: int, csr_bytes: int) -> int:
        """Estimated peak of the impute job (bytes) for a pair of these sizes."""
        return int(
            self.base_bytes
            + self.csr_copies * csr_bytes
            + self.input_bytes * n_input * (n_spots + n_cells)
            + self.dense_reference_bytes * min(n_cells * n_input, self.dense_reference_cap)
            + self.chunk_bytes * self.chunk_rows * n_input
            + self.target_bytes * n_targets * n_spots
        )


@dataclass(frozen=True)
class MethodMeta:
    """Everything about one imputation method, in one place (like liana's ``MethodMeta``).

    The workflow (``workflow/rules/common.smk``: env, params), the benchmark and its
    scale runs (device keyword), the memory check of preprocess and the config schema's
    ``impute: method:`` values all read these entries.

    Attributes
    ----------
    name
        The method's name in ``impute: method:``, ``benchmark: methods:`` and ``scale: methods:``.
    fun
        ``"module:function"`` of its imputation function, imported on first use (so heavy
        dependencies load only when the method runs). Signature:
        ``f(spatial, reference, *, targets, input_genes, seed=0, **params) -> ImputationResult``.
    env
        Conda env of its jobs: ``envs/<env>.yaml``.
    defaults
        Its keyword arguments and their defaults: the config section ``config_section`` of the
        schema carries the same (``tests/test_methods.py`` checks both against the function).
    config_section
        Dotted config key of its settings (default ``impute.<name>``).
    device
        How to put it on a GPU (``None``: CPU only).
    memory
        Its impute job's memory model.
    baseline
        A peer or a simpler method that CommST is compared with.
    neighbours
        Its keyword for reference neighbours per spot, checked to be below the number of
        reference cells (``None``: it has none, or caps it itself).
    reference
        Where the method comes from.
    """

    name: str
    fun: str
    env: str = "model"
    defaults: Mapping[str, Any] = field(default_factory=dict)
    config_section: str = ""
    device: DeviceParam | None = None
    memory: MemoryModel | None = None
    baseline: bool = True
    neighbours: str | None = None
    reference: str = ""

    def __post_init__(self) -> None:
        if ":" not in self.fun:
            raise ValueError(f"method {self.name!r}: fun {self.fun!r} must read 'package.module:function'")
        if not self.config_section:
            object.__setattr__(self, "config_section", f"impute.{self.name}")
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))

    def function(self) -> Callable[..., Any]:
        """The imputation function (imported now)."""
        return import_target(self.fun)

    def device_kwargs(self, device: str) -> dict[str, str]:
        """Keyword arguments that put the method on ``device`` (``cpu`` or ``cuda``).

        Raises
        ------
        ValueError
            ``device='cuda'`` for a method without a GPU implementation.
        """
        if self.device is not None:
            return self.device.kwargs(device)
        if device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
        if device == "cuda":
            raise ValueError(f"method {self.name!r} has no GPU implementation")
        return {}
