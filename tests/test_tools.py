"""Command-line tools: output, exit codes, one-line errors."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_tool(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", args[0]), *args[1:]],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_summary_json_prints_table3_numbers():
    result = run_tool("summary.py", "--model", "lotr_m+", "--json")
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout.strip().splitlines()[-1])
    assert row["model"] == "lotr_m+"
    assert round(row["params_m"], 2) == 3.71 and round(row["size_mb"], 2) == 14.03
    assert row["output_shape"] == [1, 106, 2]
    assert row["gflops"] > 0


def test_bad_arguments_give_one_line_and_exit_code():
    result = run_tool("summary.py", "--model", "lotr_x")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("error: unknown model 'lotr_x'")
    result = run_tool("export.py", "--model", "lotr_m", "--out", "/tmp", "--set", "oops")
    assert result.returncode == 1 and "--set expects key=value" in result.stderr
    assert run_tool("export.py").returncode == 2  # argparse usage error
