rule ccc_spatial:
    input:
        imputed="results/{sample}/imputed.h5ad",
        lr=get_lr_resource,
    output:
        bivariate="results/{sample}/ccc/bivariate.tsv",
        celltype=expand(
            "results/{{sample}}/ccc/{method}.tsv", method=get_celltype_methods()
        ),
        warnings="results/{sample}/ccc/warnings.tsv",
    log:
        "logs/{sample}/ccc_spatial.log",
    benchmark:
        "benchmarks/{sample}/ccc_spatial.tsv"
    conda:
        "../../envs/ccc.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input, attempt: max(4000, 20 * input.size_mb) * attempt,
        runtime=60,
    params:
        ccc=config["ccc"],
        methods=get_celltype_methods(),
        seed=config["impute"]["seed"],
    script:
        "../../scripts/ccc_spatial.py"


rule ccc_reference:
    input:
        reference="results/{sample}/prepared/reference.h5ad",
        lr=get_lr_resource,
    output:
        tables=expand(
            "results/{{sample}}/ccc/reference_{method}.tsv",
            method=get_celltype_methods(),
        ),
        warnings="results/{sample}/ccc/reference_warnings.tsv",
    log:
        "logs/{sample}/ccc_reference.log",
    benchmark:
        "benchmarks/{sample}/ccc_reference.tsv"
    conda:
        "../../envs/ccc.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input, attempt: max(4000, 20 * input.size_mb) * attempt,
        runtime=60,
    params:
        ccc=config["ccc"],
        methods=get_celltype_methods(),
        seed=config["impute"]["seed"],
    script:
        "../../scripts/ccc_reference.py"
