"""One scheduler or server process of a distributed job:
``python -m lotr_gluon.distributed.parameter_server``.

MXNet runs the parameter-server loop from inside ``import mxnet`` when ``DMLC_ROLE`` is
``server`` or ``scheduler``. A server started as ``python -c "import mxnet"`` therefore
unpickles the workers' optimizer while ``mxnet`` is still half imported: the project's
``SelectiveLAMB`` failed on every update of a bias, norm or query (``mx.nd`` did not exist
yet), ctypes printed the error and dropped it, and the job ended with exit 0 and those
parameters never trained (measured: 0 of 98 moved).

Here the role is hidden while MXNet and the project's optimizers are imported, then the loop
starts with every module complete. Any error in the server's work (unpickling the optimizer,
an update) prints its traceback and ends the process with :data:`SERVER_ERROR`, which
:meth:`lotr_gluon.distributed.launcher.Job.wait` turns into a failed job.
"""
from __future__ import annotations

import os
import pickle
import sys
import traceback
from typing import Callable

SERVER_ERROR = 3  # exit code of a server whose update raised


def _fatal(where: str) -> None:
    """Print the error being handled and end this process at once: an exception cannot leave
    a ctypes callback, which is where MXNet runs the server's work."""
    print(f"parameter server: {where} failed; stopping the job", file=sys.stderr)
    traceback.print_exc()
    sys.stderr.flush()
    os._exit(SERVER_ERROR)


def _loud(updater: Callable) -> Callable:
    def update(key, grad, weight):
        try:
            return updater(key, grad, weight)
        except BaseException:  # noqa: BLE001 - see _fatal
            _fatal(f"the update of key {key}")
    return update


def run(role: str) -> int:
    """Import everything, then run MXNet's server (or scheduler) loop as ``role``."""
    import mxnet as mx
    from mxnet.kvstore.kvstore_server import KVStoreServer

    from ..engine import optimizer  # noqa: F401 - the class a pickled SelectiveLAMB needs

    class LoudServer(KVStoreServer):
        def _controller(self):
            def controller(cmd_id, cmd_body, _):
                try:
                    if cmd_id == 0:  # the workers' optimizer, pickled
                        self.kvstore._set_updater(
                            _loud(mx.optimizer.get_updater(pickle.loads(cmd_body))))
                    else:
                        print(f"parameter server: unknown command {cmd_id}", file=sys.stderr)
                except BaseException:  # noqa: BLE001 - see _fatal
                    _fatal("setting the optimizer")
            return controller

    os.environ["DMLC_ROLE"] = role
    LoudServer(mx.kv.create("dist")).run()
    return 0


def main() -> int:
    role = os.environ.pop("DMLC_ROLE", "")
    if role not in ("server", "scheduler"):
        print(f"python -m lotr_gluon.distributed.parameter_server runs a server or scheduler "
              f"(DMLC_ROLE), not {role or 'nothing'!r}; tools/launch.py starts it",
              file=sys.stderr)
        return 2
    return run(role)


if __name__ == "__main__":
    sys.exit(main())
