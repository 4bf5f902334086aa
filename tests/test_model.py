"""The CommST model on synthetic data where the answer is known, and on the bundled lymph node."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from synthetic import PLANTED_LR, planted_pair

import commst.pp as pp
from commst.model import CommSTConfig, TrainedCommST, impute_commst, plot_history, train
from commst.model._penalties import gene_graph_edges, laplacian_penalty, nichenet_penalty

#: Small, fast settings for tests (a few seconds per training on one core).
FAST = dict(hidden=64, latent_dim=8, epochs=25, pretrain_epochs=8, batch_size=64, device="cpu", num_threads=1)


def _with_type2_ligand(spatial, ref, *, drop_type2_spots: bool):
    """Add ``LIGC``, expressed only by reference type 2 and never measured in space."""
    rng = np.random.default_rng(1)
    is2 = (ref.obs["cell_type"] == "type2").to_numpy()
    ligc = np.where(is2, rng.poisson(6.0, ref.n_obs), 0).astype(np.float32)
    ref = ref.copy()
    import anndata as ad

    ref = ad.concat(
        [ref, ad.AnnData(X=sp.csr_matrix(ligc[:, None]), obs=ref.obs[[]], var=pd.DataFrame(index=["LIGC"]))],
        axis=1,
        merge="same",
    )
    ref.obs["cell_type"] = pd.Categorical(np.repeat(["type0", "type1", "type2"], ref.n_obs // 3))
    if drop_type2_spots:
        spatial = spatial[spatial.obs["true_type"] != "type2"].copy()
    return spatial, ref


@pytest.fixture(scope="module")
def prepared():
    spatial, ref = planted_pair()
    spatial, ref = _with_type2_ligand(spatial, ref, drop_type2_spots=False)
    lig, rec = PLANTED_LR
    return pp.prepare(spatial, ref, (lig | {"LIGC"}, rec), min_shared_genes=10)


@pytest.fixture(scope="module")
def trained(prepared):
    s, r = prepared
    genes = s.uns["commst"]["genes"]
    model = train(
        s, r, targets=genes["lr_targets"], input_genes=genes["input"], config=CommSTConfig(**FAST), progress=False
    )
    return model


def _lognorm(result, spatial):
    lib = spatial.obs["total_counts"].to_numpy()
    return pd.DataFrame(np.log1p(result.counts / lib[:, None] * 1e4), columns=result.targets, index=spatial.obs_names)


def test_planted_ligand_recovered_only_in_its_cell_type(prepared, trained):
    s, r = prepared
    genes = s.uns["commst"]["genes"]
    assert set(genes["lr_targets"]) == {"LIGA", "RECB", "RECALL", "LIGC"}
    res = impute_commst(s, r, targets=genes["lr_targets"], input_genes=genes["input"], model=trained)
    x = _lognorm(res, s)
    true = s.obs["true_type"].to_numpy()
    for gene, home in (("LIGA", "type0"), ("RECB", "type1"), ("LIGC", "type2")):
        inside, outside = x.loc[true == home, gene], x.loc[true != home, gene]
        assert inside.min() > 0.5, gene
        assert inside.mean() > 5 * outside.mean() + 0.5, gene
        # outside its cell type the gene's matched neighbours do not express it: guarded
        j = res.targets.index(gene)
        assert res.guard[true != home, j].mean() > 0.9, gene
        assert res.guard[true == home, j].mean() < 0.05, gene
    # expressed everywhere: never guarded, imputed in every spot
    assert not res.guard[:, res.targets.index("RECALL")].any()
    assert (res.labels.to_numpy() == true).mean() > 0.95
    assert res.uncertainty.shape == res.counts.shape and np.isfinite(res.uncertainty).all()
    hist = trained.history
    assert {"epoch", "train", "val", "ref", "spot", "align", "obs"} <= set(hist.columns)
    assert hist["ref"].iloc[-1] < hist["ref"].iloc[0]


def test_guard_zeroes_gene_absent_from_reference_neighbourhood():
    spatial, ref = planted_pair(seed=3)
    spatial, ref = _with_type2_ligand(spatial, ref, drop_type2_spots=True)
    lig, rec = PLANTED_LR
    # QC as when this test was written (min_counts_cell was 200 then): with the shallow cells kept,
    # 3 of 60 spots match a LIGC-expressing cell among their 30 neighbours under FAST training
    s, r = pp.prepare(spatial, ref, (lig | {"LIGC"}, rec), min_shared_genes=10, min_counts_cell=200)
    genes = s.uns["commst"]["genes"]
    model = train(
        s, r, targets=genes["lr_targets"], input_genes=genes["input"], config=CommSTConfig(**FAST), progress=False
    )
    kw = dict(targets=genes["lr_targets"], input_genes=genes["input"], model=model)
    guarded = impute_commst(s, r, **kw)
    j = guarded.targets.index("LIGC")
    # no spatial spot is of type 2, so no matched neighbour expresses LIGC
    assert guarded.guard[:, j].mean() > 0.95, guarded.guard[:, j].mean()
    assert (guarded.counts[guarded.guard] == 0).all()
    assert guarded.extra["n_guarded"] == guarded.guard.sum()
    unguarded = impute_commst(s, r, guard=False, **kw)
    assert model.config.guard  # an imputation-time setting does not change the model
    assert not unguarded.guard.any()
    assert (unguarded.counts[:, j] > 0).all()  # the decoder alone would have imputed it


def _state_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _kill_after(monkeypatch, epochs: int) -> None:
    """Make training stop with an exception after ``epochs`` epochs, as a killed job would."""
    from commst.model._training_plan import TrainingPlan

    run = TrainingPlan.run_epoch

    def run_or_die(self):
        if self.epoch >= epochs:
            raise KeyboardInterrupt("killed")
        return run(self)

    monkeypatch.setattr(TrainingPlan, "run_epoch", run_or_die)


@pytest.mark.parametrize("max_cells", [None, 64], ids=["every-cell", "subsampled-epochs"])
def test_resume_gives_the_same_model_as_an_uninterrupted_run(prepared, tmp_path, max_cells, monkeypatch, caplog):
    s, r = prepared
    genes = s.uns["commst"]["genes"]
    kw = dict(targets=genes["lr_targets"], input_genes=genes["input"], progress=False)
    cfg = CommSTConfig(**{**FAST, "epochs": 6, "pretrain_epochs": 2, "patience": 100, "max_cells_per_epoch": max_cells})
    full = train(s, r, config=cfg, checkpoint_dir=tmp_path / "a", **kw)
    with monkeypatch.context() as m:
        _kill_after(m, 3)
        with pytest.raises(KeyboardInterrupt):
            train(s, r, config=cfg, checkpoint_dir=tmp_path / "b", **kw)
    assert (tmp_path / "b" / "last.pt").exists()
    with caplog.at_level("INFO", logger="commst.model"):
        resumed = train(s, r, config=cfg, checkpoint_dir=tmp_path / "b", **kw)
    assert "after epoch 3" in caplog.text
    assert len(resumed.history) == 6
    assert _state_equal(full.state, resumed.state)
    pd.testing.assert_frame_equal(full.history, resumed.history)
    # a finished run is returned from its checkpoint without training again
    again = train(s, r, config=cfg, checkpoint_dir=tmp_path / "b", **kw)
    assert _state_equal(again.state, full.state)
    # a checkpoint of other settings is not resumed
    other = train(s, r, config=cfg.replace(seed=5, epochs=2), checkpoint_dir=tmp_path / "b", **kw)
    assert len(other.history) == 2


@pytest.mark.parametrize("change", [{"epochs": 3}, {"patience": 50}], ids=["epochs", "patience"])
def test_checkpoint_of_other_epochs_or_patience_is_not_reused(prepared, tmp_path, change, caplog):
    """A run stopped under other stopping rules is not the run the config describes: start again."""
    s, r = prepared
    genes = s.uns["commst"]["genes"]
    kw = dict(targets=genes["lr_targets"], input_genes=genes["input"], progress=False)
    cfg = CommSTConfig(**{**FAST, "epochs": 5, "pretrain_epochs": 2, "patience": 100})
    train(s, r, config=cfg.replace(**change), checkpoint_dir=tmp_path, **kw)
    with caplog.at_level("INFO", logger="commst.model"):
        model = train(s, r, config=cfg, checkpoint_dir=tmp_path, **kw)
    assert "ignoring checkpoint" in caplog.text and "epochs, patience" in caplog.text
    assert "resumed from" not in caplog.text
    fresh = train(s, r, config=cfg, **kw)
    assert _state_equal(model.state, fresh.state) and len(model.history) == 5


class _Planted:
    """A pickle payload: unpickling it calls ``open(marker, 'w')``, i.e. creates a file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("damage", ["planted-pickle", "truncated", "not-a-checkpoint"])
