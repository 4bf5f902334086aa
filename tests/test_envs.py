"""Per-rule conda envs stay honest, and the workflow stays lint- and format-clean."""

from __future__ import annotations

import ast
import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
ENVS = sorted((REPO / "envs").glob("*.yaml"))
#: conda package name → pip distribution name, where they differ.
CONDA_TO_PIP = {"pytorch": "torch", "matplotlib-base": "matplotlib", "pyyaml": "PyYAML"}
#: import name → pip distribution name, where they differ.
IMPORT_TO_PIP = {"sklearn": "scikit-learn", "yaml": "PyYAML", "torch": "torch", "liana": "liana"}
STDLIB = set(sys.stdlib_module_names)


def _lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def _env_pins(path: Path) -> dict[str, str]:
    env = yaml.safe_load(path.read_text())
    assert env["channels"] == ["conda-forge", "bioconda", "nodefaults"], path.name
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for pip_dep in dep["pip"]:
                name, version = pip_dep.split("==")
                pins[name.lower()] = version
        elif dep not in ("pip",) and not dep.startswith("python="):
            name, version = dep.split("=")
            pins[CONDA_TO_PIP.get(name, name).lower()] = version
    return pins


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.name)
def test_env_pins_equal_the_lock(env):
    lock = _lock()
    for name, version in _env_pins(env).items():
        assert name in lock, f"{env.name}: {name} is not in requirements.lock"
        assert lock[name] == version, f"{env.name}: {name}={version} but requirements.lock has {lock[name]}"


def _rules() -> list[dict]:
    """Every rule of the workflow with its conda env, log, benchmark and script (from Snakemake's DAG API)."""
    code = r"""
import json, sys
from types import SimpleNamespace
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, ResourceSettings, StorageSettings, WorkflowSettings
with SnakemakeApi() as api:
    wf = api.workflow(resource_settings=ResourceSettings(), config_settings=ConfigSettings(),
                      storage_settings=StorageSettings(), workflow_settings=WorkflowSettings(),
                      snakefile=__import__('pathlib').Path('Snakefile'))
    out = []
    methods = wf._workflow.globals["impute_methods"]()
    for rule in wf._workflow.rules:
        env = rule.conda_env
        # an env chosen per method (impute: the method's registry entry): each method the config runs
        envs = [env(SimpleNamespace(method=m)) for m in methods] if callable(env) else [env]
        out.append({"name": rule.name, "conda": envs, "log": bool(rule.log),
                    "benchmark": rule.benchmark is not None, "script": rule.script,
                    "threads": "_cores" in rule.resources, "resources": sorted(rule.resources),
                    "local": wf._workflow.is_local(rule), "target_only": rule.norun})
    print(json.dumps(out))
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    import json

    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def rules():
    # target rules (all, benchmark, ...) only collect inputs: nothing runs, so no env or log
    return [r for r in _rules() if not r["target_only"]]


def test_every_rule_declares_env_log_benchmark_and_resources(rules):
    assert len(rules) >= 6
    for rule in rules:
        assert all(rule["conda"]), f"rule {rule['name']} has no conda: env"
        for env in rule["conda"]:
            assert (REPO / "workflow" / "rules" / env).resolve().is_file() or Path(env).is_file(), (rule["name"], env)
        assert rule["log"], f"rule {rule['name']} has no log:"
        assert rule["benchmark"], f"rule {rule['name']} has no benchmark:"
        assert {"mem_mb", "runtime"} <= set(rule["resources"]), f"rule {rule['name']} resources {rule['resources']}"


def _imports(script: Path) -> set[str]:
    tree = ast.parse(script.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _package_imports(module: str) -> set[str]:
    """Third-party top-level imports of a commst module (file or package), not following other commst modules."""
    path = REPO / "src" / Path(*module.split("."))
    files = list(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
    names: set[str] = set()
    for f in files:
        names |= _imports(f)
    return names


def test_each_rule_env_covers_its_scripts_imports(rules):
    lock = _lock()
    for rule in rules:
        if not rule["script"]:
            continue
        script = (REPO / "workflow" / "rules" / rule["script"]).resolve()
        direct = _imports(script)
        needed = set(direct)
        for mod in re.findall(r"from (commst(?:\.\w+)*) import", script.read_text()):
            needed |= _package_imports(mod) if mod != "commst" else set()
        third_party = {n for n in needed if n not in STDLIB and n not in {"commst", "snakemake"}}
        for env, name in itertools.product(rule["conda"], third_party):
            env_pkgs = set(_env_pins((REPO / "workflow" / "rules" / env).resolve()))
            dist = IMPORT_TO_PIP.get(name, name).lower()
            if dist in lock:  # a package of the lock: the env must carry it (or a package that depends on it)
                assert dist in env_pkgs or _provided_by(dist, env_pkgs), (
                    f"rule {rule['name']} ({script.name}) imports {name} but {env} lacks {dist}"
                )


def _provided_by(dist: str, env_pkgs: set[str]) -> bool:
    """Whether a package in the env depends on ``dist`` (e.g. scanpy brings matplotlib)."""
    from importlib.metadata import requires

    for pkg in env_pkgs:
        try:
            reqs = requires(pkg) or []
        except Exception:  # noqa: BLE001 - a conda-only name
            continue
        if any(re.match(rf"{re.escape(dist)}\b", r, flags=re.I) and "extra ==" not in r for r in reqs):
            return True
    return False


def test_snakemake_lint_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Congratulations" in result.stdout + result.stderr


def test_ruff_lint_and_format_are_clean():
    """Python style is enforced, not hoped for: ruff's lint rules and formatter, configured in
    pyproject.toml (line length 120), pass on the whole repository."""
    assert _lock().get("ruff"), "ruff is pinned in requirements.lock"
    for args in (["check", "--output-format", "concise", "."], ["format", "--check", "."]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *args], cwd=REPO, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, f"ruff {' '.join(args)}:\n{result.stdout[-3000:]}{result.stderr[-2000:]}"


def test_snakefmt_is_clean():
    files = ["Snakefile", *map(str, sorted((REPO / "workflow" / "rules").glob("*.smk")))]
    result = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", *files], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_no_data_file_can_run_code():
    """Nothing in the package or scripts unpickles: no torch.load without weights_only=True, no
    pickle loads, no numpy arrays read with allow_pickle=True."""
    import re

    unsafe = re.compile(
        r"weights_only\s*=\s*False|pickle\.loads?\(|allow_pickle\s*=\s*True|torch\.load\((?![^)]*weights_only=True)"
    )
    hits = [
        f"{path.relative_to(REPO)}:{n}"
        for folder in ("src", "scripts")
        for path in (REPO / folder).rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if unsafe.search(line)
    ]
    assert not hits, hits
