import os
import re
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml
from snakemake.utils import validate

# the package's method registry (no method or library is imported by reading it)
sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from commst.tl.methods import REGISTRY

# figures are written to files: no display is needed or used by any job
os.environ.setdefault("MPLBACKEND", "Agg")


def load_schema(schema):
    with open(Path(workflow.current_basedir) / schema) as handle:
        return yaml.safe_load(handle)


def config_schema():
    """The config schema, with `impute: method:`'s values and each method's params section
    (`impute: <method>:`, defaults from its registry entry when the schema has none) taken
    from the method registry (commst.tl.methods.REGISTRY), so a registered method needs no
    schema edit to run (tests/test_config.py keeps the schema's own list equal to it).
    """
    schema = load_schema("../schemas/config.schema.yaml")
    impute = schema["properties"]["impute"]["properties"]
    impute["method"]["enum"] = list(REGISTRY)
    impute["compare"]["items"]["enum"] = list(REGISTRY)
    for name, meta in REGISTRY.items():
        if meta.config_section == f"impute.{name}" and name not in impute:
            impute[name] = {"type": "object", "default": dict(meta.defaults)}
    return schema


def validate_config(config):
    with tempfile.TemporaryDirectory(prefix="commst-schema-") as tmp:
        path = Path(tmp) / "config.schema.yaml"
        path.write_text(yaml.safe_dump(config_schema(), sort_keys=False))
        try:
            validate(config, schema=str(path), set_default=True)
        except WorkflowError as err:
            # name the file and the fix (Snakemake's own message names neither)
            raise WorkflowError(
                f"config {', '.join(map(str, workflow.configfiles)) or '(command line)'}: {err}\n"
                "Fix: set the value shown above to one the schema allows; every option, its type "
                "and its default are in workflow/schemas/config.schema.yaml."
            ) from None


validate_config(config)


def canonical(value):
    """``value`` with every dict's keys sorted, recursively.

    Snakemake's params rerun trigger compares ``repr`` of each param, and a dict's repr
    follows its key order: sorting the config once means re-ordering keys in a config file
    reruns nothing.
    """
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


for _key in sorted(config):
    config[_key] = canonical(config.pop(_key))


def check_config_relations(config):
    """What the schema cannot say: relations between keys (the model's default on its grid)."""
    from commst.model import CommSTConfig

    try:
        CommSTConfig.from_dict(config["model"])
    except ValueError as err:
        raise WorkflowError(
            f"config {', '.join(map(str, workflow.configfiles)) or '(command line)'}: model: {err}.\n"
            "Fix: make model.default one of the settings model.alphas x betas x k_withins "
            "(add its values to model.alphas, betas or k_withins)."
        )


check_config_relations(config)


def _sheet_error(sheet_path, problem, fix):
    return WorkflowError(f"sample sheet {sheet_path}: {problem}.\nFix: {fix}.")


