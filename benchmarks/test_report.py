"""The report's table (benchmarks/report.py), from a small pytest-benchmark JSON written
here: ratios come from the medians, per-op rows divide by the op count, memory-bound rows
are a fraction of the probe's bandwidth. (Not a benchmark: under --benchmark-only it is
skipped.)"""

import json

import report


def bench(group, variant, median, **info):
    return {"group": group, "name": f"test[{variant}]", "stats": {"median": median},
            "extra_info": {"variant": variant, **info}}


DATA = {"benchmarks": [
    bench("elementwise 1e6 float64", "c", 0.004),
    bench("elementwise 1e6 float64", "numpy", 0.016),
    bench("elementwise 1e6 float64", "torch", 0.010),
    bench("elementwise 1e6 float64", "floor", 0.008),
    bench("overhead", "c", 280e-6, ops_per_call=100),
    bench("overhead", "floor", 90e-6, ops_per_call=100),
    bench("acc 1e7", "c", 0.004, bytes_per_call=240_000_000),
    bench("triad 1e7", "c", 0.005, bytes_per_call=240_000_000, bandwidth_probe=True),
    {"group": "not labelled", "name": "x", "stats": {"median": 1.0}, "extra_info": {}},
]}


def cells(lines, group):
    line = next(line for line in lines if line.startswith(f"| {group} |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_report_table_ratios_come_from_the_medians(tmp_path):
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(DATA))
    rows = report.rows_from(json.loads(path.read_text()))
    assert list(rows) == ["elementwise 1e6 float64", "overhead", "acc 1e7", "triad 1e7"]
    lines = report.table(rows)
    head = cells(lines, "workload")
    row = dict(zip(head, cells(lines, "elementwise 1e6 float64")))
    assert row["C"] == "4 ms" and row["numpy path"] == "16 ms" and row["autograd"] == "-"
    assert row["numpy path / C"] == "4.00x" and row["PyTorch / C"] == "2.50x"
    assert row["C / floor"] == "0.50x" and row["autograd / C"] == "-"
    over = dict(zip(head, cells(lines, "overhead")))
    assert over["C"] == "2.80 us/op" and over["floor"] == "0.90 us/op"
    assert over["C / floor"] == "3.11x"
    acc = dict(zip(head, cells(lines, "acc 1e7")))
    assert acc["C: GB/s, of bandwidth"] == "60.0 GB/s = 125%"  # against the probe's 48
    probe = dict(zip(head, cells(lines, "triad 1e7")))
    assert probe["C: GB/s, of bandwidth"] == "48.0 GB/s (the probe)"
