# Input functions of the benchmark rules (workflow/rules/benchmark.smk); kept apart from the
# rules so that `snakemake --lint` stays clean.


def benchmark_samples():
    """Benchmark samples: the configured sheet samples (all when empty) plus the splits."""
    chosen = config["benchmark"]["samples"] or list(samples.index)
    unknown = sorted(set(chosen) - set(samples.index))
    if unknown:
        raise WorkflowError(
            f"benchmark.samples names {unknown}, which the sample sheet {config['samples']} lacks; "
            "list sample names of the sheet, or leave benchmark.samples empty for all of them."
        )
    clash = sorted(set(chosen) & set(config["benchmark"]["splits"]))
    if clash:
        raise WorkflowError(
            f"benchmark.splits reuses sample name(s) {clash} of the sample sheet; rename the split."
        )
    return list(chosen) + list(config["benchmark"]["splits"])


def benchmark_species(wildcards):
    split = config["benchmark"]["splits"].get(wildcards.bsample)
    if split is not None:
        return split["species"]
    return samples.loc[wildcards.bsample, "species"]


def get_benchmark_pair(wildcards):
    """Prepared spatial/reference pair and LR table of a benchmark sample."""
    if wildcards.bsample in config["benchmark"]["splits"]:
        root = f"results/benchmark/{wildcards.bsample}/prepared"
    else:
        root = f"results/{wildcards.bsample}/prepared"
    return {
        "spatial": f"{root}/spatial.h5ad",
        "reference": f"{root}/reference.h5ad",
        "lr": f"results/priors/{benchmark_species(wildcards)}/lr_resource.tsv",
    }


def benchmark_base_method(name):
    variant = config["benchmark"]["variants"].get(name)
    return variant["method"] if variant else name


def get_benchmark_inputs(wildcards):
    """The pair, plus the prior artefacts when the method is CommST or one of its variants."""
    inputs = get_benchmark_pair(wildcards)
    if benchmark_base_method(wildcards.method) == "commst":
        species = benchmark_species(wildcards)
        inputs["ppi"] = f"results/priors/{species}/ppi_edges.parquet"
        inputs["ligand_target"] = f"results/priors/{species}/ligand_target.npz"
    return inputs


def benchmark_env_groups():
    """Conda env name -> regex of the configured methods that run in it."""
    groups = {}
    for name in config["benchmark"]["methods"]:
        base = benchmark_base_method(name)
        env = base if base in ("tangram", "gimvi") else "model"
        groups.setdefault(env, []).append(name)
    return {env: "|".join(map(re.escape, names)) for env, names in groups.items()}


def benchmark_method_tables(wildcards, name):
    return [
        f"results/benchmark/{wildcards.bsample}/methods/{method}/{name}"
        for method in config["benchmark"]["methods"]
    ]


def get_benchmark_output():
    outputs = ["results/benchmark/summary.tsv"]
    for bsample in benchmark_samples():
        outputs += [
            f"results/benchmark/{bsample}/{name}"
            for name in (
                "gene_metrics.tsv",
                "thinning.tsv",
                "ccc_recovery.tsv",
                "figures/gene_metrics.png",
                "figures/thinning.png",
                "figures/spatial_maps.png",
            )
        ]
    return outputs


def benchmark_method_config(wildcards):
    """The config a method's jobs depend on, and nothing else, so that changing or adding
    another method does not rerun this one's jobs."""
    name = wildcards.method
    bench = config["benchmark"]
    base = benchmark_base_method(name)
    return {
        "variants": (
            {name: bench["variants"][name]} if name in bench["variants"] else {}
        ),
        "params": {
            m: bench["params"][m]
            for m in dict.fromkeys([base, name])
            if m in bench["params"]
        },
        "extra_methods": (
            {base: bench["extra_methods"][base]}
            if base in bench["extra_methods"]
            else {}
        ),
        "model": config["model"] if base == "commst" else {},
        "seed": bench["seed"],
    }


# --- Scale benchmark (workflow/rules/scale.smk, issue #7) ----------------------------------------

#: Methods with a GPU implementation (commst.benchmark.scale.DEVICE_PARAMS): the only ones
#: that get `cuda` jobs when scale.devices lists cuda.
SCALE_GPU_METHODS = ("commst", "tangram", "gimvi", "hvg_ae")


def scale_sample():
    """The sample of the sheet whose prepared pair the synthetic data grow from."""
    sample = config["scale"]["sample"]
    if sample not in samples.index:
        raise WorkflowError(
            f"scale.sample is {sample!r}, which the sample sheet {config['samples']} lacks; "
            f"name one of {sorted(samples.index)} (the demo's is lymphnode)."
        )
    return sample


def scale_species():
    return samples.loc[scale_sample(), "species"]


def get_scale_pair(wildcards):
    root = f"results/{scale_sample()}/prepared"
    return {"spatial": f"{root}/spatial.h5ad", "reference": f"{root}/reference.h5ad"}


def scale_n_cells(wildcards):
    """Reference cells of a size: cells_per_spot x spots, at most max_cells."""
    matched = round(config["scale"]["cells_per_spot"] * int(wildcards.n_spots))
    return max(1, min(int(config["scale"]["max_cells"]), matched))


def scale_method_params(wildcards):
    """Keyword arguments of a scale method: its defaults plus scale.params; CommST starts
    from the model: section (the settings the workflow trains with)."""
    name = wildcards.scale_method
    own = dict(config["scale"]["params"].get(name, {}))
    if name == "commst":
        return {**config["model"], **own}
    return own


def get_scale_run_inputs(wildcards):
    """The synthetic pair and, for CommST, the prior artefacts its settings switch on."""
    root = f"results/scale/data/{wildcards.n_spots}"
    inputs = {
        "spatial": f"{root}/spatial.h5ad",
        "reference": f"{root}/reference.h5ad",
        "meta": f"{root}/meta.json",
    }
    if wildcards.scale_method == "commst":
        settings = scale_method_params(wildcards)
        species = scale_species()
        inputs["lr"] = f"results/priors/{species}/lr_resource.tsv"
        if settings["w_ppi"] > 0:
            inputs["ppi"] = f"results/priors/{species}/ppi_edges.parquet"
        if settings["w_nichenet"] > 0:
            inputs["ligand_target"] = f"results/priors/{species}/ligand_target.npz"
    return inputs


def scale_env_groups():
    """Conda env name -> regex of the configured scale methods that run in it."""
    groups = {}
    for name in config["scale"]["methods"]:
        env = name if name in ("tangram", "gimvi") else "model"
        groups.setdefault(env, []).append(name)
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
