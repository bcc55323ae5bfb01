"""Launch a multi-worker training job on MXNet's parameter server (kvstore dist_sync).

Starts the scheduler, -s servers and -n workers, each worker running the command after
"--" (normally tools/train.py ... --kvstore dist_sync). Every worker reads its shard of the
training data; train.batch_size stays the global batch; worker 0 validates and writes the run
folder; each worker prints its parameter checksum at the end (equal checksums: in sync).

--launcher local runs every process on this machine (a functional test, or several GPUs
with one worker each). --launcher ssh puts servers and workers round-robin on the hosts in
-H (one per line); each host needs this checkout at the same path with its .venv and the data.

Examples:
  python tools/launch.py -n 2 -s 1 --launcher local -- \\
      .venv/bin/python tools/train.py --config experiments/lotr_m.yaml \\
      --set data.root=data/synth --kvstore dist_sync --out runs/dist
  python tools/launch.py -n 4 -s 2 --launcher ssh -H hosts.txt -- \\
      .venv/bin/python tools/train.py --config experiments/lotr_r+.yaml \\
      --set data.root=/shared/jd --kvstore dist_device_sync --gpus 0
"""
import argparse
import os
import sys

from lotr_gluon.cli import run_main


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--num-workers", type=int, required=True)
    parser.add_argument("-s", "--num-servers", type=int, default=1)
    parser.add_argument("--launcher", choices=["local", "ssh"], default="local")
    parser.add_argument("-H", "--hostfile", help="ssh: file with one host per line")
    parser.add_argument("--scheduler-host", default=None,
                        help="address the workers reach the scheduler at (default: local "
                             "127.0.0.1; ssh: this machine's name)")
    parser.add_argument("--timeout", type=float, help="stop the job after this many seconds")
    parser.add_argument("command", nargs=argparse.REMAINDER,
                        help="-- then the worker command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the worker command after --")

    from lotr_gluon.distributed.launcher import launch_local, launch_ssh, read_hosts

    if args.launcher == "local":
        job = launch_local(command, args.num_workers, args.num_servers,
                           host=args.scheduler_host or "127.0.0.1")
    else:
        if not args.hostfile:
            parser.error("--launcher ssh needs -H HOSTFILE")
        import socket

        job = launch_ssh(command, read_hosts(args.hostfile), args.num_workers,
                         args.num_servers, args.scheduler_host or socket.getfqdn(),
                         os.getcwd())
    code = job.wait(timeout=args.timeout)
    if code == 124 and args.timeout is not None:
        print(f"error: the job ran past --timeout {args.timeout:g} s and was stopped",
              file=sys.stderr)
    elif code:
        print(f"error: {job.failure}; the job was stopped", file=sys.stderr)
    return 1 if code else 0


if __name__ == "__main__":
    run_main(main)
