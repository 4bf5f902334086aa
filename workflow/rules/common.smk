from pathlib import Path

import pandas as pd
from snakemake.utils import validate

try:
    validate(config, schema="../schemas/config.schema.yaml", set_default=True)
except WorkflowError as err:
    # name the file and the fix (Snakemake's own message names neither)
    raise WorkflowError(
        f"config {', '.join(map(str, workflow.configfiles)) or '(command line)'}: {err}\n"
        "Fix: set the value shown above to one the schema allows; every option, its type "
        "and its default are in workflow/schemas/config.schema.yaml."
    ) from None


def read_sample_sheet(path):
    """Read and validate the sample sheet; relative paths resolve against its folder."""
    sheet_path = Path(path)
    if not sheet_path.is_file():
        raise WorkflowError(
            f"sample sheet {sheet_path}: file not found. Set `samples:` in the config to a "
            "tab-separated sheet (see config/samples.tsv)."
        )
    sheet = pd.read_csv(
        sheet_path, sep="\t", dtype={"sample": str}, comment="#", skip_blank_lines=True
    )
    unknown = sorted(
        set(sheet.columns)
        - set(load_schema_properties("../schemas/samples.schema.yaml"))
    )
    if unknown:
        raise WorkflowError(
            f"sample sheet {sheet_path}: unknown column(s) {unknown}. Allowed columns are "
            f"listed in workflow/schemas/samples.schema.yaml."
        )
    duplicated = sorted(sheet["sample"][sheet["sample"].duplicated()].unique())
    if duplicated:
        raise WorkflowError(
            f"sample sheet {sheet_path}: duplicated sample name(s) {duplicated}; each row needs a unique `sample`."
        )
    sheet = sheet.set_index("sample", drop=False)
    validate(sheet, schema="../schemas/samples.schema.yaml")
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


def load_schema_properties(schema):
    import yaml

    with open(Path(workflow.current_basedir) / schema) as handle:
        return yaml.safe_load(handle)["properties"]


samples = read_sample_sheet(config["samples"])


wildcard_constraints:
    sample="|".join(map(re.escape, samples.index)),
    species="human|mouse",


def get_sample(wildcards):
    return samples.loc[wildcards.sample]


def get_species(wildcards):
    return samples.loc[wildcards.sample, "species"]


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


def get_final_output():
    outputs = [
        f"results/priors/{species}/manifest.json"
        for species in sorted(set(samples["species"]))
    ]
    for sample in samples.index:
        outputs += [
            f"results/{sample}/imputed.h5ad",
            f"results/{sample}/ccc/bivariate.tsv",
            f"results/{sample}/ccc/rank_aggregate.tsv",
            f"results/{sample}/ccc/reference_rank_aggregate.tsv",
            f"results/{sample}/report/spatial_lr_genes.png",
            f"results/{sample}/report/top_interactions.png",
        ]
        if config["impute"]["method"] == "commst":
            outputs.append(f"results/{sample}/model/training_curve.png")
    return outputs


def get_impute_inputs(wildcards):
    inputs = {
        "spatial": f"results/{wildcards.sample}/prepared/spatial.h5ad",
        "reference": f"results/{wildcards.sample}/prepared/reference.h5ad",
        "lr": get_lr_resource(wildcards),
    }
    if config["impute"]["method"] == "commst":
        inputs["model"] = f"results/{wildcards.sample}/model/commst.pt"
    return inputs


def impute_params():
    method = config["impute"]["method"]
    return config["impute"].get(method, {})


def get_celltype_methods():
    """rank_aggregate always (the output contract), plus the configured method."""
    return list(dict.fromkeys(["rank_aggregate", config["ccc"]["celltype_method"]]))


def priors_download_path(species, name):
    return f"{config['priors']['download_dir']}/{species}/{name}"


def get_string_inputs(wildcards):
    if config["priors"]["source"] != "download":
        return {}
    return {
        "links": priors_download_path(wildcards.species, "string_links.txt.gz"),
        "info": priors_download_path(wildcards.species, "string_info.txt.gz"),
    }


def get_nichenet_inputs(wildcards):
    if config["priors"]["source"] != "download":
        return {}
    return {"rds": priors_download_path(wildcards.species, "ligand_target_matrix.rds")}


def get_priors(wildcards):
    """Prior artefacts of a sample's species (inputs of the model rules)."""
    species = get_species(wildcards)
    return {
        "lr": get_lr_resource(wildcards),
        "ppi": f"results/priors/{species}/ppi_edges.parquet",
        "ligand_target": f"results/priors/{species}/ligand_target.npz",
        "priors_manifest": f"results/priors/{species}/manifest.json",
    }
