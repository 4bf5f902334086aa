# Input functions of the report rules (report.smk, report_run.smk)


def get_comparison_inputs(wildcards):
    """Each method's imputed spots, quality check and spatial LR pairs (primary first)."""
    return {
        kind: [
            f"results/{wildcards.sample}/{method}/{name}" for method in impute_methods()
        ]
        for kind, name in (
            ("imputed", "imputed.h5ad"),
            ("quality", "quality.tsv"),
            ("bivariate", "ccc/bivariate.tsv"),
        )
    }


def get_warnings_tables(wildcards):
    """Every step's warnings table of a sample's method (preprocess, ccc_measured, ccc_spatial, ccc_reference)."""
    return [
        f"results/{wildcards.sample}/prepared/warnings.tsv",
        f"results/{wildcards.sample}/{wildcards.method}/ccc/measured_warnings.tsv",
        f"results/{wildcards.sample}/{wildcards.method}/ccc/warnings.tsv",
        f"results/{wildcards.sample}/ccc/reference_warnings.tsv",
    ]
