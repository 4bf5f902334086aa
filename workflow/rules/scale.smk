# Scale benchmark (issue #7): synthetic pairs of growing size grown from a real prepared pair, and
# wall time and peak memory of train + impute for each method at each size, on CPU (and GPU where
# scale.devices says so). Each measured run takes every core (scale_threads: --cores), so only one
# runs at a time and timings do not compete; past scale.time_limit_s or scale.memory_limit_mb the
# run is killed and recorded as timeout / OOM, never failing the workflow.


include: "scale_common.smk"


wildcard_constraints:
    n_spots="[0-9]+",
    device="cpu|cuda",


rule scale_data:
    input:
        unpack(get_scale_pair),
    output:
        spatial="results/scale/data/{n_spots}/spatial.h5ad",
        reference="results/scale/data/{n_spots}/reference.h5ad",
        meta="results/scale/data/{n_spots}/meta.json",
    log:
        "logs/scale/{n_spots}/data.log",
    benchmark:
        "benchmarks/scale/{n_spots}/data.tsv"
    conda:
        "../../envs/model.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: (2000 + int(wc.n_spots) // 50) * attempt,
        runtime=lambda wc, attempt: (10 + int(wc.n_spots) // 20000) * attempt,
    params:
        n_cells=scale_n_cells,
        seed=config["scale"]["seed"],
        sample=lambda wc: scale_sample(),
    script:
        "../../scripts/scale_data.py"


# One rule per conda env family, so tangram and gimVI run in their own envs.
for _env, _methods in scale_env_groups().items():

    rule:
        name:
            f"scale_run_{_env}"
        input:
            unpack(get_scale_run_inputs),
        output:
            "results/scale/runs/{n_spots}/{scale_method}_{device}.json",
        log:
            harness="logs/scale/{n_spots}/{scale_method}_{device}.log",
            method="logs/scale/{n_spots}/{scale_method}_{device}.method.log",
        benchmark:
            "benchmarks/scale/{n_spots}/{scale_method}_{device}.tsv"
        wildcard_constraints:
            scale_method=_methods,
        conda:
            f"../../envs/{_env}.yaml"
        threads: scale_threads
        resources:
            mem_mb=config["scale"]["memory_limit_mb"] + 2000,
            runtime=scale_runtime,
            gpu=lambda wc: int(wc.device == "cuda"),
        params:
            method_params=scale_method_params,
            extra_method=lambda wc: config["scale"]["extra_methods"].get(
                wc.scale_method, ""
            ),
            seed=config["scale"]["seed"],
            limits={
                "time_limit_s": config["scale"]["time_limit_s"],
                "memory_limit_mb": config["scale"]["memory_limit_mb"],
                "poll_s": config["scale"]["poll_s"],
            },
        script:
            "../../scripts/scale_run.py"


rule scale_aggregate:
    input:
        runs=get_scale_runs(),
    output:
        table=report(
            "results/scale/scale.tsv",
            caption="../report/scale_table.rst",
            category="Scale",
            labels={"table": "scale runs"},
        ),
        fit="results/scale/scale_fit.tsv",
    log:
        "logs/scale/aggregate.log",
    benchmark:
        "benchmarks/scale/aggregate.tsv"
    conda:
        "../../envs/model.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../../scripts/scale_aggregate.py"


rule scale_plot:
    input:
        table="results/scale/scale.tsv",
    output:
        report(
            "results/scale/scale.png",
            caption="../report/scale.rst",
            category="Scale",
            labels={"figure": "time and memory vs size"},
        ),
    log:
        "logs/scale/plot.log",
    benchmark:
        "benchmarks/scale/plot.tsv"
    conda:
        "../../envs/ccc.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        time_limit_s=config["scale"]["time_limit_s"],
        memory_limit_mb=config["scale"]["memory_limit_mb"],
        target_s=config["scale"]["target_s"],
        target_mb=config["scale"]["target_mb"],
    script:
        "../../scripts/scale_plot.py"


rule scale:
    input:
        "results/scale/scale.tsv",
        "results/scale/scale_fit.tsv",
        "results/scale/scale.png",
