"""Multi-worker training on MXNet's parameter server, on this machine's loopback (slow).

Scheduler, 1 server and 2 workers train a tiny LOTR for a few iterations; both workers must
end with identical parameters, the loss must go down, and a resumed job must continue.
"""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.slow


def _launch(run_dir, data, epochs, resume=False):
    train = [sys.executable, os.path.join(ROOT, "tools", "train.py"), "--kvstore", "dist_sync",
             "--no-progress"]
    if resume:
        train += ["--resume", run_dir, "--set", f"train.epochs={epochs}"]
    else:
        train += ["--config", os.path.join(ROOT, "experiments", "demo_synthetic.yaml"),
                  "--out", run_dir, "--set", f"data.root={data}", "--set", "model.input_size=64",
                  "--set", f"train.epochs={epochs}", "--set", "train.batch_size=8",
                  "--set", "train.warmup_iters=0", "--set", "data.workers=0"]
    command = [sys.executable, os.path.join(ROOT, "tools", "launch.py"), "-n", "2", "-s", "1",
               "--launcher", "local", "--timeout", "75", "--"] + train
    done = subprocess.run(command, capture_output=True, text=True, timeout=90, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    checksums = [line.rsplit(" ", 1)[-1] for line in done.stdout.splitlines()
                 if "parameter checksum" in line]
    return checksums, done.stdout


def test_two_workers_stay_in_sync_learn_and_resume(tmp_path):
    from lotr_gluon.data.synthetic import write_synthetic_dataset

    write_synthetic_dataset(str(tmp_path / "synth"), 30, seed=5, workers=1, progress=False)
    run_dir = str(tmp_path / "run")
    checksums, out = _launch(run_dir, str(tmp_path / "synth"), epochs=2)
    assert len(checksums) == 2 and checksums[0] == checksums[1], out
    assert "2 workers" in out
    with open(os.path.join(run_dir, "log.jsonl")) as f:
        losses = [json.loads(line)["loss"] for line in f]
    assert len(losses) == 2 and losses[1] < losses[0]  # worker 0 writes, once per epoch

    checksums, out = _launch(run_dir, str(tmp_path / "synth"), epochs=3, resume=True)
    assert len(checksums) == 2 and checksums[0] == checksums[1], out
    assert "resumed" in out
    with open(os.path.join(run_dir, "log.jsonl")) as f:
        assert [json.loads(line)["epoch"] for line in f] == [1, 2, 3]
