"""Runtime settings are explicit: importing the package changes no environment variable, the
thread count follows the CPUs a process may use, and a user's own setting wins."""
import os
import subprocess
import sys

import pytest

from lotr_gluon.runtime import available_cpus, cgroup_cpu_quota

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python(code: str, **env) -> str:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("OMP_NUM_THREADS", "MXNET_ENGINE_TYPE")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env={**clean, **env}, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_importing_the_package_sets_no_environment_variable():
    code = ("import os; before = dict(os.environ); import lotr_gluon; "
            "print(os.environ.get('OMP_NUM_THREADS'), os.environ == before)")
    assert _python(code) == "None True"


def test_configure_runtime_sets_threads_and_engine_and_keeps_the_users():
    code = ("from lotr_gluon.runtime import configure_runtime, available_cpus; "
            "s = configure_runtime(engine='NaiveEngine'); "
            "print(s.threads == available_cpus(), s.engine)")
    assert _python(code) == "True NaiveEngine"
    code = ("from lotr_gluon.runtime import configure_runtime; "
            "s = configure_runtime(engine='NaiveEngine'); print(s.threads, s.engine)")
    assert _python(code, OMP_NUM_THREADS="3", MXNET_ENGINE_TYPE="ThreadedEngine") == \
        "3 ThreadedEngine"


def test_configure_runtime_after_mxnet_is_imported_warns_and_changes_nothing():
    code = ("import warnings, os, mxnet; from lotr_gluon.runtime import configure_runtime\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always'); configure_runtime(engine='NaiveEngine')\n"
            "print(len(w), 'after mxnet was imported' in str(w[0].message), "
            "os.environ.get('MXNET_ENGINE_TYPE'))")
    assert _python(code) == "1 True None"


@pytest.mark.parametrize("files, quota", [
    ({"cpu.max": "150000 100000\n"}, 1.5),
    ({"cpu.max": "max 100000\n"}, None),
    ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.0),
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
    ({}, None),
])
def test_the_cgroup_quota_is_read_from_v2_and_v1_files(tmp_path, files, quota):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert cgroup_cpu_quota(str(tmp_path)) == quota


def test_available_cpus_is_the_affinity_mask_capped_by_the_quota(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert available_cpus(str(tmp_path)) == 4  # no cgroup files: the mask
    (tmp_path / "cpu.max").write_text("250000 100000\n")
    assert available_cpus(str(tmp_path)) == 2  # 2.5 CPUs: two threads, not three
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert available_cpus(str(tmp_path)) == 1  # never below one
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert available_cpus(str(tmp_path)) == 1  # pinned to one core (taskset)
