# Input functions of the scale benchmark (workflow/rules/scale.smk, issue #7); kept apart from
# the rules so that `snakemake --lint` stays clean. Methods' envs, GPU capability and whether
# they train on the `model:` settings come from the method registry (common.smk: REGISTRY).

#: Methods with a GPU implementation (their registry entry's `device`): the only ones that get
#: `cuda` jobs when scale.devices lists cuda.
SCALE_GPU_METHODS = tuple(
    name for name, meta in REGISTRY.items() if meta.device is not None
)


def scale_sample():
    """The sample of the sheet whose prepared pair the synthetic data grow from."""
    sample = config["scale"]["sample"]
    if sample not in samples.index:
        raise WorkflowError(
            f"scale.sample is {sample!r}, which the sample sheet {config['samples']} lacks; "
            f"name one of {sorted(samples.index)} (the demo's is lymphnode)."
        )
    return sample


def get_scale_pair(wildcards):
    root = f"results/{scale_sample()}/prepared"
    return {"spatial": f"{root}/spatial.h5ad", "reference": f"{root}/reference.h5ad"}


def scale_n_cells(wildcards):
    """Reference cells of a size: cells_per_spot x spots, at most max_cells."""
    matched = round(config["scale"]["cells_per_spot"] * int(wildcards.n_spots))
    return max(1, min(int(config["scale"]["max_cells"]), matched))


def scale_method_params(wildcards):
    """Keyword arguments of a scale method: its defaults plus scale.params; CommST starts
    from the model: section (the settings the workflow imputes with)."""
    name = wildcards.scale_method
    return {**method_section(name), **dict(config["scale"]["params"].get(name, {}))}


def get_scale_run_inputs(wildcards):
    """The synthetic pair of a size."""
    root = f"results/scale/data/{wildcards.n_spots}"
    return {
        "spatial": f"{root}/spatial.h5ad",
        "reference": f"{root}/reference.h5ad",
        "meta": f"{root}/meta.json",
    }


def scale_env_groups():
    """Conda env name -> regex of the configured scale methods that run in it."""
    groups = {}
    for name in config["scale"]["methods"]:
        groups.setdefault(method_env(name), []).append(name)
    return {env: "|".join(map(re.escape, names)) for env, names in groups.items()}


def get_scale_runs():
    """One record per size x method x device; cuda only for methods with a GPU implementation."""
    scale = config["scale"]
    return [
        f"results/scale/runs/{n_spots}/{method}_{device}.json"
        for n_spots in scale["sizes"]
        for method in scale["methods"]
        for device in scale["devices"]
        if device == "cpu" or method in SCALE_GPU_METHODS
    ]


def scale_threads(wildcards):
    """Every core Snakemake was given (--cores), so one measured run at a time; 1 where no
    total is defined (e.g. a cluster executor without --cores)."""
    try:
        return workflow.cores
    except WorkflowError:
        return 1


def scale_runtime(wildcards, attempt):
    """Minutes of a measured run: its time limit plus loading and writing."""
    return int(config["scale"]["time_limit_s"] / 60 * 1.2 + 10) * attempt
