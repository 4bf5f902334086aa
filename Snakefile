from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/priors.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/impute.smk"
include: "workflow/rules/ccc.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/report_run.smk"
include: "workflow/rules/benchmark.smk"
include: "workflow/rules/scale.smk"


rule all:
    default_target: True
    input:
        get_final_output(),
