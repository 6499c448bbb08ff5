"""`python -m crm_assets.sandbox --port 8765 --records 10000`: serve every configured API.

Prints the env vars (base URLs and the credentials the sandbox accepts) as `export` lines.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from crm_assets.config import load_source_configs
from crm_assets.sandbox.api import Volume
from crm_assets.sandbox.server import Sandbox

DEFAULT_CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--configs", type=Path, default=DEFAULT_CONFIGS)
    parser.add_argument(
        "--records", type=int, default=None, help="rows spread over all list resources"
    )
    parser.add_argument("--rows-per-resource", type=int, default=10)
    parser.add_argument(
        "--rows", action="append", default=[], metavar="SOURCE.RESOURCE=N",
        help="rows of one resource (repeatable)",
    )
    args = parser.parse_args()
    configs = load_source_configs(args.configs)
    volume = (
        Volume.spread(args.records, configs)
        if args.records is not None
        else Volume(default=args.rows_per_resource)
    )
    for override in args.rows:
        key, _, count = override.partition("=")
        volume.overrides[key] = int(count)
    sandbox = Sandbox(configs, volume=volume, host=args.host, port=args.port)
    for name, value in sandbox.env().items():
        print(f"export {name}={value}", flush=True)
    print(f"# sandbox serving {len(configs)} APIs at {sandbox.url}", flush=True)
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
