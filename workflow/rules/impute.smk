rule impute:
    input:
        unpack(get_impute_inputs),
    output:
        imputed="results/{sample}/imputed.h5ad",
        quality="results/{sample}/quality.tsv",
    log:
        "logs/{sample}/impute.log",
    benchmark:
        "benchmarks/{sample}/impute.tsv"
    conda:
        impute_env()
    threads: 2
    resources:
        mem_mb=lambda wc, input, attempt: max(4000, 10 * input.size_mb) * attempt,
        runtime=60,
    # only the config this job uses: editing report:, ccc:, benchmark: or another method's
    # settings reruns nothing here
    params:
        method=config["impute"]["method"],
        seed=config["impute"]["seed"],
        method_params=impute_params(),
        provenance=impute_provenance(),
    script:
        "../../scripts/impute.py"
