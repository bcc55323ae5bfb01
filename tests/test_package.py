"""The package builds: ``pip wheel .`` makes a wheel that installs into a fresh virtual
environment, where the package imports and builds a model from its own installed files."""
import os
import subprocess
import sys
import sysconfig

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*command, cwd=ROOT):
    done = subprocess.run(list(command), capture_output=True, text=True, timeout=600, cwd=cwd)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout[-1500:]}{done.stderr[-2500:]}"
    return done.stdout


@pytest.mark.slow
def test_the_wheel_installs_into_a_fresh_venv_and_builds_a_model(tmp_path):
    # Offline: no build isolation (setuptools from this environment) and no dependencies
    # fetched; the fresh venv sees this environment's packages through a .pth line, not the
    # checkout (an editable install's finder is not read from a .pth-added folder).
    wheels = tmp_path / "wheels"
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheels), ".")
    wheel, = wheels.glob("lotr_gluon-*.whl")
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", str(venv))
    python = str(venv / "bin" / "python")
    site = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    with open(os.path.join(site, "deps.pth"), "w", encoding="utf-8") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q",
         str(wheel))
    out = _run(python, "-c", "import lotr_gluon, mxnet as mx\n"
                             "net = lotr_gluon.get_model('lotr_m')\n"
                             "print(lotr_gluon.__file__)\n"
                             "print(net(mx.nd.zeros((1, 3, 192, 192))).shape)",
               cwd=str(tmp_path))
    installed, shape = out.strip().splitlines()[-2:]
    assert installed.startswith(site), installed  # the wheel's copy, not the checkout
    assert shape == "(1, 106, 2)"
