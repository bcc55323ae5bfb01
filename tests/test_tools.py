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


def test_benchmark_json_rows(tmp_path):
    """Rows per backend, batch and flip; throughput = batch / latency; default flagged once."""
    out = tmp_path / "bench.json"
    result = run_tool("benchmark.py", "--model", "lotr_m", "--backend", "all", "--batch", "2",
                      "--repeat", "2", "--warmup", "1", "--no-detector", "--json", str(out))
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())
    keys = {"model", "backend", "batch", "flip", "latency_ms_mean", "latency_ms_std",
            "throughput_ips"}
    assert all(keys <= set(row) for row in rows)
    assert {(r["backend"], r["batch"], r["flip"]) for r in rows} == {
        (b, n, f) for b in ("mxnet", "mxnet-static", "onnxruntime") for n in (1, 2)
        for f in (False, True)}
    for row in rows:
        expected = row["batch"] / (row["latency_ms_mean"] / 1000)
        assert abs(row["throughput_ips"] - expected) <= 0.01 * expected
        assert row.get("default", False) == (row["backend"] == "mxnet")
    assert "x onnxruntime's" in result.stdout and "flip TTA costs" in result.stdout


def test_benchmark_target_lines_worked_example():
    from lotr_gluon.benchmark.inference import SpeedRow, target_checks

    rows = [SpeedRow("m", "mxnet", 1, False, 4.0, 0.1, 250.0, True),
            SpeedRow("m", "mxnet", 1, True, 7.0, 0.1, 142.9, True),
            SpeedRow("m", "onnxruntime", 1, False, 3.2, 0.1, 312.5)]
    lines = target_checks(rows)
    assert lines[0].startswith("PASS") and "1.25x" in lines[0]  # 4.0 / 3.2
    assert lines[1].startswith("FAIL") and "1.75x" in lines[1]  # 7.0 / 4.0
