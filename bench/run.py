"""Run every benchmark and print one JSON object per line.

Usage: ``python bench/run.py [--quick] [--only NAME ...]``

Each ``bench/bench_*.py`` module has ``run(quick: bool) -> list[dict]``; every dict
has ``bench``, ``n``, ``seconds`` and, where there is one, ``reference``,
``reference_seconds`` and ``ratio`` (= seconds / reference_seconds), measured in
the same process and run, since this machine is shared and noisy. Extra keys
(``target_seconds``, ``note``) say what the figure is judged against.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def _clean(value):
    if isinstance(value, float):
        return round(value, 4) if math.isfinite(value) else None
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes; finishes in seconds")
    parser.add_argument("--only", nargs="*", default=None, help="module names, e.g. store sweep")
    args = parser.parse_args(argv)
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem.removeprefix("bench_")
        if args.only and name not in args.only:
            continue
        spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for record in module.run(args.quick):
            print(json.dumps({k: _clean(v) for k, v in record.items()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
