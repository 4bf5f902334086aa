"""Threads of the model's compiled loops: BLAS held to one thread while they run.

The search, EM, sparse products and predictive are numba loops over spots in parallel
(``NUMBA_NUM_THREADS``, default all cores). numpy's OpenBLAS keeps its own threads spinning
for a while after each call; interleaved with the compiled loops they compete for the same
cores. Measured on 2 cores (8192 spots, 36 clusters of 250 cells, 209 dimensions): offering a
cluster's similarities to the spots' heaps took 26–29 ns per value right after a 2-thread
BLAS product and 5 ns with BLAS on one thread; the fused clustered search 22 vs 14 ns per
spot–cell pair. The few BLAS products inside these phases are small (spots × cluster
centres) or run on one core (an exact search's chunk).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits


@contextmanager
def compiled_phase() -> Iterator[None]:
    """Run the enclosed work with BLAS on one thread (the compiled loops take the cores)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield
