rule impute:
    input:
        unpack(get_impute_inputs),
    output:
        "results/{sample}/imputed.h5ad",
    log:
        "logs/{sample}/impute.log",
    benchmark:
        "benchmarks/{sample}/impute.tsv"
    conda:
        "../../envs/model.yaml"
    threads: 2
    resources:
        mem_mb=lambda wc, input, attempt: max(4000, 10 * input.size_mb) * attempt,
        runtime=60,
    params:
        method=config["impute"]["method"],
        seed=config["impute"]["seed"],
        method_params=impute_params(),
        config=config,
    script:
        "../../scripts/impute.py"
