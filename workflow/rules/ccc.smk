# Communication: the calibrated spatial bivariate test on the data as measured (ccc_measured)
# and on the imputed spots (ccc_spatial, which marks pairs significant only after imputation),
# and the cell-type-level LIANA+ methods on spot labels and on the reference.


rule ccc_measured:
    input:
        imputed="results/{sample}/{method}/imputed.h5ad",
        spatial="results/{sample}/prepared/spatial.h5ad",
        lr=get_lr_resource,
    output:
        bivariate="results/{sample}/{method}/ccc/bivariate_measured.tsv",
        moran="results/{sample}/{method}/ccc/moran.tsv",  # in the report as moran.html (report_run)
        warnings="results/{sample}/{method}/ccc/measured_warnings.tsv",
    log:
        "logs/{sample}/{method}/ccc_measured.log",
    benchmark:
        "benchmarks/{sample}/{method}/ccc_measured.tsv"
    wildcard_constraints:
        method=IMPUTE_METHOD,
    conda:
        "../../envs/ccc.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input, attempt: max(4000, 20 * input.size_mb) * attempt,
        runtime=60,
    params:
        ccc=ccc_options(*CCC_SPATIAL_OPTIONS),
        seed=config["impute"]["seed"],
    script:
        "../../scripts/ccc_measured.py"


rule ccc_spatial:
    input:
        imputed="results/{sample}/{method}/imputed.h5ad",
        measured="results/{sample}/{method}/ccc/bivariate_measured.tsv",
        lr=get_lr_resource,
    output:
        bivariate="results/{sample}/{method}/ccc/bivariate.tsv",  # in the report as bivariate.html (report_run)
        local_scores="results/{sample}/{method}/ccc/local_scores.h5ad",
        celltype=expand(
            "results/{{sample}}/{{method}}/ccc/{celltype}.tsv",
            celltype=get_celltype_methods(),
        ),
        warnings="results/{sample}/{method}/ccc/warnings.tsv",
    log:
        "logs/{sample}/{method}/ccc_spatial.log",
    benchmark:
        "benchmarks/{sample}/{method}/ccc_spatial.tsv"
    wildcard_constraints:
        method=IMPUTE_METHOD,
    conda:
        "../../envs/ccc.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input, attempt: max(4000, 20 * input.size_mb) * attempt,
        runtime=60,
    params:
        ccc=ccc_options(*CCC_SPATIAL_OPTIONS, *CCC_CELLTYPE_OPTIONS),
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
            "results/{{sample}}/ccc/reference_{celltype}.tsv",
            celltype=get_celltype_methods(),
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
        ccc=ccc_options(*CCC_CELLTYPE_OPTIONS),
        methods=get_celltype_methods(),
        seed=config["impute"]["seed"],
    script:
        "../../scripts/ccc_reference.py"
