"""The command line of bench/throughput.py: its flags, and the combinations it refuses."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.volumes import DEFAULT_VOLUMES


def volumes_given() -> tuple[list[int], list[str]]:
    """(the --records volumes, every other argument): several volumes run one benchmark each."""
    volumes = argparse.ArgumentParser(add_help=False)
    volumes.add_argument("--records", type=int, nargs="+", default=DEFAULT_VOLUMES)
    known, rest = volumes.parse_known_args()
    return known.records, rest


def build_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, nargs="+", default=DEFAULT_VOLUMES,
                        help="rows spread over all list resources, or rows of --resource; "
                             "several: one benchmark each, then a closing table (default: "
                             "20000 1000000)")
    parser.add_argument("--source", help="single-resource mode: the source")
    parser.add_argument("--resource", help="single-resource mode: the resource")
    parser.add_argument("--json", type=Path, help="where to write the results")
    parser.add_argument("--budget", type=float, default=600,
                        help="seconds for the whole run; a stage past it is killed")
    parser.add_argument("--keep", action="store_true", help="keep the tmp work dir")
    parser.add_argument("--dagster-extra-config", metavar="JSON",
                        help="also run stages 3x/4x: the same CLI with this run config "
                             "(--config-json), fresh DuckDB file; e.g. "
                             "'{\"execution\": {\"config\": {\"in_process\": {}}}}' where the "
                             "code location's executor is multi_or_in_process")
    parser.add_argument("--patch", type=Path, action="append", default=[],
                        help="a unified diff (-p1) applied to the "
                             "snapshot before the run; repeatable")
    parser.add_argument("--no-snapshot", action="store_true",
                        help="run the live crm_assets/ and configs/ instead of a copy taken at "
                             "the start")
    parser.add_argument(
        "--rerun", action="store_true",
        help="all-sources mode: run stage 4 too (most resources have no modification filter "
             "and are fetched again: ~0.8x stage 3); single-resource mode always runs it")
    parser.add_argument(
        "--sandbox-nodelay", action="store_true",
        help="run the (unchanged) sandbox with TCP_NODELAY on its sockets, through a "
             "sitecustomize on its PYTHONPATH: removes a ~40 ms Nagle/delayed-ACK stall per "
             "small response that real APIs do not have")
    parser.add_argument("--latency-ms", type=float, default=0,
                        help="stage 3 against a sandbox answering after this latency")
    parser.add_argument("--jitter-ms", type=float, default=0, help="latency jitter (uniform)")
    parser.add_argument("--rate", action="append", default=[], metavar="[SOURCE=]N/SECONDS",
                        help="stage 3 against a sandbox limiting each source's requests "
                             "(429 past it); repeatable, as the sandbox's --rate")
    parser.add_argument("--pii", choices=["shipped", "none", "hash-all"], default="shipped",
                        help="PII policies of the copied configs (see the docstring)")
    parser.add_argument("--only-3-over-1", action="store_true",
                        help="skip stages 2 and 5: the floor and the Dagster run only, for a "
                             "3/1 comparison in half the time")
    return parser


def parse_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """One volume's arguments; `--pii` and `--patch` change the snapshot, so they refuse
    `--no-snapshot`."""
    args = parser.parse_args()
    [args.records] = args.records
    if args.pii != "shipped" and args.no_snapshot:
        parser.error("--pii rewrites the snapshot's configs; drop --no-snapshot")
    if bool(args.source) != bool(args.resource):
        parser.error("--source and --resource go together")
    if args.patch and args.no_snapshot:
        parser.error("--patch applies to the snapshot; drop --no-snapshot")
    return args
