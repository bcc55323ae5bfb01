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


def test_benchmark_json_rows(tmp_path, fastest_onnx_backend):
    """Rows per backend, batch and flip; throughput = batch / latency; the default flagged."""
    from lotr_gluon.deploy.backends import available_backends

    out = tmp_path / "bench.json"
    result = run_tool("benchmark.py", "--model", "lotr_m", "--backend", "all", "--batch", "2",
                      "--repeat", "2", "--warmup", "1", "--no-detector", "--json", str(out))
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())
    keys = {"model", "backend", "batch", "flip", "latency_ms_mean", "latency_ms_std",
            "throughput_ips"}
    assert all(keys <= set(row) for row in rows)
    assert {(r["backend"], r["batch"], r["flip"]) for r in rows} == {
        (b, n, f) for b in available_backends() for n in (1, 2)
        for f in (False, True)}
    # The Predictor's default for this float32 export with NAME.onnx.
    for row in rows:
        assert row.get("default", False) == (row["backend"] == fastest_onnx_backend)
    assert "x onnxruntime's" in result.stdout and "flip TTA costs" in result.stdout


def test_a_speed_row_counts_images_per_second():
    """Hand-worked: a batch of 4 in 8 ms is 500 images per second."""
    from lotr_gluon.benchmark.inference import SpeedRow
    from lotr_gluon.benchmark.timing import Timing

    row = SpeedRow.of("m", "mxnet", 4, False, Timing(8.0, 0.5, 10))
    assert (row.latency_ms_mean, row.throughput_ips) == (8.0, 500.0)


def test_benchmark_ratio_lines_worked_example():
    from lotr_gluon.benchmark.inference import SpeedRow, ratio_lines

    rows = [SpeedRow("m", "mxnet", 1, False, 4.0, 0.1, 250.0, True),
            SpeedRow("m", "mxnet", 1, True, 7.0, 0.1, 142.9, True),
            SpeedRow("m", "onnxruntime", 1, False, 3.2, 0.1, 312.5),
            SpeedRow("m", "mxnet", 1, False, 3.0, 0.1, 333.3, precision="int8")]
    lines = ratio_lines(rows)
    assert lines[0] == "mxnet batch-1 latency is 1.25x onnxruntime's"  # 4.0 / 3.2
    assert lines[1] == "flip TTA costs 1.75x no flip on mxnet"  # 7.0 / 4.0
    assert "int8 batch-1 latency is 0.94x" in lines[2] and "0.75x float32" in lines[2]
    assert not any("target" in line for line in lines)
    with_openvino = rows + [SpeedRow("m", "openvino-bf16", 1, False, 2.0, 0.1, 500.0)]
    assert "openvino-bf16 batch-1 latency is 0.62x onnxruntime's" in ratio_lines(with_openvino)
    # One spike moves the mean, not the median: the ratio is of medians.
    spiked = [SpeedRow("m", "mxnet", 1, False, 4.0, 0.1, 250.0, True),
              SpeedRow("m", "onnxruntime", 1, False, 11.4, 18.0, 87.7, latency_ms_median=3.2)]
    assert "1.25x" in ratio_lines(spiked)[0]


def test_reproduce_dry_run_prints_the_full_plan(tmp_path):
    from lotr_gluon.data.synthetic import write_synthetic_dataset

    write_synthetic_dataset(str(tmp_path / "synth"), 20, seed=3, workers=1, progress=False)
    result = run_tool("reproduce.py", "--suite", "all", "--data", str(tmp_path / "synth"),
                      "--dry-run", "--out", str(tmp_path / "runs"))
    assert result.returncode == 0, result.stderr
    assert "36 runs for table2, table3, table4, layers (full budget)" in result.stdout
    assert "experiments/layers/lotr_r+_L6.yaml" in result.stdout
    assert not (tmp_path / "runs").exists()  # a dry run trains nothing
    missing = run_tool("reproduce.py", "--suite", "table4", "--data", str(tmp_path / "nope"))
    assert missing.returncode == 1 and "no such folder" in missing.stderr


def test_attention_tool_writes_a_png(tmp_path):
    from lotr_gluon import get_model
    from lotr_gluon.deploy.export import export_symbol

    export_symbol(get_model("lotr_m"), str(tmp_path / "m"), "lotr_m", trained=False)
    crop = tmp_path / "crop.png"
    import cv2
    import numpy as np

    cv2.imwrite(str(crop), np.random.RandomState(0).randint(0, 255, (192, 192, 3), np.uint8))
    out = tmp_path / "att.png"
    result = run_tool("attention.py", str(crop), "--model", str(tmp_path / "m"), "--aligned",
                      "--points", "74", "84", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 1000 and "8 heads over a 6x6 map" in result.stdout
    bad = run_tool("attention.py", str(crop), "--model", str(tmp_path / "m"), "--aligned",
                   "--points", "300")
    assert bad.returncode == 1 and "300" in bad.stderr


def test_benchmark_compare_splits_network_and_post_processing(tmp_path):
    out = tmp_path / "compare.json"
    result = run_tool("benchmark.py", "--compare", "lotr_m", "heatmap_m_vec", "--repeat", "2",
                      "--warmup", "1", "--json", str(out))
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())
    assert [(r["model"], r["flip"]) for r in rows] == [
        ("lotr_m", False), ("lotr_m", True), ("heatmap_m_vec", False), ("heatmap_m_vec", True)]
    assert all(row["network_ms"] > 0 and row["post_ms"] > 0 for row in rows)
    assert "lotr_m / heatmap_m_vec: " in result.stdout and "paper 0.54" in result.stdout


