# Benchmark (issue #5): held-out genes, capture thinning and communication recovery of every
# configured method on every benchmark sample. One job per (sample, method, scenario) writes its
# own table under results/benchmark/{bsample}/methods/{method}/, so adding a method to
# benchmark.methods runs only that method's jobs; per-sample aggregation and the summary follow.
# The wildcard is {bsample}, not {sample}: split samples are not in the sample sheet.


include: "benchmark_common.smk"


wildcard_constraints:
    bsample="|".join(map(re.escape, benchmark_samples())) or "NO_BENCHMARK_SAMPLE",
    method="|".join(map(re.escape, config["benchmark"]["methods"])),


rule benchmark_split:
    input:
        spatial=lambda wc: config["benchmark"]["splits"][wc.bsample]["spatial"],
        lr=lambda wc: f"results/priors/{benchmark_species(wc)}/lr_resource.tsv",
    output:
        spatial="results/benchmark/{bsample}/prepared/spatial.h5ad",
        reference="results/benchmark/{bsample}/prepared/reference.h5ad",
    log:
        "logs/benchmark/{bsample}/split.log",
    benchmark:
        "benchmarks/benchmark/{bsample}/split.tsv"
    conda:
        "../../envs/commst.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        split=lambda wc: config["benchmark"]["splits"][wc.bsample],
        preprocess=config["preprocess"],
    script:
        "../../scripts/benchmark_split.py"


# One rule per conda env family, so each baseline runs in its own env (envs/tangram.yaml,
# envs/gimvi.yaml; everything else in envs/model.yaml).
for _env, _methods in benchmark_env_groups().items():

    rule:
        name:
            f"benchmark_heldout_{_env}"
        input:
            unpack(get_benchmark_inputs),
        output:
            "results/benchmark/{bsample}/methods/{method}/heldout.tsv",
        log:
            "logs/benchmark/{bsample}/{method}/heldout.log",
        benchmark:
            "benchmarks/benchmark/{bsample}/{method}/heldout.tsv"
        wildcard_constraints:
            method=_methods,
        conda:
            f"../../envs/{_env}.yaml"
        threads: 1
        resources:
            mem_mb=lambda wc, input, attempt: max(6000, 20 * input.size_mb) * attempt,
            runtime=240,
        params:
            scenario="heldout",
            method_config=benchmark_method_config,
            options=config["benchmark"]["heldout"],
            species=benchmark_species,
        script:
            "../../scripts/benchmark_scenario.py"

    rule:
        name:
            f"benchmark_thinning_{_env}"
        input:
            unpack(get_benchmark_inputs),
        output:
            "results/benchmark/{bsample}/methods/{method}/thinning.tsv",
        log:
            "logs/benchmark/{bsample}/{method}/thinning.log",
        benchmark:
            "benchmarks/benchmark/{bsample}/{method}/thinning.tsv"
        wildcard_constraints:
            method=_methods,
        conda:
            f"../../envs/{_env}.yaml"
        threads: 1
        resources:
            mem_mb=lambda wc, input, attempt: max(6000, 20 * input.size_mb) * attempt,
            runtime=240,
        params:
            scenario="thinning",
            method_config=benchmark_method_config,
            options=config["benchmark"]["thinning"],
            species=benchmark_species,
        script:
            "../../scripts/benchmark_scenario.py"

    rule:
        name:
            f"benchmark_ccc_{_env}"
        input:
            unpack(get_benchmark_inputs),
            truth="results/benchmark/{bsample}/ccc_truth/pairs.tsv",
        output:
            table="results/benchmark/{bsample}/methods/{method}/ccc.tsv",
            imputed="results/benchmark/{bsample}/methods/{method}/ccc_imputed.h5ad",
        log:
            "logs/benchmark/{bsample}/{method}/ccc.log",
        benchmark:
            "benchmarks/benchmark/{bsample}/{method}/ccc.tsv"
        wildcard_constraints:
            method=_methods,
        conda:
            f"../../envs/{_env}.yaml"
        threads: 1
        resources:
            mem_mb=lambda wc, input, attempt: max(6000, 20 * input.size_mb) * attempt,
            runtime=120,
        params:
            scenario="ccc",
            method_config=benchmark_method_config,
            options=config["benchmark"]["ccc"],
            species=benchmark_species,
            ccc=config["ccc"],
            truth_dir=lambda wc: f"results/benchmark/{wc.bsample}/ccc_truth",
        script:
            "../../scripts/benchmark_scenario.py"


