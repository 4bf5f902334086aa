# Helpers of the priors rules: where the official files are downloaded to, their configured
# SHA-256 (checked before any transfer) and the inputs of the priors builders.


def priors_download_path(species, name):
    return f"{config['priors']['download_dir']}/{species}/{name}"


def get_download_hashes(species):
    """Configured SHA-256 of the official files of ``species``, keyed like the download rules' outputs."""
    if config["priors"]["source"] != "download":
        return {"string": {}, "nichenet": {}}
    string = config["priors"]["string"][species]
    return {
        "string": {"links": string["links_sha256"], "info": string["info_sha256"]},
        "nichenet": {"rds": config["priors"]["nichenet"][species]["sha256"]},
    }


def check_download_hashes():
    """With priors: source: download, stop before any transfer when a file's SHA-256 is empty."""
    if config["priors"]["source"] != "download":
        return
    from commst.priors.download import missing_hashes, missing_hashes_message

    missing = missing_hashes(config["priors"], sorted(set(samples["species"])))
    if missing:
        raise WorkflowError(
            f"config {', '.join(map(str, workflow.configfiles)) or '(command line)'}: "
            + missing_hashes_message(missing)
        )


def get_string_inputs(wildcards):
    if config["priors"]["source"] != "download":
        return {}
    return {
        "links": priors_download_path(wildcards.species, "string_links.txt.gz"),
        "info": priors_download_path(wildcards.species, "string_info.txt.gz"),
    }


def get_nichenet_inputs(wildcards):
    if config["priors"]["source"] != "download":
        return {}
    return {"rds": priors_download_path(wildcards.species, "ligand_target_matrix.rds")}


check_download_hashes()