def validate_sheet_rows(sheet, sheet_path, schema):
    """Check each row against the sample-sheet schema; the error names the row, sample and column."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    for number, (_, row) in enumerate(sheet.iterrows(), start=1):
        record = {k: v for k, v in row.items() if not pd.isna(v)}
        error = next(
            iter(sorted(validator.iter_errors(record), key=lambda e: list(e.path))),
            None,
        )
        if error is None:
            continue
        column = error.path[0] if error.path else None
        where = f"row {number} (sample {row.get('sample')!r})" + (
            f", column {column!r}" if column else ""
        )
        described = (
            schema["properties"].get(column, {}).get("description") if column else None
        )
        raise _sheet_error(
            sheet_path,
            f"{where}: {error.message}",
            (
                f"set {column!r} to a valid value ({described.strip()})"
                if described
                else "fill in the row"
            )
            + "; every column and its allowed values are in workflow/schemas/samples.schema.yaml",
        )


def read_sample_sheet(path):
    """Read and validate the sample sheet; relative paths resolve against its folder."""
    sheet_path = Path(path)
    if not sheet_path.is_file():
        raise WorkflowError(
            f"sample sheet {sheet_path}: file not found. Set `samples:` in the config to a "
            "tab-separated sheet (see config/samples.tsv)."
        )
    # utf-8-sig: a sheet saved by Excel as "CSV UTF-8" starts with a byte-order mark
    sheet = pd.read_csv(
        sheet_path,
        sep="\t",
        dtype={"sample": str},
        comment="#",
        skip_blank_lines=True,
        encoding="utf-8-sig",
    )
    schema = load_schema("../schemas/samples.schema.yaml")
    unknown = sorted(set(sheet.columns) - set(schema["properties"]))
    if unknown:
        raise WorkflowError(
            f"sample sheet {sheet_path}: unknown column(s) {unknown}. Allowed columns are "
            f"listed in workflow/schemas/samples.schema.yaml."
        )
    if sheet.empty:
        raise _sheet_error(
            sheet_path,
            "has no samples (a header but no rows)",
            "add one tab-separated row per sample below the header (see config/samples.tsv)",
        )
    duplicated = sorted(sheet["sample"][sheet["sample"].duplicated()].unique())
    if duplicated:
        raise WorkflowError(
            f"sample sheet {sheet_path}: duplicated sample name(s) {duplicated}; each row needs a unique `sample`."
        )
    validate_sheet_rows(sheet, sheet_path, schema)
    sheet = sheet.set_index("sample", drop=False)
    base = sheet_path.resolve().parent
    for column in ("reference", "spatial", "spatial_coords"):
        if column in sheet:
            sheet[column] = [
                None if pd.isna(p) or p == "" else str((base / p).resolve())
                for p in sheet[column]
            ]
    for sample, row in sheet.iterrows():
        for column in ("reference", "spatial", "spatial_coords"):
            value = row.get(column)
            if value is not None and not pd.isna(value) and not Path(value).exists():
                raise WorkflowError(
                    f"sample sheet {sheet_path}: sample {sample!r} column {column!r} points to "
                    f"{value}, which does not exist. Fix the path (relative paths are read from the sheet's folder)."
                )
    return sheet


samples = read_sample_sheet(config["samples"])


wildcard_constraints:
    sample="|".join(map(re.escape, samples.index)),
    species="human|mouse",


#: `{method}` of a sample's per-method tree (results/{sample}/{method}/): a registered method. Set
#: on each of those rules (benchmark.smk's global `method` constraint is its own methods').
IMPUTE_METHOD = "|".join(map(re.escape, REGISTRY))


onstart:
    # temporary files of jobs killed in an earlier run (outputs are written atomically)
    from commst._utils import remove_stale_parts

    for part in remove_stale_parts("results", config["priors"]["download_dir"]):
        print(
            f"removed {part}, left by a job killed in an earlier run",
            file=sys.stderr,
        )


def get_sample(wildcards):
    return samples.loc[wildcards.sample]


def get_sample_params(wildcards):
    """The sample's sheet row as a param (sorted keys: column order reruns nothing)."""
    return canonical(get_sample(wildcards).to_dict())


def get_species(wildcards):
    return samples.loc[wildcards.sample, "species"]


def get_custom_lr_table(wildcards):
    """The user's own LR table when lr_resource: name is a path (an input, so edits rerun)."""
    name = config["lr_resource"]["name"]
    suffixes = (".tsv", ".tsv.gz", ".txt", ".txt.gz")  # commst.priors.is_lr_table_path
    if "/" in name or name.lower().endswith(suffixes) or Path(name).is_file():
        return {"table": name}
    return {}


def get_lr_resource(wildcards):
    return f"results/priors/{get_species(wildcards)}/lr_resource.tsv"


def get_preprocess_inputs(wildcards):
    row = get_sample(wildcards)
    inputs = {
        "reference": row["reference"],
        "spatial": row["spatial"],
        "lr": get_lr_resource(wildcards),
    }
    if row.get("spatial_coords"):
        inputs["coords"] = row["spatial_coords"]
    return inputs


def method_section(name):
    """Settings of a registered method kept outside `impute:` (commst's `model:`), else {}."""
    meta = REGISTRY.get(name)
    if meta is None or meta.config_section.startswith("impute."):
        return {}
    return config_section(meta.config_section)


