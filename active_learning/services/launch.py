"""Training a campaign's model on several processes: the training worker launches the toolkit's trainer.

A Celery training worker on a host with several GPUs (or told to use
several CPU processes) cannot join them into one process group from inside
its prefork child. So it does what an ML engineer would do: it writes the
run's examples and starting checkpoint to a work directory and runs
`python -m active_learning.prm train` under `accelerate launch` (GPUs) or
`torch.distributed.run` (CPU processes, gloo). That is the same trainer and the same
sharding as the 2-process test in `make test`. It renews the run's lease
while it waits, and reads the checkpoint back.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from django.conf import settings

from active_learning.prm.lifetime import die_with_parent

REPO = Path(__file__).resolve().parents[2]


class LaunchFailed(RuntimeError):
    """The launched trainer exited with an error; the message carries the end of its log."""


def training_processes(device: str) -> int:
    """How many processes a run trains on: AL_TRAIN_PROCESSES, where "auto" means every visible GPU
    (one process when there is no GPU or only one)."""
    value = settings.AL_TRAIN_PROCESSES
    if value != "auto":
        return max(1, int(value))
    if device == "cpu":
        return 1
    import torch

    return max(1, torch.cuda.device_count())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_command(*, processes: int, on_gpu: bool, mixed_precision: str) -> list[str]:
    """The launcher's argv before `-m active_learning.prm train ...`."""
    if on_gpu:
        return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
                str(processes), "--num_machines", "1", "--mixed_precision", mixed_precision,
                "--main_process_port", str(_free_port())]
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
            "--master_addr", "127.0.0.1", "--master_port", str(_free_port())]


def train_launched(*, prm, examples: Sequence, train_config, processes: int, workdir: Path,
                   renew: Callable[[], None]):
    """Train `prm` on `examples` in `processes` processes; returns (trained PRM, TrainReport).

    Invariants: the examples reach the trainer with their exact step labels;
    the work directory is removed afterwards, whatever happens; `renew` is
    called every few seconds, and if it raises (the run was reaped, or the
    task's soft time limit hit) the launched processes are killed before the
    error propagates; if this process is killed outright (the hard time
    limit, the OOM killer), the launcher and its ranks die with it
    (prm/lifetime.py) instead of holding the devices.
    """
    from active_learning.prm.model import PRM
    from active_learning.prm.train import TrainReport

    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    try:
        start, data, out = workdir / "start", workdir / "train.jsonl", workdir / "out"
        prm.save(start)
        with open(data, "w", encoding="utf-8") as fh:
            for ex in examples:
                fh.write(json.dumps({"problem": ex.problem, "steps": list(ex.steps), "labels": list(ex.labels),
                                     "problem_id": ex.group, "id": ex.key}) + "\n")
        on_gpu = train_config.device != "cpu" and _cuda()
        cmd = [*launch_command(processes=processes, on_gpu=on_gpu, mixed_precision=train_config.mixed_precision),
               "-m", "active_learning.prm", "train", "--data", str(data), "--format", "pool",
               "--init-checkpoint", str(start), "--output", str(out), "--holdout", "0", "--no-calibration",
               "--train-config", json.dumps(train_config.to_dict())]
        env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        if not on_gpu:
            env.setdefault("GLOO_SOCKET_IFNAME", "lo")
        log_path = workdir / "launch.log"
        with open(log_path, "w") as log:
            parent = os.getpid()
            proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, preexec_fn=lambda: die_with_parent(parent=parent))
            try:
                while proc.poll() is None:
                    renew()
                    time.sleep(1.0)
            except BaseException:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                raise
        if proc.returncode != 0:
            tail = log_path.read_text(errors="replace")[-1500:]
            raise LaunchFailed(f"the {processes}-process trainer exited with {proc.returncode}: {tail}")
        report = json.loads((out / "training_report.json").read_text())["train"]
        return PRM.load(out), TrainReport(**report)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()
