"""Saved files of the model hold tensors and plain data only: conversion and safe loading."""

from __future__ import annotations

import os
import pickle
from typing import Any

import numpy as np
import torch


def to_tensors(value: Any) -> Any:
    """numpy arrays → tensors, recursively: saved files hold only what ``weights_only=True`` loads."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, dict):
        return {k: to_tensors(v) for k, v in value.items()}
    return value


def to_numpy(value: Any) -> Any:
    """Inverse of :func:`to_tensors` for the entries that were numpy arrays."""
    if isinstance(value, torch.Tensor):
        return value.numpy()
    if isinstance(value, dict):
        return {k: to_numpy(v) for k, v in value.items()}
    return value


def safe_load(path: str | os.PathLike[str], map_location: Any = "cpu") -> Any:
    """``torch.load`` that runs no code: tensors and plain Python data only (``weights_only=True``)."""
    return torch.load(path, map_location=map_location, weights_only=True)


def unreadable(err: Exception) -> str:
    """Why a torch file could not be loaded safely, without torch's advice to load it unsafely."""
    if isinstance(err, pickle.UnpicklingError):
        return (
            "it holds objects other than tensors and plain data (a pickle that could run code), which are never loaded"
        )
    first = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
    return f"it cannot be read ({type(err).__name__}: {first})"
