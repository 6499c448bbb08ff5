"""`python -m crm_assets.connection_check [source ...]`: one line per source (or JSON lines with
`--json`); exit 1 when any source fails, 2 on a bad argument. Credentials and base URLs come
from the same env vars as the loads."""

from __future__ import annotations

import argparse
import json
import sys

import dagster as dg

from crm_assets.config import SourceConfig, load_source_configs
from crm_assets.connection_check.probe import ConnectionResult, check_connection
from crm_assets.project_files import configs_dir
from crm_assets.resources import SourceApisResource


def check_from_env(config: SourceConfig, timeout_seconds: float) -> ConnectionResult:
    with dg.build_resources({"apis": SourceApisResource.from_env([config])}) as resources:
        return check_connection(config, resources.apis.api(config), timeout_seconds)


def main(argv: list[str] | None = None) -> int:
    configs = load_source_configs(configs_dir())
    names = [config.name for config in configs]
    parser = argparse.ArgumentParser(
        prog="python -m crm_assets.connection_check",
        description="Send one cheap authenticated request to each API; load nothing.",
    )
    parser.add_argument("sources", nargs="*", metavar="source", help=f"any of {', '.join(names)}")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser.add_argument("--json", action="store_true", help="one JSON object per source")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.sources) - set(names))
    if unknown:
        parser.error(f"unknown source(s) {unknown}; configured: {names}")
    results = [
        check_from_env(load, args.timeout)
        for config in configs
        if not args.sources or config.name in args.sources
        for load in config.account_loads()
    ]
    for result in results:
        print(json.dumps(result.metadata()) if args.json else result.line(), flush=True)
    return 0 if all(result.ok for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