def test_unsafe_or_corrupt_checkpoint_is_ignored_and_runs_no_code(prepared, tmp_path, damage, caplog):
    s, r = prepared
    genes = s.uns["commst"]["genes"]
    kw = dict(targets=genes["lr_targets"], input_genes=genes["input"], progress=False)
    cfg = CommSTConfig(**{**FAST, "epochs": 3, "pretrain_epochs": 1})
    ckpt, marker = tmp_path / "ckpt" / "last.pt", tmp_path / "payload_ran"
    train(s, r, config=cfg, checkpoint_dir=ckpt.parent, **kw)
    if damage == "planted-pickle":  # what a tampered results/*/model/checkpoints/last.pt holds
        state = torch.load(ckpt, weights_only=True)
        torch.save({**state, "epoch": 1, "history": state["history"][:1], "extra": _Planted(marker)}, ckpt)
    elif damage == "truncated":
        ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    else:
        torch.save({"weights": torch.zeros(2)}, ckpt)
    with caplog.at_level("WARNING", logger="commst.model"):
        model = train(s, r, config=cfg, checkpoint_dir=ckpt.parent, **kw)
    assert not marker.exists(), "loading the checkpoint ran the planted code"
    assert f"ignoring checkpoint {ckpt}" in caplog.text and "training starts again from epoch 0" in caplog.text
    assert _state_equal(model.state, train(s, r, config=cfg, **kw).state) and len(model.history) == 3


