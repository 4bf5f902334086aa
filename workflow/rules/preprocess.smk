rule preprocess:
    input:
        unpack(get_preprocess_inputs),
    output:
        spatial="results/{sample}/prepared/spatial.h5ad",
        reference="results/{sample}/prepared/reference.h5ad",
        genes="results/{sample}/prepared/genes.json",
        warnings="results/{sample}/prepared/warnings.tsv",
    log:
        "logs/{sample}/preprocess.log",
    benchmark:
        "benchmarks/{sample}/preprocess.tsv"
    conda:
        "../../envs/commst.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input, attempt: max(4000, 20 * input.size_mb) * attempt,
        runtime=30,
    params:
        sample=get_sample_params,
        # max_memory_gb only sets the memory check (the script reads it from the config):
        # leaving it out of params keeps a change of it from rerunning the job
        preprocess={
            k: v for k, v in config["preprocess"].items() if k != "max_memory_gb"
        },
    script:
        "../../scripts/preprocess.py"
