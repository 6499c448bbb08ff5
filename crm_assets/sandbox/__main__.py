"""`python -m crm_assets.sandbox --port 8765 --records 10000`: serve every configured API.

Prints the env vars (base URLs and the credentials the sandbox accepts) as `export` lines.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from crm_assets.config import RateLimitSpec, load_source_configs
from crm_assets.sandbox.routes import api_name
from crm_assets.sandbox.server import Sandbox
from crm_assets.sandbox.traffic import Latency
from crm_assets.sandbox.volume import Volume

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
    parser.add_argument("--latency-ms", type=float, default=0, help="every answer waits this long")
    parser.add_argument("--jitter-ms", type=float, default=0, help="plus a uniform draw up to this")
    parser.add_argument(
        "--rate", action="append", default=[], metavar="[SOURCE=]REQUESTS/SECONDS",
        help="rate limit per source, e.g. 4/1 for all, party_crm=4000/h for one (repeatable); "
        "past it the API answers 429 with Retry-After",
    )
    parser.add_argument(
        "--no-rate-headers", action="store_true",
        help="past a --rate limit, answer 429 with Retry-After only (no X-RateLimit-* headers)",
    )
    args = parser.parse_args()
    configs = load_source_configs(args.configs)
    apis = [api_name(load) for config in configs for load in config.account_loads()]
    rate_limits = parse_rate_limits(args.rate, apis, parser)
    volume = (
        Volume.spread(args.records, configs)
        if args.records is not None
        else Volume(default=args.rows_per_resource)
    )
    for override in args.rows:
        key, _, count = override.partition("=")
        volume.overrides[key] = int(count)
    sandbox = Sandbox(
        configs, volume=volume, host=args.host, port=args.port,
        latency=Latency(args.latency_ms, args.jitter_ms), rate_limits=rate_limits,
        rate_headers=not args.no_rate_headers,
    )
    for name, value in sandbox.env().items():
        print(f"export {name}={value}", flush=True)
    print(f"# sandbox serving {len(sandbox.configs)} APIs at {sandbox.url}", flush=True)
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        pass


def parse_rate_limits(
    specs: list[str], sources: list[str], parser: argparse.ArgumentParser
) -> dict[str, RateLimitSpec]:
    """`4/1` applies to every source, `party_crm=4000/h` to one (`party_crm.eu=...` to one
    account); later ones win."""
    limits: dict[str, RateLimitSpec] = {}
    for spec in specs:
        source, _, rate = spec.rpartition("=")
        if source and source not in sources:
            parser.error(f"--rate {spec}: no source {source!r} (sources: {', '.join(sources)})")
        try:
            limit = RateLimitSpec.parse(rate)
        except ValueError as error:
            parser.error(f"--rate {spec}: {error}")
        limits.update({name: limit for name in ([source] if source else sources)})
    return limits


if __name__ == "__main__":
    main()