def test_planted_model_file_is_refused_and_runs_no_code(trained, tmp_path):
    from commst._errors import CommstInputError

    path, marker = tmp_path / "commst.pt", tmp_path / "payload_ran"
    trained.save(path)
    payload = torch.load(path, weights_only=True)  # a saved model holds only tensors and plain data
    torch.save({**payload, "scaling": _Planted(marker)}, path)
    with pytest.raises(CommstInputError, match="cannot be read as a CommST model") as err:
        TrainedCommST.load(path)
    assert not marker.exists() and "rule train writes a new one" in err.value.fix


def test_no_unsafe_torch_load_in_the_package():
    """Every torch.load of the package goes through safe_load (weights_only=True)."""
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "src" / "commst"
    calls = [(p.name, line) for p in src.rglob("*.py") for line in p.read_text().splitlines() if "torch.load(" in line]
    assert calls == [("_io.py", "    return torch.load(path, map_location=map_location, weights_only=True)")]


def test_epochs_beyond_the_cap_work_on_a_fresh_draw_of_cells_and_spots(prepared):
    """Large data: each epoch trains on max_cells_per_epoch cells and spots, and the soft
    targets and alignment partners of its spots point into that epoch's cells only."""
    from commst.model._data import build_model_data
    from commst.model._training_plan import TrainingPlan

    s, r = prepared
    genes = s.uns["commst"]["genes"]
    cap = 64
    cfg = CommSTConfig(**{**FAST, "pretrain_epochs": 1, "max_cells_per_epoch": cap})
    data = build_model_data(
        s,
        r,
        targets=genes["lr_targets"],
        input_genes=genes["input"],
        lr_focus=True,
        spatial_observed=True,
        input_scaling="modality",
        thinning=True,
        seed=0,
    )
    trainer = TrainingPlan(data, cfg, ppi=None, ligand_target=None, coords=None, device=torch.device("cpu"))
    assert trainer.subsampled and len(trainer.split.train_cells) > cap
    draws = []
    for _ in range(3):
        trainer.run_epoch()
        trainer.epoch += 1
        cells, spots = trainer.epoch_cells, trainer.epoch_spots
        assert len(cells) == cap and len(spots) == cap
        assert set(cells) <= set(trainer.split.train_cells) and set(spots) <= set(trainer.split.train_spots)
        draws.append(set(cells))
        if trainer.epoch > cfg.pretrain_epochs:  # fine-tuning: neighbours of this draw only
            assert np.isin(trainer.nb_idx[spots], cells).all()
            others = np.setdiff1d(np.arange(data.n_spots), spots)
            assert (trainer.nb_idx[others] == -1).all()
            partners = trainer.partner[spots]
            assert np.isin(partners[partners >= 0], cells).all() and (partners >= 0).any()
    assert draws[0] != draws[1] != draws[2]
    # at or below the cap nothing is drawn: every training cell, every epoch
    full = TrainingPlan(
        data,
        cfg.replace(max_cells_per_epoch=None),
        ppi=None,
        ligand_target=None,
        coords=None,
        device=torch.device("cpu"),
    )
    full.run_epoch()
    assert not full.subsampled and np.array_equal(full.epoch_cells, full.split.train_cells)


