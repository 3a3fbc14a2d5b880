"""The trainer's distributed path for real: two CPU processes joined by torchrun into one gloo group
(accelerate underneath) train the same model as one process does, and only rank 0 writes."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from safetensors.torch import load_file

from active_learning.prm.cli import main

ROOT = Path(__file__).resolve().parents[3]


def _data(path: Path) -> Path:
    rows = []
    for i in range(24):
        k = 1 + i % 3
        wrong = i % 2 == 0
        steps = [f"step {j} is right" for j in range(k)] + (["step k is wrong"] if wrong else ["so 4"])
        labels = [True] * k + [not wrong]
        rows.append({"prompt": f"Problem {i}: apples?", "completions": steps, "labels": labels})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_two_cpu_processes_train_the_same_model_as_one(tiny_bert_dir, tmp_path):
    data = _data(tmp_path / "trl.jsonl")
    args = ["train", "--data", str(data), "--model", str(tiny_bert_dir), "--epochs", "3", "--batch-size", "6",
            "--max-length", "64", "--max-problem-tokens", "16", "--holdout", "0", "--device", "cpu", "--seed", "3",
            "--lr", "3e-3"]
    assert main([*args, "--output", str(tmp_path / "one")]) == 0
    # Loopback only, on a port free now: a fixed port can be taken by another run on the machine, and gloo
    # must not pick an interface that the host name resolves to elsewhere.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "GLOO_SOCKET_IFNAME": "lo"}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
         "--master_port", str(port),
         "-m", "active_learning.prm", *args, "--output", str(tmp_path / "two")],
        capture_output=True, text=True, env=env, cwd=str(ROOT), timeout=300,
    )
    assert out.returncode == 0, out.stderr[-6000:]
    one = json.loads((tmp_path / "one" / "training_report.json").read_text())["train"]
    two = json.loads((tmp_path / "two" / "training_report.json").read_text())["train"]
    assert (one["processes"], two["processes"]) == (1, 2)
    assert one["steps"] == two["steps"] == 12 and two["labeled_steps"] == one["labeled_steps"]
    assert abs(one["final_loss"] - two["final_loss"]) < 1e-4
    a = load_file(tmp_path / "one" / "model.safetensors")
    b = load_file(tmp_path / "two" / "model.safetensors")
    assert a.keys() == b.keys()
    # Same global batches, gradients averaged over the two shards: equal up to summation order.
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-4
    # And it did learn something, so equality is not two untouched initialisations.
    init_dir = tmp_path / "init"
    assert main([*args, "--output", str(init_dir), "--max-steps", "1", "--lr", "1e-9"]) == 0
    c = load_file(init_dir / "model.safetensors")
    assert max(float((a[k] - c[k]).abs().max()) for k in a) > 1e-2
