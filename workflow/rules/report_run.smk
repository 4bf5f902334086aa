# What a sample's run did and how far it can be trusted: overview, held-out quality, model
# selection, priors, imputed-vs-observed and uncertainty maps, and the report's tables as HTML
# (a .tsv result is only a download link in Snakemake's report; the TSVs stay the results).


rule report_run:
    input:
        imputed="results/{sample}/{method}/imputed.h5ad",
        quality="results/{sample}/{method}/quality.tsv",
        reference="results/{sample}/prepared/reference.h5ad",
        benchmark="benchmarks/{sample}/{method}/impute.tsv",
        warnings=get_warnings_tables,
        bivariate="results/{sample}/{method}/ccc/bivariate.tsv",
        moran="results/{sample}/{method}/ccc/moran.tsv",
        manifest=lambda wc: f"results/priors/{get_species(wc)}/manifest.json",
        lr=get_lr_resource,
    output:
        overview=report(
            "results/{sample}/{method}/report/overview.html",
            caption="../report/overview.rst",
            category="1. Overview",
            subcategory="overview",
            labels={"sample": "{sample}", "method": "{method}", "table": "overview"},
        ),
        priors=report(
            "results/{sample}/{method}/report/priors.html",
            caption="../report/priors.rst",
            category="1. Overview",
            subcategory="priors used",
            labels={"sample": "{sample}", "method": "{method}", "table": "priors"},
        ),
        quality=report(
            "results/{sample}/{method}/report/quality.html",
            caption="../report/quality_table.rst",
            category="2. Quality",
            subcategory="held-out genes",
            labels={"sample": "{sample}", "method": "{method}", "result": "verdict"},
        ),
        quality_figure=report(
            "results/{sample}/{method}/report/quality.png",
            caption="../report/quality_figure.rst",
            category="2. Quality",
            subcategory="held-out genes",
            labels={
                "sample": "{sample}",
                "method": "{method}",
                "result": "per-gene PCC",
            },
        ),
        selection=report(
            "results/{sample}/{method}/report/selection.html",
            caption="../report/selection.rst",
            category="2. Quality",
            subcategory="model selection",
            labels={"sample": "{sample}", "method": "{method}", "table": "candidates"},
        ),
        observed=report(
            "results/{sample}/{method}/report/imputed_vs_observed.png",
            caption="../report/imputed_vs_observed.rst",
            category="Imputed LR genes",
            subcategory="imputed vs observed",
            labels={
                "sample": "{sample}",
                "method": "{method}",
                "figure": "measured LR genes",
            },
        ),
        uncertainty=report(
            "results/{sample}/{method}/report/uncertainty_maps.png",
            caption="../report/uncertainty_maps.rst",
            category="Imputed LR genes",
            subcategory="uncertainty and guard",
            labels={
                "sample": "{sample}",
                "method": "{method}",
                "figure": "uncertainty and guard",
            },
        ),
        warnings=report(
            "results/{sample}/{method}/report/warnings.html",
            caption="../report/warnings.rst",
            category="Warnings",
            labels={"sample": "{sample}", "method": "{method}", "table": "warnings"},
        ),
        bivariate=report(
            "results/{sample}/{method}/report/bivariate.html",
            caption="../report/bivariate_table.rst",
            category="Communication",
            subcategory="spatial LR pairs",
            labels={"sample": "{sample}", "method": "{method}", "table": "LR pairs"},
        ),
        moran=report(
            "results/{sample}/{method}/report/moran.html",
            caption="../report/moran_table.rst",
            category="Communication",
            subcategory="imputed vs measured",
            labels={"sample": "{sample}", "method": "{method}", "table": "Moran's I"},
        ),
    log:
        "logs/{sample}/{method}/report_run.log",
    benchmark:
        "benchmarks/{sample}/{method}/report_run.tsv"
    wildcard_constraints:
        method=IMPUTE_METHOD,
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
