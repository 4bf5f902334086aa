# Priors per species: STRING PPI edges, NicheNet ligand -> target matrix and a manifest.
# The LR table (rule lr_resource) comes first: preprocess and CCC need it too. With
# `priors: source: bundled` everything is built offline from resources/priors/bundled;
# with `download` the official STRING v12 and NicheNet v2 files are fetched first.


include: "priors_common.smk"


localrules:
    priors_download_string,
    priors_download_nichenet,


rule lr_resource:
    input:
        unpack(get_custom_lr_table),
    output:
        "results/priors/{species}/lr_resource.tsv",
    log:
        "logs/priors/{species}/lr_resource.log",
    benchmark:
        "benchmarks/priors/{species}/lr_resource.tsv"
    conda:
        "../../envs/commst.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        name=config["lr_resource"]["name"],
    script:
        "../../scripts/lr_resource.py"


rule priors_download_string:
    output:
        links=priors_download_path("{species}", "string_links.txt.gz"),
        info=priors_download_path("{species}", "string_info.txt.gz"),
    log:
        "logs/priors/{species}/download_string.log",
    benchmark:
        "benchmarks/priors/{species}/download_string.tsv"
    retries: config["priors"]["download"]["rule_retries"]
    conda:
        "../../envs/commst.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=60,
    params:
        urls=lambda wc: {
            "links": config["priors"]["string"][wc.species]["links_url"],
            "info": config["priors"]["string"][wc.species]["info_url"],
        },
        sha256=lambda wc: get_download_hashes(wc.species)["string"],
        download=config["priors"]["download"],
    script:
        "../../scripts/priors_download.py"


rule priors_download_nichenet:
    output:
        rds=priors_download_path("{species}", "ligand_target_matrix.rds"),
    log:
        "logs/priors/{species}/download_nichenet.log",
    benchmark:
        "benchmarks/priors/{species}/download_nichenet.tsv"
    retries: config["priors"]["download"]["rule_retries"]
    conda:
        "../../envs/commst.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=60,
    params:
        urls=lambda wc: {"rds": config["priors"]["nichenet"][wc.species]["url"]},
        sha256=lambda wc: get_download_hashes(wc.species)["nichenet"],
        download=config["priors"]["download"],
    script:
        "../../scripts/priors_download.py"


rule priors_ppi:
    input:
        unpack(get_string_inputs),
    output:
        edges="results/priors/{species}/ppi_edges.parquet",
        meta="results/priors/{species}/ppi_edges.parquet.json",
    log:
        "logs/priors/{species}/ppi.log",
    benchmark:
        "benchmarks/priors/{species}/ppi.tsv"
    conda:
        "../../envs/commst.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: (
            3000 if config["priors"]["source"] == "bundled" else 12000
        )
        * attempt,
        runtime=30,
    params:
        source=config["priors"]["source"],
        # re-checked before use: a cached download must still be the file the config names
        sha256=lambda wc: get_download_hashes(wc.species)["string"],
        min_score=config["priors"]["string"]["min_score"],
        version=config["priors"]["string"]["version"],
        url=lambda wc: config["priors"]["string"][wc.species]["links_url"],
    script:
        "../../scripts/priors_ppi.py"


rule priors_ligand_target:
    input:
        unpack(get_nichenet_inputs),
        unpack(get_custom_lr_table),
    output:
        matrix="results/priors/{species}/ligand_target.npz",
        meta="results/priors/{species}/ligand_target.npz.json",
    log:
        "logs/priors/{species}/ligand_target.log",
    benchmark:
        "benchmarks/priors/{species}/ligand_target.tsv"
    conda:
        "../../envs/commst.yaml"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 6000 * attempt,
        runtime=30,
    params:
        source=config["priors"]["source"],
        sha256=lambda wc: get_download_hashes(wc.species)["nichenet"],
        lr_resource=config["lr_resource"]["name"],
        builder=config["priors"]["nichenet"]["builder"],
        url=lambda wc: config["priors"]["nichenet"][wc.species]["url"],
    script:
        "../../scripts/priors_ligand_target.py"


rule priors_manifest:
    input:
        lr="results/priors/{species}/lr_resource.tsv",
        ppi="results/priors/{species}/ppi_edges.parquet",
        ppi_meta="results/priors/{species}/ppi_edges.parquet.json",
        ligand_target="results/priors/{species}/ligand_target.npz",
        ligand_target_meta="results/priors/{species}/ligand_target.npz.json",
    output:
        "results/priors/{species}/manifest.json",
    log:
        "logs/priors/{species}/manifest.log",
    benchmark:
        "benchmarks/priors/{species}/manifest.tsv"
    conda:
        "../../envs/commst.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        lr_resource=config["lr_resource"]["name"],
        priors=config["priors"],
    script:
        "../../scripts/priors_manifest.py"
