"""Wall time of ``import ecg`` and of the first use of its heavier names, each in a fresh process.

Usage: ``python benchmarks/import_time.py [--repeat 5]``. Prints the best of ``--repeat``
runs per statement beside ``python -c pass`` (the interpreter's own start-up, the
baseline), and writes ``benchmarks/results/import_time.json``.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STATEMENTS = {
    "python -c pass (baseline)": "pass",
    "import ecg": "import ecg",
    "from ecg import EcgBatch": "from ecg import EcgBatch",
    "from ecg import KerasBaseModel + keras": "from ecg import KerasBaseModel; import keras",
}


def best_time(statement, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    results = {name: best_time(stmt, args.repeat) for name, stmt in STATEMENTS.items()}
    base = results["python -c pass (baseline)"]
    print(f"{'statement':42} {'seconds':>8} {'minus baseline':>15}")
    for name, seconds in results.items():
        print(f"{name:42} {seconds:8.3f} {seconds - base:15.3f}")
    os.makedirs(HERE / "results", exist_ok=True)
    (HERE / "results" / "import_time.json").write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
