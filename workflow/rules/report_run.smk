# What a sample's run did and how far it can be trusted: overview, held-out quality, model
# selection, priors, imputed-vs-observed and uncertainty maps, and the report's tables as HTML
# (a .tsv result is only a download link in Snakemake's report; the TSVs stay the results).


rule report_run:
    input:
        imputed="results/{sample}/imputed.h5ad",
        quality="results/{sample}/quality.tsv",
        reference="results/{sample}/prepared/reference.h5ad",
        benchmark="benchmarks/{sample}/impute.tsv",
        warnings=get_warnings_tables,
        bivariate="results/{sample}/ccc/bivariate.tsv",
        moran="results/{sample}/ccc/moran.tsv",
        manifest=lambda wc: f"results/priors/{get_species(wc)}/manifest.json",
        lr=get_lr_resource,
    output:
        overview=report(
            "results/{sample}/report/overview.html",
            caption="../report/overview.rst",
            category="1. Overview",
            subcategory="overview",
            labels={"sample": "{sample}", "table": "overview"},
        ),
        priors=report(
            "results/{sample}/report/priors.html",
            caption="../report/priors.rst",
            category="1. Overview",
            subcategory="priors used",
            labels={"sample": "{sample}", "table": "priors"},
        ),
        quality=report(
            "results/{sample}/report/quality.html",
            caption="../report/quality_table.rst",
            category="2. Quality",
            subcategory="held-out genes",
            labels={"sample": "{sample}", "result": "verdict"},
        ),
        quality_figure=report(
            "results/{sample}/report/quality.png",
            caption="../report/quality_figure.rst",
            category="2. Quality",
            subcategory="held-out genes",
            labels={"sample": "{sample}", "result": "per-gene PCC"},
        ),
        selection=report(
            "results/{sample}/report/selection.html",
            caption="../report/selection.rst",
            category="2. Quality",
            subcategory="model selection",
            labels={"sample": "{sample}", "table": "candidates"},
        ),
        observed=report(
            "results/{sample}/report/imputed_vs_observed.png",
            caption="../report/imputed_vs_observed.rst",
            category="Imputed LR genes",
            subcategory="imputed vs observed",
            labels={"sample": "{sample}", "figure": "measured LR genes"},
        ),
        uncertainty=report(
            "results/{sample}/report/uncertainty_maps.png",
            caption="../report/uncertainty_maps.rst",
            category="Imputed LR genes",
            subcategory="uncertainty and guard",
            labels={"sample": "{sample}", "figure": "uncertainty and guard"},
        ),
        warnings=report(
            "results/{sample}/report/warnings.html",
            caption="../report/warnings.rst",
            category="Warnings",
            labels={"sample": "{sample}", "table": "warnings"},
        ),
        bivariate=report(
            "results/{sample}/report/bivariate.html",
            caption="../report/bivariate_table.rst",
            category="Communication",
            subcategory="spatial LR pairs",
            labels={"sample": "{sample}", "table": "LR pairs"},
        ),
        moran=report(
            "results/{sample}/report/moran.html",
            caption="../report/moran_table.rst",
            category="Communication",
            subcategory="imputed vs measured",
            labels={"sample": "{sample}", "table": "Moran's I"},
        ),
    log:
        "logs/{sample}/report_run.log",
    benchmark:
        "benchmarks/{sample}/report_run.tsv"
    conda:
        "../../envs/ccc.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        n_maps=config["report"]["n_maps"],
    script:
        "../../scripts/report_run.py"
