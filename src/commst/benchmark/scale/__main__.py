"""Command line of the scale benchmark: ``python -m commst.benchmark.scale {run,synthesize} ...``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import anndata as ad

from commst.benchmark.scale.run import run_method
from commst.benchmark.scale.synth import synthesize_pair, write_pair


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m commst.benchmark.scale", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train + impute with one method on a prepared pair; write a JSON record")
    run.add_argument("--method", required=True)
    run.add_argument("--spatial", required=True)
    run.add_argument("--reference", required=True)
    run.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    run.add_argument("--out", required=True, help="JSON record")
    run.add_argument("--params", default="{}", help="keyword arguments of the method (JSON object)")
    run.add_argument("--extra-method", default=None, help="module:function of an unregistered method")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--threads", type=int, default=None)
    syn = sub.add_parser("synthesize", help="make a larger (or smaller) pair from a prepared pair")
    syn.add_argument("--spatial", required=True)
    syn.add_argument("--reference", required=True)
    syn.add_argument("--n-spots", type=int, required=True)
    syn.add_argument("--n-cells", type=int, required=True)
    syn.add_argument("--seed", type=int, default=0)
    syn.add_argument("--out-dir", required=True, help="writes spatial.h5ad and reference.h5ad there")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (1 when the method failed)."""
    from commst._utils import write_json

    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "synthesize":
        spatial, reference = synthesize_pair(
            ad.read_h5ad(args.spatial),
            ad.read_h5ad(args.reference),
            n_spots=args.n_spots,
            n_cells=args.n_cells,
            seed=args.seed,
        )
        out = Path(args.out_dir)
        write_pair(spatial, reference, out / "spatial.h5ad", out / "reference.h5ad")
        return 0
    params = json.loads(args.params)
    if not isinstance(params, dict):
        raise SystemExit(f"--params must be a JSON object, got {args.params!r}")
    record = run_method(
        args.method,
        args.spatial,
        args.reference,
        device=args.device,
        params=params,
        extra_method=args.extra_method,
        seed=args.seed,
        threads=args.threads,
    )
    write_json(record, args.out)
    if record["status"] != "ok":
        print(record.get("traceback", ""), file=sys.stderr)
        print(f"{args.method} failed: {record['error']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