def method_env(name):
    """Conda env of a method's jobs: its registry entry's (`model` for test-only methods)."""
    return REGISTRY[name].env if name in REGISTRY else "model"


def impute_methods():
    """The methods run on every sample: `impute: method:` (the primary, first), then `impute: compare:`."""
    return list(
        dict.fromkeys([config["impute"]["method"], *config["impute"]["compare"]])
    )


def config_section(dotted):
    """The config section a method's settings live in (`impute.knn`, `model`)."""
    return lookup(dpath=dotted.replace(".", "/"), within=config, default={})


#: What every method's tree holds, relative to results/{sample}/{method}/.
METHOD_OUTPUTS = (
    "imputed.h5ad",
    "quality.tsv",
    "ccc/bivariate.tsv",
    "ccc/rank_aggregate.tsv",
    "report/spatial_lr_genes.png",
    "report/top_interactions.png",
    "report/interaction_maps.png",
    "report/imputed_vs_measured.png",
    "report/moran_inflation.png",
    "report/overview.html",
)


def get_final_output():
    outputs = [
        f"results/priors/{species}/manifest.json"
        for species in sorted(set(samples["species"]))
    ]
    celltype = get_celltype_methods()
    for sample in samples.index:
        outputs += [f"results/{sample}/ccc/reference_{name}.tsv" for name in celltype]
        outputs += [
            f"results/{sample}/report/dotplot_reference_{name}.png" for name in celltype
        ]
        for method in impute_methods():
            outputs += [f"results/{sample}/{method}/{name}" for name in METHOD_OUTPUTS]
            outputs += [
                f"results/{sample}/{method}/report/dotplot_spots_{name}.png"
                for name in celltype
            ]
        if len(impute_methods()) > 1:
            outputs += get_comparison_outputs(sample)
    return outputs


def get_comparison_outputs(sample):
    return [
        f"results/{sample}/report/method_comparison.{ext}" for ext in ("png", "html")
    ]


def get_impute_inputs(wildcards):
    inputs = {
        "spatial": f"results/{wildcards.sample}/prepared/spatial.h5ad",
        "reference": f"results/{wildcards.sample}/prepared/reference.h5ad",
        "lr": get_lr_resource(wildcards),
    }
    return inputs


def impute_env(wildcards):
    """The conda env of a method's impute job (its registry entry's)."""
    return f"../../envs/{method_env(wildcards.method)}.yaml"


def impute_params(wildcards):
    """The method's own settings (its config section)."""
    return config_section(REGISTRY[wildcards.method].config_section)


def impute_provenance(wildcards):
    """The config sections a method's imputed file depends on, recorded in its uns['commst']['config'].

    Its own settings only: editing another method's, choosing another primary or adding a method to
    `impute: compare:` reruns nothing of it.
    """
    meta = REGISTRY[wildcards.method]
    impute = {
        k: v
        for k, v in config["impute"].items()
        if k not in ("method", "compare") and (k not in REGISTRY or k == meta.name)
    }
    sections = {
        "lr_resource": config["lr_resource"],
        "impute": impute,
        # max_memory_gb only sets preprocess's memory check
        "preprocess": {
            k: v for k, v in config["preprocess"].items() if k != "max_memory_gb"
        },
    }
    if not meta.config_section.startswith("impute."):
        sections[meta.config_section] = config_section(meta.config_section)
    return sections


#: ccc: options each step uses (so that changing one reruns only the steps that use it).
CCC_SPATIAL_OPTIONS = (
    "bandwidth",
    "cutoff",
    "local_metric",
    "global_metric",
    "null_model",
    "n_perms",
    "n_draws",
    "fdr",
)
CCC_CELLTYPE_OPTIONS = ("celltype_method", "expr_prop", "min_cells", "n_perms")


def ccc_options(*keys):
    return {key: config["ccc"][key] for key in dict.fromkeys(keys)}


def get_celltype_methods():
    """rank_aggregate always (the output contract), plus the configured method."""
    return list(dict.fromkeys(["rank_aggregate", config["ccc"]["celltype_method"]]))