rule benchmark_ccc_truth:
    input:
        unpack(get_benchmark_pair),
    output:
        pairs="results/benchmark/{bsample}/ccc_truth/pairs.tsv",
        labels="results/benchmark/{bsample}/ccc_truth/labels.tsv",
        bivariate="results/benchmark/{bsample}/ccc_truth/bivariate.tsv",
        rank_aggregate="results/benchmark/{bsample}/ccc_truth/rank_aggregate.tsv",
        reference_rank_aggregate="results/benchmark/{bsample}/ccc_truth/reference_rank_aggregate.tsv",
    log:
        "logs/benchmark/{bsample}/ccc_truth.log",
    benchmark:
        "benchmarks/benchmark/{bsample}/ccc_truth.tsv"
    conda:
        "../../envs/ccc.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input, attempt: max(4000, 20 * input.size_mb) * attempt,
        runtime=60,
    params:
        ccc=config["ccc"],
        nulls=config["benchmark"]["ccc"]["nulls"],
        n_cross=config["benchmark"]["ccc"]["n_cross_decoys"],
        seed=config["benchmark"]["seed"],
    script:
        "../../scripts/benchmark_ccc_truth.py"


rule benchmark_aggregate:
    input:
        heldout=lambda wc: benchmark_method_tables(wc, "heldout.tsv"),
        thinning=lambda wc: benchmark_method_tables(wc, "thinning.tsv"),
        ccc=lambda wc: benchmark_method_tables(wc, "ccc.tsv"),
        truth="results/benchmark/{bsample}/ccc_truth/pairs.tsv",
    output:
        gene_metrics="results/benchmark/{bsample}/gene_metrics.tsv",
        thinning="results/benchmark/{bsample}/thinning.tsv",
        ccc="results/benchmark/{bsample}/ccc_recovery.tsv",
        summary="results/benchmark/{bsample}/summary.tsv",
        paired_ci="results/benchmark/{bsample}/paired_ci.tsv",
    log:
        "logs/benchmark/{bsample}/aggregate.log",
    benchmark:
        "benchmarks/benchmark/{bsample}/aggregate.tsv"
    conda:
        "../../envs/commst.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        sample="{bsample}",
        top_k=config["benchmark"]["ccc"]["top_k"],
        alpha=config["benchmark"]["ccc"]["alpha"],
        truth_dir=lambda wc: f"results/benchmark/{wc.bsample}/ccc_truth",
        # the peers of paired_ci.tsv: the registered baselines but raw
        peers=[m for m in REGISTRY if REGISTRY[m].baseline and m != "raw"],
    script:
        "../../scripts/benchmark_aggregate.py"


rule benchmark_figures:
    input:
        unpack(get_benchmark_pair),
        gene_metrics="results/benchmark/{bsample}/gene_metrics.tsv",
        thinning="results/benchmark/{bsample}/thinning.tsv",
        imputed=lambda wc: benchmark_method_tables(wc, "ccc_imputed.h5ad"),
    output:
        metrics=report(
            "results/benchmark/{bsample}/figures/gene_metrics.png",
            caption="../report/benchmark_gene_metrics.rst",
            category="Benchmark",
            subcategory="{bsample}",
            labels={"sample": "{bsample}", "figure": "held-out gene metrics"},
        ),
        thinning=report(
            "results/benchmark/{bsample}/figures/thinning.png",
            caption="../report/benchmark_thinning.rst",
            category="Benchmark",
            subcategory="{bsample}",
            labels={"sample": "{bsample}", "figure": "recovery vs capture rate"},
        ),
        maps=report(
            "results/benchmark/{bsample}/figures/spatial_maps.png",
            caption="../report/benchmark_spatial_maps.rst",
            category="Benchmark",
            subcategory="{bsample}",
            labels={"sample": "{bsample}", "figure": "spatial maps"},
        ),
    log:
        "logs/benchmark/{bsample}/figures.log",
    benchmark:
        "benchmarks/benchmark/{bsample}/figures.tsv"
    conda:
        "../../envs/ccc.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        methods=config["benchmark"]["methods"],
        n_genes=config["benchmark"]["plot"]["n_genes"],
        p=config["benchmark"]["ccc"]["p"][0],
        seed=config["benchmark"]["ccc"]["seeds"][0],
    script:
        "../../scripts/benchmark_figures.py"


rule benchmark_summary:
    input:
        expand("results/benchmark/{bsample}/summary.tsv", bsample=benchmark_samples()),
    output:
        summary=report(
            "results/benchmark/summary.tsv",
            caption="../report/benchmark_summary.rst",
            category="Benchmark",
            labels={"table": "summary"},
        ),
        headline="results/benchmark/headline.tsv",
    log:
        "logs/benchmark/summary.log",
    benchmark:
        "benchmarks/benchmark/summary.tsv"
    conda:
        "../../envs/commst.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        p=config["benchmark"]["ccc"]["p"][0],
        null=config["ccc"]["null_model"],
    script:
        "../../scripts/benchmark_summary.py"


rule benchmark:
    input:
        get_benchmark_output(),