def test_same_seed_same_result_and_save_load_roundtrip(prepared, trained, tmp_path):
    s, r = prepared
    genes = s.uns["commst"]["genes"]
    kw = dict(targets=genes["lr_targets"], input_genes=genes["input"])
    trained.save(tmp_path / "m.pt")
    loaded = TrainedCommST.load(tmp_path / "m.pt")
    assert _state_equal(trained.state, loaded.state)
    pd.testing.assert_frame_equal(trained.history, loaded.history)
    a = impute_commst(s, r, model=trained, **kw)
    b = impute_commst(s, r, model=loaded, **kw)
    np.testing.assert_array_equal(a.counts, b.counts)
    again = train(s, r, config=trained.config, progress=False, **kw)
    assert _state_equal(again.state, trained.state)
    fig = plot_history(trained.history, tmp_path / "curve.png")
    assert (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG" and len(fig.axes) == 2
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="cannot be read as a CommST model"):
        TrainedCommST.load(tmp_path / "bad.pt")


def test_ablations_and_priors_switch_the_right_terms(prepared):
    s, r = prepared
    genes = s.uns["commst"]["genes"]
    kw = dict(targets=genes["lr_targets"], input_genes=genes["input"], progress=False)
    cfg = CommSTConfig(**{**FAST, "epochs": 4, "pretrain_epochs": 1})
    no_focus = train(s, r, config=cfg.replace(lr_focus=False, spatial_observed=False, thinning=False), **kw)
    assert no_focus.decoded == list(genes["lr_targets"]) + list(genes["input"])
    assert no_focus.observed == [] and "obs" not in no_focus.history
    res = impute_commst(s, r, model=no_focus, targets=genes["lr_targets"], input_genes=genes["input"])
    assert res.targets == list(genes["lr_targets"]) and res.counts.shape == (s.n_obs, len(genes["lr_targets"]))

    ppi = pd.DataFrame(1.0, index=["LIGA", "RECB"], columns=["LIGA", "RECB"])
    lt = pd.DataFrame({"LIGA": [1.0, 0.5]}, index=[genes["input"][0], genes["input"][25]])
    with_priors = train(s, r, config=cfg, ppi=ppi, ligand_target=lt, **kw)
    assert with_priors.observed == ["RECALL"]
    late = with_priors.history[with_priors.history["phase"] == 2]
    assert np.isfinite(late[["ppi", "nichenet"]].to_numpy()).all() and (late["ppi"] > 0).all()
    off = train(s, r, config=cfg.replace(w_ppi=0.0, w_nichenet=0.0), ppi=ppi, ligand_target=lt, **kw)
    assert "ppi" not in off.history and "nichenet" not in off.history


