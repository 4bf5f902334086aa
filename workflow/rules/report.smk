rule report_figures:
    input:
        imputed="results/{sample}/imputed.h5ad",
        bivariate="results/{sample}/ccc/bivariate.tsv",
        spatial_celltype="results/{sample}/ccc/rank_aggregate.tsv",
        reference_celltype="results/{sample}/ccc/reference_rank_aggregate.tsv",
        warnings=[
            "results/{sample}/prepared/warnings.tsv",
            "results/{sample}/ccc/warnings.tsv",
            "results/{sample}/ccc/reference_warnings.tsv",
        ],
    output:
        spatial=report(
            "results/{sample}/report/spatial_lr_genes.png",
            caption="../report/spatial_lr_genes.rst",
            category="Imputed LR genes",
            labels={"sample": "{sample}", "figure": "spatial maps"},
        ),
        interactions=report(
            "results/{sample}/report/top_interactions.png",
            caption="../report/top_interactions.rst",
            category="Communication",
            labels={"sample": "{sample}", "figure": "top interactions"},
        ),
        warnings=report(
            "results/{sample}/report/warnings.tsv",
            caption="../report/warnings.rst",
            category="Warnings",
            labels={"sample": "{sample}", "table": "warnings"},
        ),
    log:
        "logs/{sample}/report_figures.log",
    benchmark:
        "benchmarks/{sample}/report_figures.tsv"
    conda:
        "../../envs/ccc.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        n_genes=config["report"]["n_genes"],
        n_interactions=config["report"]["n_interactions"],
    script:
        "../../scripts/report_figures.py"
