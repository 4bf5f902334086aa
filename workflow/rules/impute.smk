# One job per sample and method: the primary (impute: method:) and each of impute: compare:,
# each in its own tree results/{sample}/{method}/ so that both are kept.


rule impute:
    input:
        unpack(get_impute_inputs),
    output:
        imputed="results/{sample}/{method}/imputed.h5ad",
        quality="results/{sample}/{method}/quality.tsv",
    log:
        "logs/{sample}/{method}/impute.log",
    benchmark:
        "benchmarks/{sample}/{method}/impute.tsv"
    wildcard_constraints:
        method=IMPUTE_METHOD,
    conda:
        impute_env
    threads: 2
    resources:
        mem_mb=lambda wc, input, attempt: max(4000, 10 * input.size_mb) * attempt,
        runtime=60,
    # only the config this job uses: editing report:, ccc:, benchmark:, another method's settings
    # or the list of methods compared reruns nothing here
    params:
        method="{method}",
        seed=config["impute"]["seed"],
        heldout_rounds=config["impute"]["heldout_rounds"],
        method_params=impute_params,
        provenance=impute_provenance,
    script:
        "../../scripts/impute.py"