def test_prior_penalties_on_known_values():
    pred = torch.tensor([[0.0, 0.0, 1.0], [1.0, 1.0, 0.0], [2.0, 2.0, 1.0]])
    graph = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=np.float32))
    edges = tuple(torch.as_tensor(a) for a in gene_graph_edges(graph, ["A", "B", "C"]))
    assert float(laplacian_penalty(pred, edges)) == pytest.approx(0.0, abs=1e-6)  # A and B identical
    edges_ac = tuple(
        torch.as_tensor(a)
        for a in gene_graph_edges(pd.DataFrame([[0, 1], [1, 0]], index=["A", "C"], columns=["A", "C"]), ["A", "B", "C"])
    )
    assert float(laplacian_penalty(pred, edges_ac)) > 0.5
    with pytest.raises(ValueError, match="gene graph has shape"):
        gene_graph_edges(sp.eye(2), ["A", "B", "C"])
    received = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    matrix = torch.tensor([[1.0], [2.0]])
    agree = torch.cat([received * 3 + 1, received * 0.5], dim=1)
    assert float(nichenet_penalty(received, matrix, agree)) == pytest.approx(0.0, abs=1e-6)
    assert float(nichenet_penalty(received, matrix, -agree)) == pytest.approx(2.0, abs=1e-6)


def test_bad_settings_and_inputs_are_reported(prepared):
    with pytest.raises(ValueError, match="k_neighbours"):
        CommSTConfig(k_neighbours=0)
    with pytest.raises(ValueError, match="unknown CommST model setting"):
        CommSTConfig.from_dict({"latent": 3})
    s, r = prepared
    genes = s.uns["commst"]["genes"]
    with pytest.raises(ValueError, match="never model inputs"):
        train(
            s, r, targets=["LIGA"], input_genes=genes["input"] + ["LIGA"], config=CommSTConfig(**FAST), progress=False
        )
    with pytest.raises(ValueError, match="not in the reference"):
        train(s, r, targets=["NOPE1"], input_genes=genes["input"], config=CommSTConfig(**FAST), progress=False)
    with pytest.raises(RuntimeError, match="cuda") if not torch.cuda.is_available() else pytest.raises(ValueError):
        train(
            s,
            r,
            targets=["LIGA"],
            input_genes=genes["input"],
            config=CommSTConfig(**{**FAST, "device": "cuda"}),
            progress=False,
        )


def test_lymph_node_held_out_lr_genes_beat_a_shuffled_map(demo_pair):
    """Real data: the 12 most abundant LR genes of the bundled Visium lymph node, held out of
    the spatial data, are imputed with a positive correlation to what Visium measured."""
    spatial, ref = demo_pair
    held_out = [
        "CD81",
        "HLA-DQA1",
        "HLA-F",
        "C3",
        "ARF6",
        "S100A10",
        "SERPING1",
        "IFNGR2",
        "PLSCR1",
        "GSTO1",
        "CD14",
        "CFH",
    ]
    shared = [g for g in spatial.var_names if g in set(ref.var_names)]
    held_out = [g for g in held_out if g in set(shared)]
    assert len(held_out) >= 6
    s, r = pp.prepare(spatial, ref, (set(held_out), set()), min_shared_genes=50, min_counts_cell=0)
    truth = s[:, held_out].layers["counts"].toarray()
    s_in = s[:, [g for g in s.var_names if g not in set(held_out)]].copy()
    genes = s.uns["commst"]["genes"]
    targets = [g for g in genes["lr_targets"] if g in held_out]
    res = impute_commst(
        s_in,
        r,
        targets=targets,
        input_genes=genes["input"],
        config=CommSTConfig(**{**FAST, "epochs": 20}),
        progress=False,
    )
    lib = s.obs["total_counts"].to_numpy()[:, None]
    pred = np.log1p(res.counts / lib * 1e4)
    obs = np.log1p(truth[:, [held_out.index(g) for g in targets]] / lib * 1e4)
    pcc = [np.corrcoef(pred[:, j], obs[:, j])[0, 1] for j in range(len(targets))]
    rng = np.random.default_rng(0)
    shuffled = [np.corrcoef(rng.permutation(pred[:, j]), obs[:, j])[0, 1] for j in range(len(targets))]
    # Visium at ~1000 UMI per spot is noisy (no spatial gene correlates with HLA-DQA1 above 0.27),
    # so the ceiling is low; the measured median is 0.07, shuffled about 0
    assert np.nanmedian(pcc) > 0.04
    assert np.nanmedian(pcc) > np.nanmedian(shuffled) + 0.04
    assert np.mean(np.array(pcc) > 0) >= 0.75


