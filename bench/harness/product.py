"""The product names bench uses from modules that move as crm_assets/ is regrouped: imported
here only, so a move changes one line. bench/throughput.py's own process runs this as a script
for the selection instead of importing it (harness/benchmark.py says why)."""

from crm_assets.defs.names import NIGHTLY_SELECTION, asset_key, of as source_names
from crm_assets.extract import build_source

__all__ = ["NIGHTLY_SELECTION", "asset_key", "build_source", "source_names"]

if __name__ == "__main__":
    print(NIGHTLY_SELECTION)
