"""How long a catalog of N services takes to load and validate (issue 6: 10,000 in < 3 s).

Writes a generated catalog (one HTTP probe per service, as in the other benches) and times
``load_catalog`` (read, YAML parse with line numbers, schema validation, cross-checks) and
``plan_jobs`` (what the scheduler is handed), median of ``--repeat`` runs.

    python bench/catalog_load.py                    # 10,000 services, 3 loads
    python bench/catalog_load.py --services 1000,10000 --files 20
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.catalog_factory import catalog_dict, write_catalog
from monitor.catalog import load_catalog
from monitor.runtime.plan import plan_jobs


def write(n: int, tmp: Path, files: int) -> Path:
    """One file, or ``files`` files in a directory (how big catalogs are kept: per department)."""
    data = catalog_dict([f"http://127.0.0.1:9/s{i}" for i in range(n)])
    if files <= 1:
        return write_catalog(tmp / "catalog.yaml", data)
    root = tmp / f"split-{n}"
    root.mkdir()
    services = data.pop("services")
    write_catalog(root / "00-base.yaml", {**data, "services": services[: n // files]})
    for k in range(1, files):
        part = services[k * n // files:(k + 1) * n // files]
        write_catalog(root / f"{k:02d}-services.yaml", {"services": part})
    return root


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--services", default="10000")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--files", type=int, default=1, help="split the catalog over N files")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.services.split(",")):
            path = write(n, Path(tmp), args.files)
            loads, plans = [], []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                catalog = load_catalog(path)
                t1 = time.perf_counter()
                plan_jobs(catalog)
                loads.append(t1 - t0)
                plans.append(time.perf_counter() - t1)
            print(json.dumps({
                "services": len(catalog.services), "files": args.files,
                "load_validate_s_median": round(statistics.median(loads), 3),
                "plan_s_median": round(statistics.median(plans), 3),
                "loadavg_1m": round(os.getloadavg()[0], 2)}), flush=True)


if __name__ == "__main__":
    main()
