rule train:
    input:
        unpack(get_priors),
        spatial="results/{sample}/prepared/spatial.h5ad",
        reference="results/{sample}/prepared/reference.h5ad",
    output:
        model="results/{sample}/model/commst.pt",
        history="results/{sample}/model/history.tsv",
        curve=report(
            "results/{sample}/model/training_curve.png",
            caption="../report/training_curve.rst",
            category="Model",
            labels={"sample": "{sample}", "figure": "training curve"},
        ),
    log:
        "logs/{sample}/train.log",
    benchmark:
        "benchmarks/{sample}/train.tsv"
    conda:
        "../../envs/model.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=lambda wc, input, attempt: max(4000, 10 * input.size_mb) * attempt,
        runtime=120,
    params:
        model=config.get("model", {}),
        seed=config["impute"]["seed"],
        num_threads=torch_threads(),
        species=lambda wc: get_species(wc),
        # not an output: Snakemake would delete it before a rerun, and resuming needs it
        checkpoint_dir=lambda wc: f"results/{wc.sample}/model/checkpoints",
    script:
        "../../scripts/train.py"