def test_the_timing_split_puts_each_part_where_it_belongs(monkeypatch):
    """Stand-ins with known costs on a clock they drive themselves (no sleeping): a network
    that takes 20 ms per image, decoding 3 ms and the flip merge 2 ms."""
    import numpy as np

    from lotr_gluon.benchmark import timing
    from lotr_gluon.benchmark.inference import time_split

    clock = [0.0]
    monkeypatch.setattr(timing.time, "perf_counter", lambda: clock[0])

    def spend(ms):
        clock[0] += ms / 1000

    def network(batch):
        spend(20 * len(batch))
        return batch[:, 0, :1, :2]

    def decode(raw):
        spend(3)
        return raw

    def merge(points):
        spend(2)
        return points[:1]

    plain, flip = time_split("stand-in", network, decode, merge,
                             np.zeros((1, 3, 4, 4), np.float32), warmup=1, repeat=3)
    assert not plain.flip and flip.flip
    assert (plain.network_ms, plain.post_ms) == (20.0, 3.0)
    assert (flip.network_ms, flip.post_ms) == (40.0, 5.0)


def test_plot_curves_draws_two_runs_and_names_an_empty_log(tmp_path):
    val = {m: {"nme": 0.03, "auc": 50.0, "fr": 1.0} for m in ("no_flip", "flip")}
    for name, loss in (("a", 900.0), ("b", 1200.0)):
        os.makedirs(tmp_path / name)
        records = [{"epoch": e, "iteration": 50 * e, "loss": loss / e, "mean_shape_loss": 1000.0,
                    "val": val, "mean_shape_nme": 0.05} for e in (1, 2)]
        (tmp_path / name / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "curves.png"
    result = run_tool("plot_curves.py", str(tmp_path / "a"), str(tmp_path / "b"),
                      "--label", "A", "--label", "B", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (tmp_path / "empty.jsonl").write_text("")
    result = run_tool("plot_curves.py", str(tmp_path / "empty.jsonl"), "--out", str(out))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "empty.jsonl: no epochs logged yet" in result.stderr


def test_demo_report_states_the_bar_and_each_alignment(tmp_path):
    """4.93 / 1.29 = 3.8x passes a 3x bar; the second evaluation (detector alignment,
    5.49 / 3.06 = 1.8x) is one line that says how its faces were aligned."""
    import json

    from lotr_gluon.demo_report import summarize_run

    def write(folder, nme, base, alignment):
        os.makedirs(folder, exist_ok=True)
        line = {"nme": nme, "auc": 0.8, "failure_rate": 0.0}
        with open(os.path.join(folder, "metrics.json"), "w") as f:
            json.dump({"no_flip": line, "flip": line, "mean_shape_nme": base, "frame": "photo",
                       "alignment": alignment}, f)

    run, other = str(tmp_path / "demo"), str(tmp_path / "demo" / "by_detector")
    write(run, 0.0129, 0.0493, {"source": "ground_truth", "faces": 200, "detected": 0,
                                "fallback": 0, "skipped": 0})
    with open(os.path.join(run, "metrics.json")) as f:
        metrics = json.load(f)
    with open(os.path.join(run, "metrics.json"), "w") as f:  # 1.29 / 0.96 = 1.34x worse
        json.dump({**metrics, "linear_floor_nme": 0.0096}, f)
    write(other, 0.0306, 0.0549, {"source": "detector", "faces": 200, "detected": 129,
                                  "fallback": 71, "skipped": 0})
    text, passed = summarize_run(run, 3.0, [other])
    assert passed and "3.8x better (PASS: the bar is 3x)" in text
    assert "HOG ridge     0.96   -> the model is 1.34x worse" in text
    assert "NME in the photo frame; faces aligned from the ground truth's five points" in text
    assert ("aligned by the detector (129 of 200; 71 it missed from the ground truth): flip "
            "NME 3.06 vs mean shape 5.49 (1.8x)") in text
    assert not summarize_run(other, 3.0)[1]


def test_a_pack_trains_with_the_two_settings_pack_rec_prints(tmp_path):
    """pack_rec.py's own hint, as written: data.root=PACK and data.format=jd106_rec (the split
    train resolves to PACK/train.rec)."""
    from lotr_gluon.data.synthetic import write_synthetic_dataset

    write_synthetic_dataset(str(tmp_path / "synth"), 20, seed=3, workers=1, progress=False)
    pack = tmp_path / "pack"
    packed = run_tool("pack_rec.py", "--data", str(tmp_path / "synth"), "--format", "jd106",
                      "--out", str(pack), "--crop-size", "64")
    assert packed.returncode == 0, packed.stderr
    trained = run_tool("train.py", "--config", "experiments/demo_synthetic.yaml", "--set",
                       f"data.root={pack}", "--set", "data.format=jd106_rec", "--set",
                       "model.input_size=64", "--set", "train.batch_size=4", "--set",
                       "train.epochs=1", "--set", "data.workers=0", "--out",
                       str(tmp_path / "run"), "--no-progress")
    assert trained.returncode == 0, trained.stderr[-2000:]
    with open(tmp_path / "run" / "log.jsonl", encoding="utf-8") as f:
        assert json.loads(f.readline())["epoch"] == 1
