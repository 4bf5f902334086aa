# The report's figures and tables (input functions in report_common.smk).


include: "report_common.smk"


rule report_figures:
    input:
        imputed="results/{sample}/{method}/imputed.h5ad",
        bivariate="results/{sample}/{method}/ccc/bivariate.tsv",
        spatial_celltype="results/{sample}/{method}/ccc/rank_aggregate.tsv",
        reference_celltype="results/{sample}/ccc/reference_rank_aggregate.tsv",
        warnings=get_warnings_tables,
    output:
        spatial=report(
            "results/{sample}/{method}/report/spatial_lr_genes.png",
            caption="../report/spatial_lr_genes.rst",
            category="Imputed LR genes",
            subcategory="top LR genes",
            labels={
                "sample": "{sample}",
                "method": "{method}",
                "figure": "spatial maps",
            },
        ),
        interactions=report(
            "results/{sample}/{method}/report/top_interactions.png",
            caption="../report/top_interactions.rst",
            category="Communication",
            subcategory="spatial LR pairs",
            labels={
                "sample": "{sample}",
                "method": "{method}",
                "figure": "top interactions",
            },
        ),
        # shown in the report as warnings.html (rule report_run)
        warnings="results/{sample}/{method}/report/warnings.tsv",
    log:
        "logs/{sample}/{method}/report_figures.log",
    benchmark:
        "benchmarks/{sample}/{method}/report_figures.tsv"
    wildcard_constraints:
        method=IMPUTE_METHOD,
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
        imputed="results/{sample}/{method}/imputed.h5ad",
        bivariate="results/{sample}/{method}/ccc/bivariate.tsv",
        local_scores="results/{sample}/{method}/ccc/local_scores.h5ad",
        moran="results/{sample}/{method}/ccc/moran.tsv",
    output:
        maps=report(
            "results/{sample}/{method}/report/interaction_maps.png",
            caption="../report/interaction_maps.rst",
            category="Communication",
            subcategory="spatial LR pairs",
            labels={
                "sample": "{sample}",
                "method": "{method}",
                "figure": "interaction maps",
            },
        ),
        measured=report(
            "results/{sample}/{method}/report/imputed_vs_measured.png",
            caption="../report/imputed_vs_measured.rst",
            category="Communication",
            subcategory="imputed vs measured",
            labels={
                "sample": "{sample}",
                "method": "{method}",
                "figure": "imputed vs measured",
            },
        ),
        moran=report(
            "results/{sample}/{method}/report/moran_inflation.png",
            caption="../report/moran_inflation.rst",
            category="Communication",
            subcategory="imputed vs measured",
            labels={
                "sample": "{sample}",
                "method": "{method}",
                "figure": "Moran's I inflation",
            },
        ),
    log:
        "logs/{sample}/{method}/report_communication.log",
    benchmark:
        "benchmarks/{sample}/{method}/report_communication.tsv"
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
        "../../scripts/report_communication.py"


rule report_celltype_dotplot:
    input:
        table="results/{sample}/{method}/ccc/{celltype}.tsv",
    output:
        report(
            "results/{sample}/{method}/report/dotplot_spots_{celltype}.png",
            caption="../report/celltype_dotplot.rst",
            category="Communication",
            subcategory="label level",
            labels={
                "sample": "{sample}",
                "method": "{method}",
                "figure": "spots {celltype}",
            },
        ),
    log:
        "logs/{sample}/{method}/report_dotplot_spots_{celltype}.log",
    benchmark:
        "benchmarks/{sample}/{method}/report_dotplot_spots_{celltype}.tsv"
    wildcard_constraints:
        method=IMPUTE_METHOD,
        celltype="|".join(get_celltype_methods()),
    conda:
        "../../envs/ccc.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        top_n=config["report"]["n_interactions"],
        side="spots",
    script:
        "../../scripts/report_dotplot.py"


# the reference's label-level tables do not depend on the method: one figure per sample
use rule report_celltype_dotplot as report_reference_dotplot with:
    input:
        table="results/{sample}/ccc/reference_{celltype}.tsv",
    output:
        report(
            "results/{sample}/report/dotplot_reference_{celltype}.png",
            caption="../report/celltype_dotplot.rst",
            category="Communication",
            subcategory="label level",
            labels={
                "sample": "{sample}",
                "method": "reference",
                "figure": "reference {celltype}",
            },
        ),
    log:
        "logs/{sample}/report_dotplot_reference_{celltype}.log",
    benchmark:
        "benchmarks/{sample}/report_dotplot_reference_{celltype}.tsv"
    wildcard_constraints:
        celltype="|".join(get_celltype_methods()),
    params:
        top_n=config["report"]["n_interactions"],
        side="reference",


rule report_method_comparison:
    input:
        unpack(get_comparison_inputs),
    output:
        figure=report(
            "results/{sample}/report/method_comparison.png",
            caption="../report/method_comparison.rst",
            category="Method comparison",
            labels={"sample": "{sample}", "figure": "methods compared"},
        ),
        table=report(
            "results/{sample}/report/method_comparison.html",
            caption="../report/method_comparison_table.rst",
            category="Method comparison",
            labels={"sample": "{sample}", "table": "methods compared"},
        ),
    log:
        "logs/{sample}/report_method_comparison.log",
    benchmark:
        "benchmarks/{sample}/report_method_comparison.tsv"
    conda:
        "../../envs/ccc.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input, attempt: max(4000, 4 * input.size_mb) * attempt,
        runtime=20,
    params:
        methods=impute_methods(),
        n_top=config["report"]["n_interactions"],
    script:
        "../../scripts/report_method_comparison.py"
