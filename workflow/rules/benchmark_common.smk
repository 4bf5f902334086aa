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
    """The prepared pair of a benchmark job."""
    return get_benchmark_pair(wildcards)


def benchmark_env_groups():
    """Conda env name -> regex of the configured methods that run in it."""
    groups = {}
    for name in config["benchmark"]["methods"]:
        groups.setdefault(method_env(benchmark_base_method(name)), []).append(name)
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
        "model": method_section(base),
        "seed": bench["seed"],
    }
