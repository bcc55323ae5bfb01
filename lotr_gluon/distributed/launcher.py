"""Start a multi-worker job on MXNet's parameter server (ps-lite): scheduler, servers, workers.

MXNet's kvstore ``dist_sync`` does the distributed work; this module only starts the
processes with the environment ps-lite reads (``DMLC_ROLE``, ``DMLC_PS_ROOT_URI``/``PORT``,
``DMLC_NUM_WORKER``/``SERVER``), as MXNet's own ``tools/launch.py`` does. (MXNet's bundled
``dmlc_tracker`` cannot be used as is on Python >= 3.9: it calls ``Thread.isAlive``.)
A scheduler or server process is ``python -m lotr_gluon.distributed.parameter_server``:
MXNet's server loop with MXNet and the project's optimizers fully imported first, and any
error in an update ending the job (see that module for why ``python -c "import mxnet"`` is
not enough).
"""
from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import UserError
from ..runtime import available_cpus

SERVER_MODULE = ("-m", "lotr_gluon.distributed.parameter_server")
SERVER_COMMAND = [sys.executable, *SERVER_MODULE]
SSH_OPTIONS = ("-o", "StrictHostKeyChecking=no")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


def ps_environment(scheduler_host: str, port: int, num_workers: int, num_servers: int
                   ) -> Dict[str, str]:
    """What every process of the job needs to find the scheduler."""
    return {"DMLC_PS_ROOT_URI": scheduler_host, "DMLC_PS_ROOT_PORT": str(port),
            "DMLC_NUM_WORKER": str(num_workers), "DMLC_NUM_SERVER": str(num_servers)}


