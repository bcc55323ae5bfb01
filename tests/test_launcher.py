"""The ssh launcher, run through a stand-in ``ssh`` that executes the remote command here.

The stand-in detaches each "remote" command into its own session, as a real remote process
is out of reach of signals sent to the local ssh client: only the launcher's own remote stop
(through the pid file each remote command writes) can end it.
"""
import os
import shlex
import stat
import sys
import time

import pytest

from lotr_gluon.distributed.launcher import launch_ssh

STAND_IN = """#!/bin/bash
echo "$@" >> "$SSH_LOG"
while [ "$1" = "-o" ]; do shift 2; done
shift  # the host
setsid bash -c "$*" &
wait $!
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ssh_jobs_get_the_workers_python_the_local_environment_and_are_stopped(tmp_path,
                                                                             monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ssh = bin_dir / "ssh"
    ssh.write_text(STAND_IN)
    ssh.chmod(ssh.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "ssh.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SSH_LOG", str(log))
    worker = [sys.executable, "-c", "import time; time.sleep(120)"]
    job = launch_ssh(worker, ["host-a", "host-b"], num_workers=2, num_servers=1,
                     scheduler_host="127.0.0.1", workdir=str(tmp_path))
    try:
        pid_files = [pid_file for _, pid_file in job.remote]
        assert [host for host, _ in job.remote] == ["host-a", "host-a", "host-b"]
        deadline = time.time() + 30
        while not all(os.path.isfile(p) and open(p).read().strip() for p in pid_files):
            assert time.time() < deadline, "the remote commands did not start"
            time.sleep(0.1)
        pids = [int(open(p).read()) for p in pid_files]
        assert all(_alive(pid) for pid in pids)

        lines = log.read_text().splitlines()  # in whatever order the processes started
        server = next(line for line in lines if "DMLC_ROLE=server" in line)
        first, second = sorted((line for line in lines if "DMLC_ROLE=worker" in line),
                               key=lambda line: line.split()[2])  # by host
        python = shlex.quote(sys.executable)
        # the workers' interpreter
        assert f"{python} -m lotr_gluon.distributed.parameter_server" in server
        assert "DMLC_ROLE=server" in server and "OMP_NUM_THREADS=1" in server
        for line, host in ((server, "host-a"), (first, "host-a"), (second, "host-b")):
            assert f"DMLC_NODE_HOST={host}" in line and "OMP_WAIT_POLICY=PASSIVE" in line
            assert "DMLC_PS_ROOT_URI=127.0.0.1" in line and f"cd {tmp_path}" in line
        assert "DMLC_ROLE=worker" in first and "time.sleep(120)" in first
    finally:
        job.stop()
    deadline = time.time() + 20
    while any(_alive(pid) for pid in pids):
        assert time.time() < deadline, "stop() left remote processes running"
        time.sleep(0.1)
    assert not any(os.path.exists(p) for p in pid_files)
