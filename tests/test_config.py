"""Config and sample-sheet schemas: defaults, and clear rejections of bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from commst.pp import DEFAULTS

REPO = Path(__file__).resolve().parents[1]
CONFIG_SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
SAMPLES_SCHEMA = REPO / "workflow" / "schemas" / "samples.schema.yaml"


def _config():
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_default_config_validates_and_fills_defaults():
    config = {"samples": "config/samples.tsv"}
    validate(config, str(CONFIG_SCHEMA), set_default=True)
    assert config["impute"]["method"] == "commst"
    assert config["ccc"]["celltype_method"] == "rank_aggregate"
    full = _config()
    validate(full, str(CONFIG_SCHEMA), set_default=True)


def test_schema_defaults_equal_library_defaults():
    """One source of defaults: the workflow schema and commst.pp agree."""
    props = yaml.safe_load(CONFIG_SCHEMA.read_text())["properties"]["preprocess"]["properties"]
    for key, value in DEFAULTS.items():
        assert props[key]["default"] == value, key
    # the rest are validation options (commst.validate), not prepare() arguments
    assert set(props) - set(DEFAULTS) == {"allow_non_counts", "max_memory_gb"}


def test_schema_model_defaults_equal_commst_config():
    """The workflow's model: section and commst.model.CommSTConfig carry the same defaults."""
    import dataclasses

    from commst.model import CommSTConfig

    props = yaml.safe_load(CONFIG_SCHEMA.read_text())["properties"]["model"]["properties"]
    fields = {f.name: f.default for f in dataclasses.fields(CommSTConfig)}
    assert set(props) == set(fields)
    for name, default in fields.items():
        assert props[name]["default"] == (list(default) if isinstance(default, tuple) else default), name
    config = {"samples": "x"}
    validate(config, str(CONFIG_SCHEMA), set_default=True)
    CommSTConfig.from_dict(config["model"])  # the filled-in section is a valid model config


def test_the_python_api_defaults_equal_the_workflow_defaults():
    """`commst.tl.impute`'s method, LR resource and held-out rounds are the workflow's defaults."""
    from commst.tl._heldout import DEFAULT_HELDOUT_ROUNDS
    from commst.tl._impute import DEFAULT_LR_RESOURCE, DEFAULT_METHOD

    config = {"samples": "x"}
    validate(config, str(CONFIG_SCHEMA), set_default=True)
    assert (config["impute"]["method"], config["lr_resource"]["name"]) == (DEFAULT_METHOD, DEFAULT_LR_RESOURCE)
    assert config["impute"]["heldout_rounds"] == DEFAULT_HELDOUT_ROUNDS


def test_schema_methods_equal_the_registry():
    """`impute: method:` lists the registered methods in registry order, and each method's
    section carries its registry entry's defaults (commst's section is model:, checked above)."""
    from commst.tl.methods import REGISTRY

    impute = yaml.safe_load(CONFIG_SCHEMA.read_text())["properties"]["impute"]["properties"]
    assert impute["method"]["enum"] == list(REGISTRY)
    assert impute["compare"]["items"]["enum"] == list(REGISTRY)
    for name, meta in REGISTRY.items():
        if meta.config_section == "model":
            continue
        assert meta.config_section == f"impute.{name}"
        props = impute[name].get("properties", {})
        assert {key: spec["default"] for key, spec in props.items()} == dict(meta.defaults), name
    config = {"samples": "x"}
    validate(config, str(CONFIG_SCHEMA), set_default=True)
    assert {name: config["impute"][name] for name in REGISTRY if name != "commst"} == {
        name: dict(meta.defaults) for name, meta in REGISTRY.items() if name != "commst"
    }


def test_config_yaml_values_equal_schema_defaults():
    """config/config.yaml documents the defaults; it must not silently diverge from the schema."""
    schema = yaml.safe_load(CONFIG_SCHEMA.read_text())

    def walk(cfg, props, path="", inherited=None):
        inherited = inherited or {}
        for key, value in cfg.items():
            spec = props[key]
            default = spec.get("default", inherited.get(key))
            if isinstance(value, dict):
                walk(value, spec["properties"], f"{path}{key}.", default if isinstance(default, dict) else None)
            elif key != "samples":
                assert default == value, f"{path}{key}: config {value!r} != schema {default!r}"

    walk(_config(), schema["properties"])


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"impute": {"method": "magic"}}, "magic"),
        ({"impute": {"compare": ["knn", "magic"]}}, "magic"),
        ({"preprocess": {"min_expr_frac": 1.5}}, "1.5"),
        ({"ccc": {"celltype_method": "nonsense"}}, "nonsense"),
        ({"unknown_section": {}}, "unknown_section"),
        ({"impute": {"knn": {"k": 0}}}, "0"),
        ({"impute": {"seed": -1}}, "-1 is less than the minimum of 0"),
        ({"model": {"mask_frac": 1.0}}, "1.0 is greater than or equal to the maximum of 1"),
        ({"model": {"neighbourhood": "all"}}, "'all' is not one of"),
        ({"ccc": {"cutoff": 1.0}}, "1.0 is greater than or equal to the maximum of 1"),
        ({"ccc": {"null_model": "shift"}}, "'shift' is not one of"),
        ({"ccc": {"fdr": 0}}, "0 is less than or equal to the minimum of 0"),
        ({"ccc": {"n_draws": 0}}, "0 is less than the minimum of 1"),
        ({"benchmark": {"ccc": {"nulls": ["spots", "bogus"]}}}, "'bogus' is not one of"),
        ({"benchmark": {"ccc": {"p": [0.1, 1.5]}}}, "1.5 is greater than the maximum of 1"),
        ({"benchmark": {"thinning": {"seeds": [0, -2]}}}, "-2 is less than the minimum of 0"),
        ({"priors": {"nichenet": {"human": {"sha256": "abc"}}}}, "'abc' does not match"),
        ({"preprocess": {"min_shared_genes_hard": 0}}, "0 is less than the minimum of 1"),
    ],
)
def test_bad_config_is_rejected_with_the_offending_value(change, expected):
    config = {"samples": "config/samples.tsv", **change}
    with pytest.raises(WorkflowError) as err:
        validate(config, str(CONFIG_SCHEMA), set_default=True)
    assert expected in str(err.value)