def test_binomial_thinning_reaches_the_spatial_library_sizes():
    from commst.model._data import thin_sparse, thin_to_library

    rng = np.random.default_rng(0)
    counts = rng.poisson(5.0, size=(400, 200)).astype(np.float32)  # about 1000 per cell
    lib = counts.sum(1)
    targets = np.array([100.0, 300.0])
    for thin in (
        thin_to_library(counts, lib, targets, rng),
        thin_sparse(sp.csr_matrix(counts), lib, targets, rng).toarray(),
    ):
        assert (thin <= counts).all()
        totals = thin.sum(1)
        low = totals < 200
        assert 0.3 < low.mean() < 0.7  # half the cells drawn at 100, half at 300
        assert abs(totals[low].mean() - 100) < 5 and abs(totals[~low].mean() - 300) < 10
    small = np.ones((3, 4), np.float32)  # already below the spatial depth: unchanged
    np.testing.assert_array_equal(thin_to_library(small, small.sum(1), targets, rng), small)


def test_gpu_job_without_cuda_says_so_and_uses_cpu(monkeypatch, caplog):
    """On a SLURM GPU job whose torch finds no CUDA, training logs it and runs on the CPU."""
    import logging

    import torch

    from commst.model import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with caplog.at_level(logging.WARNING, logger="commst.model"):
        assert resolve_device("auto").type == "cpu"
    assert "granted a GPU (CUDA_VISIBLE_DEVICES=0)" in caplog.text
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.delenv("SLURM_JOB_GPUS", raising=False)
    monkeypatch.delenv("SLURM_STEP_GPUS", raising=False)
    caplog.clear()
    assert resolve_device("auto").type == "cpu" and "granted" not in caplog.text
    with pytest.raises(RuntimeError, match="no CUDA device"):
        resolve_device("cuda")


def test_model_follows_the_prepared_target_sum(tmp_path):
    """preprocess.target_sum scales the model's log-normalisation too; the saved model keeps it."""
    spatial, ref = planted_pair()
    results = {}
    for target_sum in (1e4, 1e6):
        s, r = pp.prepare(spatial, ref, PLANTED_LR, min_shared_genes=10, target_sum=target_sum)
        genes = pp.get_gene_sets(s)
        genes_kw = dict(targets=genes.lr_targets, input_genes=genes.input)
        cfg = CommSTConfig(**{**FAST, "epochs": 3, "pretrain_epochs": 1})
        model = train(s, r, config=cfg, progress=False, **genes_kw)
        assert model.target_sum == target_sum
        model.save(tmp_path / "m.pt")
        loaded = TrainedCommST.load(tmp_path / "m.pt")
        assert loaded.target_sum == target_sum
        results[target_sum] = impute_commst(s, r, model=loaded, **genes_kw)
    assert results[1e6].extra["uncertainty_scale"] == "counts (delta method from log1p(counts / input-library * 1e+06))"
    # another scale of the decoder's targets is another model: not the same bytes
    assert not np.array_equal(results[1e4].counts, results[1e6].counts)