@dataclass
class Job:
    """The processes of one job; :meth:`wait` returns the workers' worst exit code, or the
    code of a scheduler or server that failed first (:attr:`failure` says which)."""

    workers: List[subprocess.Popen] = field(default_factory=list)
    others: List[subprocess.Popen] = field(default_factory=list)  # scheduler and servers
    # (host, pid file) of each process started through ssh: ending the local ssh client
    # does not end the remote process, so stop() ends it through its pid file.
    remote: List[Tuple[str, str]] = field(default_factory=list)
    failure: str = ""  # what ended the job early, for the launcher's message

    def wait(self, timeout: Optional[float] = None, grace: float = 20.0,
             poll: float = 0.2) -> int:
        """Wait for the workers; stop everything and return at once when a scheduler or
        server fails (its workers would wait for it forever) or ``timeout`` passes (124)."""
        deadline = None if timeout is None else time.time() + timeout
        try:
            while any(proc.poll() is None for proc in self.workers):
                failed = [proc.returncode for proc in self.workers
                          if proc.poll() not in (None, 0)]
                if failed:  # the others would wait for it at the next synchronous step
                    self.failure = f"a worker exited with code {failed[0]}"
                    return abs(failed[0])
                for i, proc in enumerate(self.others):
                    if proc.poll() not in (None, 0):
                        self.failure = (f"{'the scheduler' if i == 0 else f'server {i - 1}'} "
                                        f"exited with code {proc.returncode}")
                        return abs(proc.returncode)
                if deadline is not None and time.time() > deadline:
                    self.failure = "the job ran past its timeout"
                    return 124
                time.sleep(poll)
            for proc in self.others:  # they exit once every worker has said goodbye
                try:
                    proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    pass
            codes = [abs(proc.returncode) for proc in self.workers]
            if max(codes, default=0):
                self.failure = f"a worker exited with code {max(codes)}"
            return max(codes, default=0)
        finally:
            self.stop()

    def stop(self) -> None:
        """Terminate whatever still runs (a failed worker leaves the servers waiting), here
        and on the remote hosts."""
        for host, pid_file in self.remote:
            quoted = shlex.quote(pid_file)
            subprocess.run(["ssh", *SSH_OPTIONS, host,
                            f"test -f {quoted} && kill -TERM $(cat {quoted}) 2>/dev/null; "
                            f"rm -f {quoted}"],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        self.remote = []
        for proc in self.workers + self.others:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in self.workers + self.others:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def _start(command: Sequence[str], env: Dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(list(command), env=env, start_new_session=True)


def launch_local(command: Sequence[str], num_workers: int, num_servers: int = 1,
                 host: str = "127.0.0.1", env: Optional[Dict[str, str]] = None) -> Job:
    """Scheduler, servers and workers as processes of this machine.

    Each worker gets ``OMP_NUM_THREADS`` = usable CPUs / workers and the servers one thread (unless
    set), and every process ``OMP_WAIT_POLICY=PASSIVE``: OpenMP threads otherwise spin after
    each operator, and several processes sharing cores starve each other (measured in
    docs/scaling-out.md).
    """
    if num_workers < 1 or num_servers < 1:
        raise UserError("a job needs at least one worker and one server")
    ps_env = ps_environment(host, free_port(), num_workers, num_servers)
    given = {**os.environ, **(env or {})}
    threads = max(1, available_cpus() // num_workers)
    environment = lambda role: {**given, **role_environment(ps_env, role, host, given,  # noqa
                                                             threads)}
    job = Job()
    for role in ["scheduler"] + ["server"] * num_servers:
        job.others.append(_start(SERVER_COMMAND, environment(role)))
    for _ in range(num_workers):
        job.workers.append(_start(command, environment("worker")))
    return job


def role_environment(ps_env: Dict[str, str], role: str, host: str, given: Dict[str, str],
                     worker_threads: Optional[int] = None) -> Dict[str, str]:
    """The variables one process of the job gets, wherever it runs: the scheduler's address,
    its role, the address others reach it at, and OpenMP settings unless ``given`` has them:
    threads wait passively; servers and the scheduler use 1 thread, workers
    ``worker_threads`` (None: left to the host, where tools/train.py sets them from its CPUs)."""
    out = {**ps_env, "DMLC_ROLE": role, "DMLC_NODE_HOST": host,
           "OMP_WAIT_POLICY": given.get("OMP_WAIT_POLICY", "PASSIVE")}
    threads = worker_threads if role == "worker" else 1
    if "OMP_NUM_THREADS" in given or threads is not None:
        out["OMP_NUM_THREADS"] = given.get("OMP_NUM_THREADS", str(threads))
    return out


def read_hosts(path: str) -> List[str]:
    """One host per line (``#`` comments and blank lines ignored)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: hosts file not found (one host name per line)")
    with open(path, encoding="utf-8") as f:
        hosts = [line.split("#", 1)[0].strip() for line in f]
    hosts = [h for h in hosts if h]
    if not hosts:
        raise UserError(f"{path}: no hosts listed")
    return hosts


def ssh_command(host: str, workdir: str, env: Dict[str, str], command: Sequence[str],
                pid_file: str) -> List[str]:
    """``ssh HOST 'cd WORKDIR && echo $$ > PID_FILE && exec env K=V ... COMMAND'``: the
    command takes the remote shell's pid, so the pid file names it for :meth:`Job.stop`."""
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items()))
    remote = (f"cd {shlex.quote(workdir)} && echo $$ > {shlex.quote(pid_file)} && "
              f"exec env {exports} {shlex.join(command)}")
    return ["ssh", *SSH_OPTIONS, host, remote]


def server_command(worker_command: Sequence[str]) -> List[str]:
    """``PYTHON -m lotr_gluon.distributed.parameter_server`` with the interpreter the workers
    use (their ``.venv``), or this one when the worker command does not start with a
    Python."""
    first = worker_command[0] if worker_command else ""
    python = first if os.path.basename(first).startswith("python") else sys.executable
    return [python, *SERVER_MODULE]


def launch_ssh(command: Sequence[str], hosts: Sequence[str], num_workers: int,
               num_servers: int, scheduler_host: str, workdir: str) -> Job:
    """The scheduler here; servers and workers round-robin over ``hosts`` through ssh.

    Every host needs the same checkout at ``workdir`` with its ``.venv``, and the data at the
    same path (or a shared file system, which also lets workers resume from one run folder).
    Remote processes get the environment :func:`launch_local` gives local ones, and
    :meth:`Job.stop` ends them.
    """
    port = free_port()
    ps_env = ps_environment(scheduler_host, port, num_workers, num_servers)
    job = Job()
    job.others.append(_start(SERVER_COMMAND, {**os.environ, **role_environment(
        ps_env, "scheduler", scheduler_host, os.environ)}))
    roles = ([("server", server_command(command), i) for i in range(num_servers)]
             + [("worker", list(command), i) for i in range(num_workers)])
    for role, argv, i in roles:
        host = hosts[i % len(hosts)]
        pid_file = f"/tmp/lotr-launch-{port}-{role}{i}.pid"
        env = role_environment(ps_env, role, host, {})
        proc = _start(ssh_command(host, workdir, env, argv, pid_file), dict(os.environ))
        (job.workers if role == "worker" else job.others).append(proc)
        job.remote.append((host, pid_file))
    return job