def test_every_numeric_setting_has_a_range():
    """No numeric key without at least a lower bound (seeds, counts, sizes, weights, fractions)."""
    schema = yaml.safe_load(CONFIG_SCHEMA.read_text())
    unbounded = []

    def walk(spec, path):
        types = spec.get("type") if isinstance(spec.get("type"), list) else [spec.get("type")]
        if {"integer", "number"} & set(types) and not {"minimum", "exclusiveMinimum"} & set(spec):
            unbounded.append(path)
        for key, sub in spec.get("properties", {}).items():
            walk(sub, f"{path}.{key}")
        for key in ("items", "additionalProperties"):
            if isinstance(spec.get(key), dict):
                walk(spec[key], f"{path}[]")

    walk(schema, "config")
    assert unbounded == []


def _sheet(**overrides):
    row = {
        "sample": "s1",
        "reference": "ref.h5ad",
        "spatial": "sp.h5ad",
        "spatial_format": "h5ad",
        "species": "human",
        "cell_type_key": "cell_type",
    }
    row.update(overrides)
    return pd.DataFrame([row]).set_index("sample", drop=False)


def test_good_sample_sheet_validates():
    validate(_sheet(), str(SAMPLES_SCHEMA))
    validate(_sheet(spatial_format="stereo_gem", bin_size=50), str(SAMPLES_SCHEMA))


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"species": "zebrafish"}, "zebrafish"),
        ({"spatial_format": "loom"}, "loom"),
        ({"spatial_format": "stereo_gem"}, "bin_size"),
        ({"spatial_format": "csv"}, "spatial_coords"),
        ({"sample": "bad name/with slash"}, "bad name/with slash"),
    ],
)
def test_bad_sample_sheet_is_rejected(overrides, expected):
    with pytest.raises(WorkflowError) as err:
        validate(_sheet(**overrides), str(SAMPLES_SCHEMA))
    assert expected in str(err.value)


def _dry_run(tmp_path: Path, sheet: str) -> subprocess.CompletedProcess:
    (tmp_path / "samples.tsv").write_text(sheet)
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--config", f"samples={tmp_path / 'samples.tsv'}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


HEADER = "sample\treference\tspatial\tspatial_format\tspecies\tcell_type_key\n"
DEMO_ROW = (
    "{name}\t{repo}/resources/demo/visium_lymphnode_human_ref.h5ad\t"
    "{repo}/resources/demo/visium_lymphnode_human_sp.h5ad\th5ad\thuman\tcell_type\n"
)


def test_workflow_rejects_duplicate_samples_missing_paths_and_unknown_columns(tmp_path):
    row = DEMO_ROW.format(name="a", repo=REPO)
    result = _dry_run(tmp_path, HEADER + row + row)
    assert result.returncode != 0 and "duplicated sample name" in result.stderr + result.stdout

    missing = HEADER + "a\tnowhere.h5ad\tsp.h5ad\th5ad\thuman\tcell_type\n"
    result = _dry_run(tmp_path, missing)
    out = result.stderr + result.stdout
    assert result.returncode != 0 and "nowhere.h5ad" in out and "does not exist" in out

    extra = HEADER.rstrip("\n") + "\tcolour\n" + row.rstrip("\n") + "\tblue\n"
    result = _dry_run(tmp_path, extra)
    assert result.returncode != 0 and "colour" in result.stderr + result.stdout


def test_sheet_saved_by_excel_with_a_byte_order_mark_is_read(tmp_path):
    row = DEMO_ROW.format(name="bom", repo=REPO)
    (tmp_path / "samples.tsv").write_bytes(b"\xef\xbb\xbf" + (HEADER + row).encode())
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--config", f"samples={tmp_path / 'samples.tsv'}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "results/bom/commst/imputed.h5ad" in result.stdout


def test_relative_paths_resolve_against_the_sheet_folder(tmp_path):
    demo = tmp_path / "data"
    demo.mkdir()
    for name in ("visium_lymphnode_human_ref.h5ad", "visium_lymphnode_human_sp.h5ad"):
        (demo / name).symlink_to(REPO / "resources" / "demo" / name)
    sheet = (
        HEADER
        + "rel\tdata/visium_lymphnode_human_ref.h5ad\tdata/visium_lymphnode_human_sp.h5ad\th5ad\thuman\tcell_type\n"
    )
    result = _dry_run(tmp_path, sheet)
    assert result.returncode == 0, result.stderr
    assert "results/rel/commst/imputed.h5ad" in result.stdout
