"""Run the benchmark suite and print one markdown table: medians and the ratios that matter.

    python benchmarks/report.py [--quick] [--save FILE] [-- extra pytest arguments]
    python benchmarks/report.py --from-json FILE

It runs ``pytest benchmarks --benchmark-only`` in a child process, reads the JSON that
pytest-benchmark writes, and prints the machine (CPU, cores, numpy and its BLAS, the
peers and torch's threads) above a table with one row per workload (pytest-benchmark
group) and one column per variant (see ``benchutil.py``): pyautodiff's C backend and
numpy path, the peers PyTorch, HIPS autograd and MyGrad where installed, and the floor
(the same math written by hand in numpy). The ratios are computed here from the medians
of that one run: numpy path / C, torch / C, autograd / C, mygrad / C, C / floor, and,
for memory-bound rows, C's GB/s and its fraction of the machine's bandwidth (the C
triad's GB/s; rows whose arrays fit in cache go above 100%).

``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` are removed from the child's environment:
they slow numpy, and a benchmark run is the one place where they are unset.

``--quick`` runs a subset (no 10^7-element rows, short timing) in under two minutes on
two cores; ``--save FILE`` keeps the JSON; ``--from-json FILE`` prints the table of an
earlier run (``--benchmark-json``) without running anything.

Why a script next to the suite rather than ``python -m pyautodiff.bench``: the suite is
part of the repository, not of the installed package, so the report lives where the
benchmarks it runs live and works from any clone.
"""

import argparse
import importlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
VARIANTS = ("c", "numpy", "compiled", "torch", "autograd", "mygrad", "floor")
HEADERS = {"c": "C", "numpy": "numpy path", "compiled": "compiled", "torch": "PyTorch", "autograd": "autograd",
           "mygrad": "MyGrad", "floor": "floor"}
PEER_RATIOS = ("numpy", "torch", "autograd", "mygrad")
QUICK = ["-k", "not 1e7", "--benchmark-max-time=0.2", "--benchmark-min-rounds=3"]


def run_suite(json_path, extra):
    """Run the benchmarks into ``json_path``; returns pytest's exit code."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    cmd = [sys.executable, "-m", "pytest", HERE, "--benchmark-only", "-q",
           "-p", "no:cacheprovider", f"--benchmark-json={json_path}", *extra]
    print("running:", " ".join(cmd[1:]), file=sys.stderr)
    # pytest's own tables go to stderr: stdout is the report alone
    return subprocess.call(cmd, env=env, cwd=os.path.dirname(HERE), stdout=sys.stderr)


def machine():
    """Lines describing the machine and the libraries of the run."""
    import numpy as np

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        deps = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{deps.get('name', '?')} {deps.get('version', '')}".strip()
    except Exception as e:  # noqa: BLE001  (older numpy: no dict form)
        blas = f"BLAS unknown: {type(e).__name__}"
    lines = [f"- CPU: {cpu}, {os.cpu_count()} cores; Python {platform.python_version()}",
             f"- numpy {np.__version__} ({blas})"]
    peers = []
    for name in ("torch", "autograd", "mygrad"):
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            peers.append(f"{name}: not installed")
            continue
        if name == "torch":
            try:
                threads = importlib.import_module("torch").get_num_threads()
                version += f", {threads} threads"
            except Exception:  # noqa: BLE001  (a broken torch install is reported, not fatal)
                version += ", does not import"
        peers.append(f"{name} {version}")
    lines.append("- peers: " + "; ".join(peers))
    try:
        import pyautodiff as ad

        lines.append(f"- pyautodiff: C core {'built' if ad.c_available() else 'NOT built'}")
    except ImportError:
        pass
    return lines


def rows_from(data):
    """{group: {variant: record}} from pytest-benchmark's JSON, in the run's order."""
    rows = {}
    for b in data["benchmarks"]:
        info = b.get("extra_info", {})
        variant = info.get("variant")
        if variant is None or b.get("stats") is None:
            continue
        rows.setdefault(b["group"] or b["name"], {})[variant] = {
            "median": b["stats"]["median"],
            "ops": info.get("ops_per_call"),
            "bytes": info.get("bytes_per_call"),
            "probe": info.get("bandwidth_probe", False),
        }
    return rows


def _time(seconds, ops):
    if ops:
        return f"{seconds / ops * 1e6:.2f} us/op"
    ms = seconds * 1e3
    return f"{ms:.0f} ms" if ms >= 100 else f"{ms:.3g} ms"


def _ratio(num, den):
    return f"{num / den:.2f}x" if num is not None and den else "-"


def table(rows):
    """The markdown table: one line per row, medians and ratios."""
    probes = [r["bytes"] / r["median"] for v in rows.values() for r in v.values()
              if r["probe"] and r["bytes"] and r["median"]]
    bandwidth = max(probes) if probes else None
    head = (["workload"] + [HEADERS[v] for v in VARIANTS]
            + [f"{HEADERS[v]} / C" for v in PEER_RATIOS] + ["C / floor", "C: GB/s, of bandwidth"])
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for group, variants in rows.items():
        med = {v: variants[v]["median"] for v in variants}
        ops = next((r["ops"] for r in variants.values() if r["ops"]), None)
        cells = [group] + [_time(med[v], ops) if v in med else "-" for v in VARIANTS]
        c = med.get("c")
        cells += [_ratio(med.get(v), c) if c else "-" for v in PEER_RATIOS]
        cells.append(_ratio(c, med.get("floor")) if "floor" in med else "-")
        crec = variants.get("c")
        if crec and crec["bytes"]:
            gbs = crec["bytes"] / crec["median"] / 1e9
            if crec["probe"]:
                cells.append(f"{gbs:.1f} GB/s (the probe)")
            else:  # (above 100% when the arrays fit in cache)
                share = f" = {gbs * 1e9 / bandwidth:.0%}" if bandwidth else ""
                cells.append(f"{gbs:.1f} GB/s{share}")
        else:
            cells.append("-")
        out.append("| " + " | ".join(cells) + " |")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a subset, under two minutes")
    parser.add_argument("--save", metavar="FILE", help="keep pytest-benchmark's JSON here")
    parser.add_argument("--from-json", metavar="FILE", help="report an earlier run's JSON")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    args = parser.parse_args(argv)
    if args.from_json:
        with open(args.from_json) as f:
            data = json.load(f)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            path = args.save or os.path.join(tmp, "bench.json")
            status = run_suite(path, (QUICK if args.quick else []) + args.pytest_args)
            if status != 0 or not os.path.exists(path):
                print(f"report: the benchmark run failed (pytest exit code {status})",
                      file=sys.stderr)
                return status or 1
            with open(path) as f:
                data = json.load(f)
    print("\n".join(machine()))
    print()
    print("\n".join(table(rows_from(data))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
