"""A training run on several processes: the worker launches the toolkit's trainer (torchrun, gloo on CPU)."""

import json
import sys
from pathlib import Path

import pytest

from active_learning.models import TrainingRun
from active_learning.services import launch
from active_learning.services.cycles import cycle_run_inline
from active_learning.services.launch import launch_command, training_processes
from active_learning.services.training import training_run_request

pytestmark = pytest.mark.django_db


def test_a_cycle_trains_on_two_cpu_processes_and_cleans_up(al_campaign, settings):
    campaign, _ = al_campaign
    settings.AL_TRAIN_PROCESSES = "2"
    run = cycle_run_inline(run_id=training_run_request(campaign=campaign, enqueue=False).pk)
    assert run.status == "succeeded", run.error
    train = run.report["train"]
    assert train["processes"] == 2 and train["steps"] >= 1 and train["device"].startswith("cpu")
    assert run.model.is_active and run.metrics["ece"] is not None  # evaluated in the worker afterwards
    # The launched trainer's work directory is gone; only the checkpoint stays.
    slug_dir = settings.CHECKPOINT_DIR / campaign.slug
    assert not [p for p in slug_dir.iterdir() if p.name.startswith(".launch")]
    config = json.loads((Path(run.model.checkpoint_path) / "config.json").read_text())
    assert config["prm"]["temperature"] > 0  # calibrated afterwards in the worker, as on one process


def test_a_launched_trainer_that_fails_fails_the_run_with_its_log(al_campaign, settings, monkeypatch):
    campaign, _ = al_campaign
    settings.AL_TRAIN_PROCESSES = "2"
    monkeypatch.setattr(launch, "launch_command", lambda **kw: [
        sys.executable, "-c", "import sys; print('rank 1: out of memory'); sys.exit(3)"])
    run = training_run_request(campaign=campaign, enqueue=False)
    with pytest.raises(launch.LaunchFailed):
        cycle_run_inline(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED
    assert "2-process trainer exited with 3" in run.error and "rank 1: out of memory" in run.error


def test_how_many_processes_and_which_launcher(settings):
    settings.AL_TRAIN_PROCESSES = "1"
    assert training_processes("auto") == 1
    settings.AL_TRAIN_PROCESSES = "auto"
    assert training_processes("cpu") == 1  # no GPU here: one process, in the worker
    gpu = launch_command(processes=4, on_gpu=True, mixed_precision="bf16")
    assert gpu[1:3] == ["-m", "accelerate.commands.launch"] and "--multi_gpu" in gpu
    assert gpu[gpu.index("--num_processes") + 1] == "4" and gpu[gpu.index("--mixed_precision") + 1] == "bf16"
    cpu = launch_command(processes=2, on_gpu=False, mixed_precision="no")
    assert cpu[1:3] == ["-m", "torch.distributed.run"] and cpu[cpu.index("--nproc_per_node") + 1] == "2"
