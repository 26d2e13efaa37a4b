"""`python -m bench` (`make bench`): run every bench/bench_*.py module's main() in turn."""
from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main() -> int:
    status = 0
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_"))
    for name in names:
        mod = importlib.import_module(f"bench.{name}")
        print(f"== {name} ==", flush=True)
        status |= int(mod.main([]) or 0)
        print(flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
