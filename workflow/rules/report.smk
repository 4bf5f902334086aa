rule report_figures:
    input:
        imputed="results/{sample}/imputed.h5ad",
        bivariate="results/{sample}/ccc/bivariate.tsv",
        spatial_celltype="results/{sample}/ccc/rank_aggregate.tsv",
        reference_celltype="results/{sample}/ccc/reference_rank_aggregate.tsv",
        warnings=get_warnings_tables,
    output:
        spatial=report(
            "results/{sample}/report/spatial_lr_genes.png",
            caption="../report/spatial_lr_genes.rst",
            category="Imputed LR genes",
            subcategory="top LR genes",
            labels={"sample": "{sample}", "figure": "spatial maps"},
        ),
        interactions=report(
            "results/{sample}/report/top_interactions.png",
            caption="../report/top_interactions.rst",
            category="Communication",
            subcategory="spatial LR pairs",
            labels={"sample": "{sample}", "figure": "top interactions"},
        ),
        # shown in the report as warnings.html (rule report_run)
        warnings="results/{sample}/report/warnings.tsv",
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


rule report_communication:
    input:
        imputed="results/{sample}/imputed.h5ad",
        bivariate="results/{sample}/ccc/bivariate.tsv",
        local_scores="results/{sample}/ccc/local_scores.h5ad",
        moran="results/{sample}/ccc/moran.tsv",
    output:
        maps=report(
            "results/{sample}/report/interaction_maps.png",
            caption="../report/interaction_maps.rst",
            category="Communication",
            subcategory="spatial LR pairs",
            labels={"sample": "{sample}", "figure": "interaction maps"},
        ),
        measured=report(
            "results/{sample}/report/imputed_vs_measured.png",
            caption="../report/imputed_vs_measured.rst",
            category="Communication",
            subcategory="imputed vs measured",
            labels={"sample": "{sample}", "figure": "imputed vs measured"},
        ),
        moran=report(
            "results/{sample}/report/moran_inflation.png",
            caption="../report/moran_inflation.rst",
            category="Communication",
            subcategory="imputed vs measured",
            labels={"sample": "{sample}", "figure": "Moran's I inflation"},
        ),
    log:
        "logs/{sample}/report_communication.log",
    benchmark:
        "benchmarks/{sample}/report_communication.tsv"
    conda:
        "../../envs/ccc.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        n_maps=config["report"]["n_maps"],
    script:
        "../../scripts/report_communication.py"


rule report_celltype_dotplot:
    input:
        table=lambda wc: (
            f"results/{wc.sample}/ccc/reference_{wc.method}.tsv"
            if wc.side == "reference"
            else f"results/{wc.sample}/ccc/{wc.method}.tsv"
        ),
    output:
        report(
            "results/{sample}/report/dotplot_{side}_{method}.png",
            caption="../report/celltype_dotplot.rst",
            category="Communication",
            subcategory="label level",
            labels={"sample": "{sample}", "figure": "{side} {method}"},
        ),
    log:
        "logs/{sample}/report_dotplot_{side}_{method}.log",
    benchmark:
        "benchmarks/{sample}/report_dotplot_{side}_{method}.tsv"
    wildcard_constraints:
        side="spots|reference",
        method="|".join(get_celltype_methods()),
    conda:
        "../../envs/ccc.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        top_n=config["report"]["n_interactions"],
    script:
        "../../scripts/report_dotplot.py"
