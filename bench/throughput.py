"""Throughput of the pipeline against the sandbox, stage by stage, in one run.

    .venv/bin/python bench/throughput.py                    # 20,000 then 1,000,000 records
    .venv/bin/python bench/throughput.py --records 200000
    .venv/bin/python bench/throughput.py --records 200000 --source success_analytics --resource tickets

Starts `python -m crm_assets.sandbox` as a subprocess (its own GIL), then runs every stage as its
own process and measures wall seconds, rows, rows/s and peak RSS (ru_maxrss from wait4: the
largest single process of the stage's process tree; plus the sampled sum over the tree):

  0  the sandbox alone: in-process cost of `serve_page` + `orjson.dumps` for every page the
     floor fetched (the HTTP path of the sandbox is measured by stage 1), and the sandbox
     server's own CPU seconds while stage 1 ran.
  1  the floor: a bare `requests.Session` (keep-alive) fetching every page the pipeline fetches
     (same paths, params, page sizes, auth, paginators, children and `for_each` paths), decoding
     JSON with `response.json()` and selecting the rows with the config's data selector.
  2  plain dlt, no Dagster: `dlt.pipeline(...).run(build_source(...), loader_file_format=parquet)`
     per source into a fresh DuckDB file, as `DestinationResource` sets it up.
  3  `dagster asset materialize -m crm_assets.definitions --select <sel>` (the CLI), fresh
     DAGSTER_HOME, fresh DuckDB file and pipelines dir.
  4  the same command again, nothing changed upstream (same DuckDB file). Single-resource mode
     (pick an incremental resource for the 4/3 target); all-sources mode with --rerun.
  5  code-location load: `dagster definitions validate -m crm_assets.definitions` vs
     `python -c "import dagster, dlt"`, median of 3 each; and (5e) the same validate command
     on an empty `Definitions()`, the CLI's own cost (its instance and storage imports).

Stages 2, 3 and 4 are valid only if the rows in DuckDB (tables of the selected resources, no
`_dlt*` and no nested `__` tables) equal the rows the floor fetched, table by table; the pages
the sandbox served during each stage are compared with the floor's too (a rerun of an
incremental resource fetches fewer pages: the lag window only).
Results go to stdout and to JSON (default bench/results/throughput-<N>[-<source>.<resource>].json).

The code under test is a copy of crm_assets/, configs/ and .dlt/config.toml taken at the start
(its sha256 is printed; every stage runs with the copy as working directory), so edits made
during a run do not mix versions; `--patch FILE` applies a proposed change (a -p1 unified
diff) to that copy only. The machine is shared: the `otherCPU s`
column is the CPU time processes outside the benchmark used during each stage; rerun when it
is not ~0. `--budget` (default 600 s) kills a stage that would run past it.

Single-resource mode: `--source S --resource R` starts the sandbox with `--rows S.C=N
--rows-per-resource 0` (C: the collection the resource reads) and selects `S/R`.

Personal data: `--pii none` strips every PII policy from the copied configs (no hashing at
all), `--pii hash-all` makes every source hash every e-mail and phone field the sandbox serves
(`email`, `phone`, `emails[*].value`, `owner.email`), `--pii shipped` (default) runs the configs
as they are. 3/1 with `none` against `hash-all` is the cost of hashing.

A real API's latency and rate limits: `--latency-ms 100 [--jitter-ms 20] [--rate 4/1]
[--rate party_crm=4000/h]` start a second sandbox that answers that way. Stage 3 runs against
it and stage 3i (the same CLI, fresh DuckDB) against the instant one, the reference; stages 2
and 5 are skipped (they do not depend on the network). After stage 3 it prints, per source
from the slow sandbox's own counters: requests, 429s, peak and mean requests in flight, the
rate achieved against the budget, and the run's wall against the budget floor (max over
sources of the windows its requests need) and against the latency target (3i + 25% of requests x latency).
Stage 3's client budget (`<SOURCE>_RATE_LIMIT`) is the API's limit, or none where the API has
none (every stage against the instant sandbox runs without one).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Where the code under test lives; `--snapshot` (default) points these at a copy of
# crm_assets/ and configs/ taken at the start, so edits made while a run is going on do not
# mix versions within the run.
CODE_DIR = ROOT
CONFIGS_DIR = ROOT / "configs"
PARENT_REFERENCE = re.compile(r"\{resources\.([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)\}")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


# --------------------------------------------------------------------------------------------
# Measuring a child process: wall time, rusage of its tree (wait4), sampled tree RSS.
# --------------------------------------------------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return children


def tree_rss_bytes(pid: int) -> int:
    children = _children_map()
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/statm", "rb") as statm:
                total += int(statm.read().split()[1]) * PAGE_SIZE
        except (OSError, IndexError, ValueError):
            pass
        stack.extend(children.get(current, []))
    return total


class TreeRssSampler(threading.Thread):
    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, tree_rss_bytes(self.pid))
            self._stop_event.wait(self.interval)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak


SANDBOX_PID: int | None = None  # its CPU is not "other" load


def system_busy_s() -> float:
    """Busy CPU seconds of the whole machine so far (all cores), from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def run_measured(
    command: list[str], env: dict[str, str], log_path: Path, timeout: float
) -> dict[str, Any]:
    """Run `command` to completion as its own process group; wall, rusage (wait4), tree RSS,
    and the CPU seconds other processes of the machine used meanwhile (load we do not control:
    everything busy minus this stage's tree, the sandbox and this orchestrator)."""
    busy0, own0 = system_busy_s(), sum(os.times()[:2])
    sandbox0 = proc_cpu_seconds(SANDBOX_PID) if SANDBOX_PID else 0.0
    load0 = os.getloadavg()[0]
    with log_path.open("wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, env=env, cwd=CODE_DIR, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        sampler = TreeRssSampler(process.pid)
        sampler.start()
        timed_out = False
        try:
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() - started > timeout:
                    timed_out = True
                    os.killpg(process.pid, signal.SIGKILL)
                    pid, status, usage = os.wait4(process.pid, 0)
                    break
                time.sleep(0.005)
        except BaseException:
            # Interrupted (Ctrl-C, SIGTERM): take the stage's whole process group down with us.
            try:
                os.killpg(process.pid, signal.SIGKILL)
                os.wait4(process.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            sampler.stop()
            raise
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        tree_peak = sampler.stop()
    sandbox1 = proc_cpu_seconds(SANDBOX_PID) if SANDBOX_PID else 0.0
    other = (system_busy_s() - busy0) - (usage.ru_utime + usage.ru_stime) \
        - (sandbox1 - sandbox0) - (sum(os.times()[:2]) - own0)
    return {
        "other_cpu_s": max(other, 0.0),
        "loadavg_1m_before": load0,
        "wall_s": wall,
        "returncode": process.returncode,
        "timed_out": timed_out,
        "maxrss_mb": usage.ru_maxrss / 1024,  # KiB on Linux: the largest process of the tree
        "tree_rss_mb": tree_peak / 2**20,  # sampled every 0.2 s: the sum over the tree
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "log": str(log_path),
    }


def proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as stat:
        fields = stat.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_hwm_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# --------------------------------------------------------------------------------------------
# The plan: what the pipeline fetches, as plain data (the floor process imports only requests).
# --------------------------------------------------------------------------------------------


def load_configs(configs_dir: Path | str | None = None) -> list[Any]:
    from crm_assets.config import load_source_configs

    return load_source_configs(Path(configs_dir or CONFIGS_DIR))


def selected_resources(config: Any, resource: str | None) -> tuple[list[str], set[str]]:
    """(resources to fetch, parents first; resources loaded) for one source."""
    names = [r.name for r in config.resources]
    if resource is None:
        needed, loaded = set(names), set(names)
    else:
        needed, loaded, current = set(), {resource}, resource
        while current:
            needed.add(current)
            current = config.resource(current).parent
    ordered: list[str] = []

    def visit(name: str) -> None:
        if name in ordered:
            return
        parent = config.resource(name).parent
        if parent:
            visit(parent)
        ordered.append(name)

    for name in names:
        if name in needed:
            visit(name)
    return ordered, loaded


def floor_plan(configs: list[Any], env: dict[str, str], source: str | None,
               resource: str | None) -> list[dict[str, Any]]:
    plan = []
    for config in configs:
        if source and config.name != source:
            continue
        secrets = {field: env[var] for field, var in config.auth.env.items()}
        auth = config.auth
        headers, query, basic = {}, {}, None
        if auth.type == "bearer":
            headers["Authorization"] = f"Bearer {secrets['token']}"
        elif auth.type == "http_basic":
            basic = [secrets["username"], secrets["password"]]
        elif auth.location == "header":
            headers[auth.name] = secrets["api_key"]
        else:
            query[auth.name] = secrets["api_key"]
        ordered, loaded = selected_resources(config, resource)
        needed_fields: dict[str, set[str]] = {}
        for name in ordered:
            match = PARENT_REFERENCE.search(config.resource(name).endpoint.path)
            if match:
                needed_fields.setdefault(match.group(1), set()).add(match.group(2))
        default_endpoint = config.resource_defaults.endpoint
        resources = []
        for name in ordered:
            spec = config.resource(name)
            paginator = spec.endpoint.paginator or default_endpoint.paginator
            match = PARENT_REFERENCE.search(spec.endpoint.path)
            params = {**default_endpoint.params, **spec.endpoint.params}
            incremental = getattr(spec.endpoint, "incremental", None)
            if incremental is not None:
                # A first load sends the start param with the initial value on every page.
                params[incremental.start_param] = incremental.initial_value
            resources.append({
                "name": name,
                "path": spec.endpoint.path,
                "params": params,
                "paginator": paginator.model_dump() if paginator else {"type": "single_page"},
                "data_selector": spec.endpoint.data_selector,
                "parent": [match.group(0), match.group(1), match.group(2)] if match else None,
                "for_each": [[k, v] for k, v in (spec.for_each or {}).items()] or None,
                "loaded": name in loaded,
                "keep_fields": sorted(needed_fields.get(name, ())),
            })
        plan.append({
            "source": config.name,
            "base_url": env[config.base_url_env],
            "headers": headers,
            "query": query,
            "basic": basic,
            "resources": resources,
        })
    return plan


# --------------------------------------------------------------------------------------------
# Stage processes.
# --------------------------------------------------------------------------------------------


def select_rows(payload: Any, selector: str | None) -> list[Any]:
    """The rows at `selector`, as dlt's RESTClient.extract_response returns them."""
    if not selector:
        return payload if isinstance(payload, list) else [payload]
    values = [payload]
    for step in selector.replace("[*]", ".*").split("."):
        if step == "*":
            values = [
                item for value in values
                for item in (value if isinstance(value, list) else
                             value.values() if isinstance(value, dict) else ())
            ]
        else:
            values = [value[step] for value in values if isinstance(value, dict) and step in value]
    data = values[0] if len(values) == 1 else values
    if data is None:
        return []
    return data if isinstance(data, list) else [data]


def stage_floor(ctx: dict[str, Any], out: dict[str, Any]) -> None:
    import requests

    plan = ctx["plan"]
    session = requests.Session()
    urls: list[str] = []
    rows: dict[str, int] = {}
    pages: dict[str, int] = {}
    fetched_bytes = 0

    def get(url: str, params: dict[str, Any] | None, source: dict[str, Any]) -> Any:
        nonlocal fetched_bytes
        response = session.get(
            url, params=params, headers=source["headers"],
            auth=tuple(source["basic"]) if source["basic"] else None, timeout=60,
        )
        response.raise_for_status()
        urls.append(response.url)
        fetched_bytes += len(response.content)
        return response

    started = time.perf_counter()
    for source in plan:
        base = source["base_url"].rstrip("/") + "/"
        kept: dict[str, list[dict[str, Any]]] = {}
        for resource in source["resources"]:
            key = f"{source['source']}.{resource['name']}"
            paths: list[str] = []
            if resource["parent"]:
                placeholder, parent, field = resource["parent"]
                paths = [resource["path"].replace(placeholder, str(row[field]))
                         for row in kept[parent]]
            elif resource["for_each"]:
                ((name, values),) = resource["for_each"]
                paths = [resource["path"].replace("{" + name + "}", v) for v in values]
            else:
                paths = [resource["path"]]
            keep = resource["keep_fields"]
            kept_rows: list[dict[str, Any]] = []
            count = page_count = 0
            paginator = resource["paginator"]
            selector = resource["data_selector"]
            for path in paths:
                url = base + path.lstrip("/")
                params = {**resource["params"], **source["query"]}
                style = paginator["type"]
                if style == "single_page":
                    page_rows_iter = [select_rows(get(url, params, source).json(), selector)]
                elif style == "header_link":
                    def header_link_pages(url: str = url, params: dict = params) -> Any:
                        response = get(url, params, source)
                        yield select_rows(response.json(), selector)
                        while (link := response.links.get(paginator["links_next_key"])):
                            response = get(link["url"], None, source)
                            yield select_rows(response.json(), selector)
                    page_rows_iter = header_link_pages()
                elif style == "page_number":
                    def page_number_pages(url: str = url, params: dict = params) -> Any:
                        page = paginator["base_page"]
                        while True:
                            data = select_rows(
                                get(url, {**params, paginator["page_param"]: page},
                                    source).json(), selector)
                            yield data
                            page += 1
                            if not data or (paginator["maximum_page"] is not None
                                            and page >= paginator["maximum_page"]):
                                return
                    page_rows_iter = page_number_pages()
                elif style == "offset":
                    def offset_pages(url: str = url, params: dict = params) -> Any:
                        offset, limit = 0, paginator["limit"]
                        while True:
                            data = select_rows(get(url, {
                                **params, paginator["offset_param"]: offset,
                                paginator["limit_param"]: limit}, source).json(), selector)
                            yield data
                            offset += limit
                            if not data or (paginator["maximum_offset"] is not None
                                            and offset >= paginator["maximum_offset"]):
                                return
                    page_rows_iter = offset_pages()
                else:
                    raise ValueError(f"paginator {style!r} not supported by the floor")
                for data in page_rows_iter:
                    page_count += 1
                    count += len(data)
                    if keep:
                        kept_rows.extend({f: row[f] for f in keep} for row in data)
            if keep:
                kept[resource["name"]] = kept_rows
            pages[key] = page_count
            if resource["loaded"]:
                rows[key] = count
    out["inner_s"] = time.perf_counter() - started
    out.update(rows=rows, pages=pages, bytes=fetched_bytes, requests=len(urls))
    Path(ctx["urls_path"]).write_text("\n".join(urls))


def stage_serve(ctx: dict[str, Any], out: dict[str, Any]) -> None:
    """The sandbox's own cost per page, in-process: serve_page + orjson.dumps for every URL the
    floor fetched, in the same order."""
    from urllib.parse import parse_qsl, urlparse

    import orjson

    from crm_assets.sandbox.api import build_routes, serve_page

    configs = load_configs(ctx["configs_dir"])
    volume = make_volume(ctx, configs)
    routes = build_routes(configs)
    requests_ = []
    for url in Path(ctx["urls_path"]).read_text().split("\n"):
        if not url:
            continue
        parsed = urlparse(url)
        source, _, rest = parsed.path.lstrip("/").partition("/")
        query = dict(parse_qsl(parsed.query))
        route, match = next(
            (route, m) for route in routes[source] if (m := route.pattern.match("/" + rest))
        )
        requests_.append((route, match, query, f"http://{parsed.netloc}{parsed.path}"))
    rows = body_bytes = 0
    generate = dump = 0.0
    for route, match, query, self_url in requests_:
        t0 = time.perf_counter()
        page = serve_page(route, volume, query, match, self_url)
        t1 = time.perf_counter()
        body = orjson.dumps(page.body)
        t2 = time.perf_counter()
        generate += t1 - t0
        dump += t2 - t1
        rows += page.rows
        body_bytes += len(body)
    out.update(inner_s=generate + dump, serve_page_s=generate, dumps_s=dump, rows_served=rows,
               pages=len(requests_), bytes=body_bytes)


def stage_dlt(ctx: dict[str, Any], out: dict[str, Any]) -> None:
    """Plain dlt, the project's settings (DestinationResource: duckdb file, parquet)."""
    started_import = time.perf_counter()
    import dlt

    from crm_assets.source_builder import build_source

    configs = load_configs(ctx["configs_dir"])
    out["import_s"] = time.perf_counter() - started_import
    env = ctx["env"]
    duckdb_path = Path(ctx["duckdb_path"]).resolve()
    duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    steps: dict[str, dict[str, float]] = {}
    started = time.perf_counter()
    for config in configs:
        if ctx["source"] and config.name != ctx["source"]:
            continue
        secrets = {field: env[var] for field, var in config.auth.env.items()}
        source = build_source(
            config, env[config.base_url_env], secrets, pii_hash_key=env.get("CRM_PII_HASH_KEY")
        )
        if ctx["resource"]:
            source = source.with_resources(ctx["resource"])
        pipeline = dlt.pipeline(
            pipeline_name=config.name,
            dataset_name=config.name,
            destination=dlt.destinations.duckdb(str(duckdb_path)),
            pipelines_dir=ctx["pipelines_dir"],
        )
        t0 = time.perf_counter()
        info = pipeline.run(source, loader_file_format=ctx.get("loader_file_format", "parquet"))
        info.raise_on_failed_jobs()
        timings = {"run": time.perf_counter() - t0}
        for step in pipeline.last_trace.steps:
            if step.finished_at and step.started_at:
                timings[step.step] = (step.finished_at - step.started_at).total_seconds()
        steps[config.name] = timings
    out["inner_s"] = time.perf_counter() - started
    out["steps"] = steps


def make_volume(ctx: dict[str, Any], configs: list[Any]) -> Any:
    """The sandbox's Volume, built as `python -m crm_assets.sandbox` builds it from its args."""
    from crm_assets.sandbox.api import Volume

    args = ctx["sandbox_args"]
    if args.get("records") is not None:
        volume = Volume.spread(args["records"], configs)
    else:
        volume = Volume(default=args["rows_per_resource"])
    for key, count in args.get("rows", {}).items():
        volume.overrides[key] = count
    return volume


STAGES = {"floor": stage_floor, "serve": stage_serve, "dlt": stage_dlt}


def run_stage_process(name: str, ctx_path: str, out_path: str) -> None:
    ctx = json.loads(Path(ctx_path).read_text())
    out: dict[str, Any] = {}
    STAGES[name](ctx, out)
    Path(out_path).write_text(json.dumps(out))


# --------------------------------------------------------------------------------------------
# The orchestrator.
# --------------------------------------------------------------------------------------------


def snapshot_code(target: Path, attempts: int = 10, wait_s: float = 30,
                  patches: list[Path] | None = None) -> dict[str, Any]:
    """Copy crm_assets/ and configs/ and make every later import (here and in every subprocess,
    through PYTHONPATH and the working directory) use the copy; retry while the live tree does
    not import (someone mid-edit)."""
    import hashlib

    global CODE_DIR, CONFIGS_DIR
    for attempt in range(1, attempts + 1):
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(ROOT / "crm_assets", target / "crm_assets",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(ROOT / "configs", target / "configs")
        if (ROOT / ".dlt").is_dir():
            # dlt reads ./.dlt/config.toml from the working directory: the copy is the cwd
            shutil.copytree(ROOT / ".dlt", target / ".dlt",
                            ignore=shutil.ignore_patterns("secrets.toml"))
        for patch in patches or []:
            # A proposed change, applied to the copy only (the live tree is never touched).
            applied = subprocess.run(["patch", "-p1", "-d", str(target), "-i", str(Path(patch).resolve())],
                                     capture_output=True, text=True)
            if applied.returncode != 0:
                raise SystemExit(f"{patch} does not apply to the current code:\n"
                                 f"{applied.stdout}{applied.stderr}")
        env = {**os.environ, "PYTHONPATH": str(target)}
        check = subprocess.run(
            [sys.executable, "-c", "import crm_assets.definitions as d; "
             "assert d.__file__.startswith(%r)" % str(target)],
            cwd=target, env=env, capture_output=True, text=True,
        )
        if check.returncode == 0:
            break
        print(f"snapshot attempt {attempt}: crm_assets.definitions does not import; retrying in "
              f"{wait_s:.0f} s\n{check.stderr.strip().splitlines()[-1] if check.stderr else ''}",
              flush=True)
        time.sleep(wait_s)
    else:
        raise SystemExit("the live crm_assets/ never imported; nothing to benchmark")
    digest = hashlib.sha256()
    files = sorted(p for p in target.rglob("*") if p.is_file())
    for path in files:
        digest.update(str(path.relative_to(target)).encode() + b"\0" + path.read_bytes())
    CODE_DIR, CONFIGS_DIR = target, target / "configs"
    sys.path.insert(0, str(target))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(target), *filter(None, [os.environ.get("PYTHONPATH")])])
    return {"dir": str(target), "sha256": digest.hexdigest(),
            "patches": [str(patch) for patch in patches or []],
            "files": [str(p.relative_to(target)) for p in files if p.suffix == ".py"]}


HASH_ALL_PII = {"email": "hash", "phone": "hash", "emails[*].value": "hash", "owner.email": "hash"}


def set_pii_policies(configs_dir: Path, mode: str) -> None:
    """Rewrite the copied configs' PII policies: `none` removes them, `hash-all` hashes every
    e-mail and phone field in every resource of every source."""
    import yaml

    for path in sorted(configs_dir.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        defaults = raw.setdefault("resource_defaults", {})
        defaults.pop("pii", None)
        for resource in raw["resources"]:
            resource.pop("pii", None)
        if mode == "hash-all":
            defaults["pii"] = dict(HASH_ALL_PII)
        path.write_text(yaml.safe_dump(raw, sort_keys=False))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


NODELAY_SITECUSTOMIZE = """\
# Written by bench/throughput.py --sandbox-nodelay: the sandbox's handler writes the headers and
# the body in two send() calls; with Nagle on, the body waits for the client's delayed ACK
# (~40 ms on Linux) whenever it ends in a partial segment. TCP_NODELAY on accepted sockets.
import socketserver
socketserver.StreamRequestHandler.disable_nagle_algorithm = True
"""


class SandboxProcess:
    def __init__(self, args: list[str], log_path: Path, nodelay: bool = False) -> None:
        self.port = free_port()
        self.log = log_path.open("wb")
        env = dict(os.environ)
        if nodelay:
            site_dir = log_path.parent / "sandbox_nodelay"
            site_dir.mkdir(exist_ok=True)
            (site_dir / "sitecustomize.py").write_text(NODELAY_SITECUSTOMIZE)
            env["PYTHONPATH"] = os.pathsep.join(
                [str(site_dir), *filter(None, [env.get("PYTHONPATH")])])
        self.process = subprocess.Popen(
            [sys.executable, "-m", "crm_assets.sandbox", "--port", str(self.port), *args],
            cwd=CODE_DIR, env=env, stdout=subprocess.PIPE, stderr=self.log,
            start_new_session=True,
        )
        global SANDBOX_PID
        SANDBOX_PID = self.process.pid
        self.env: dict[str, str] = {}
        deadline = time.time() + 60
        assert self.process.stdout is not None
        while time.time() < deadline:
            line = self.process.stdout.readline().decode()
            if not line:
                raise RuntimeError(f"sandbox exited early; see {log_path}")
            if line.startswith("export "):
                name, _, value = line[len("export "):].strip().partition("=")
                self.env[name] = value
            elif line.startswith("# sandbox serving"):
                self.banner = line.strip()
                return
        raise RuntimeError("sandbox did not start within 60 s")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/_sandbox/stats", timeout=30) as response:
            return json.loads(response.read())

    def reset(self) -> None:
        """Zero the counters and the rate-limit windows: each stage starts on a fresh budget."""
        request = urllib.request.Request(f"{self.url}/_sandbox/reset", data=b"", method="POST")
        urllib.request.urlopen(request, timeout=30).close()

    def cpu_s(self) -> float:
        return proc_cpu_seconds(self.process.pid)

    def hwm_mb(self) -> float:
        return proc_hwm_mb(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def duckdb_counts(duckdb_path: Path, sources: list[str]) -> dict[str, int]:
    """Rows per `<source>.<table>`: every table of the datasets, no `_dlt*`, no nested `__`."""
    from crm_assets.demo import dataset_row_counts

    if not duckdb_path.exists():
        return {}
    return {
        f"{source}.{table}": rows
        for source in sources
        for table, rows in dataset_row_counts(duckdb_path, source).items()
    }


def verify(stage: str, counts: dict[str, int], expected: dict[str, int]) -> dict[str, Any]:
    mismatches = {
        key: {"duckdb": counts.get(key), "floor": expected.get(key)}
        for key in sorted(set(counts) | set(expected))
        if counts.get(key) != expected.get(key)
    }
    total = sum(counts.get(key, 0) for key in expected)
    by_source: dict[str, list[int]] = {}
    for key, rows in counts.items():
        by_source.setdefault(key.split(".")[0], [0, 0, 0])
        by_source[key.split(".")[0]][0] += 1
        by_source[key.split(".")[0]][1] += rows
    for key, rows in expected.items():
        by_source.setdefault(key.split(".")[0], [0, 0, 0])[2] += rows
    print(f"  row check after stage {stage}: "
          f"{'OK' if not mismatches else 'MISMATCH'} ({total} rows in DuckDB, "
          f"{sum(expected.values())} fetched by the floor)")
    for source, (tables, rows, floor_rows) in sorted(by_source.items()):
        print(f"    {source:18} {tables:3} tables {rows:>10} rows   floor {floor_rows:>10}")
    if len(counts) <= 3:
        for key, rows in counts.items():
            print(f"    {key:40} {rows:>10}")
    for key, pair in list(mismatches.items())[:20]:
        print(f"    mismatch {key}: duckdb={pair['duckdb']} floor={pair['floor']}")
    return {"valid": not mismatches, "rows": total, "counts": counts, "mismatches": mismatches}


def pages_served(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    return {key: count - before["pages"].get(key, 0) for key, count in after["pages"].items()
            if count - before["pages"].get(key, 0)}


def median_wall(command: list[str], env: dict[str, str], log_dir: Path, label: str,
                repeat: int = 3) -> dict[str, Any]:
    runs = [run_measured(command, env, log_dir / f"{label}-{i}.log", timeout=300)
            for i in range(repeat)]
    failed = [r for r in runs if r["returncode"] != 0]
    return {
        "wall_s": statistics.median(r["wall_s"] for r in runs),
        "walls_s": [r["wall_s"] for r in runs],
        "maxrss_mb": max(r["maxrss_mb"] for r in runs),
        "tree_rss_mb": max(r["tree_rss_mb"] for r in runs),
        "other_cpu_s": max(r["other_cpu_s"] for r in runs),
        "returncode": failed[0]["returncode"] if failed else 0,
        "log": runs[-1]["log"],
    }


def tail(path: str, lines: int = 30) -> str:
    text = Path(path).read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def fmt(value: Any, spec: str) -> str:
    if value is None:
        width = re.match(r"\d*", spec).group(0)
        return "-".rjust(int(width) if width else 1)
    return format(value, spec)


def exit_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so `finally` blocks stop the sandbox and the stage."""

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


DEFAULT_VOLUMES = [20_000, 1_000_000]


def run_volumes(volumes: list[int], argv: list[str]) -> None:
    """One full benchmark per volume, each a process of its own, then the closing table: the
    targets are ratios at a nightly run's volume (20k) and at 1M."""
    with tempfile.TemporaryDirectory(prefix="crm-bench-volumes-") as tmp:
        results = []
        for records in volumes:
            json_path = Path(tmp) / f"{records}.json"
            subprocess.run(
                [sys.executable, __file__, "--records", str(records), "--json", str(json_path),
                 *argv], check=True,
            )
            results.append(json.loads(json_path.read_text()))
    print("\nclosing table")
    print("| records | requests | 1 floor s | 2 plain dlt s | 3 dagster s | 3/2 | 3/1 | "
          "5 load / import |")
    print("|---|---|---|---|---|---|---|---|")
    for result in results:
        seconds = {row["stage"]: row["seconds"] for row in result["table"]}
        ratios = result["ratios"]
        print(f"| {result['args']['records']:,} | {result['stages']['1']['requests']:,} | "
              f"{fmt(seconds.get('1'), '.2f')} | {fmt(seconds.get('2'), '.2f')} | "
              f"{fmt(seconds.get('3'), '.2f')} | "
              f"{fmt(ratios.get('3/2 (Dagster overhead)'), '.2f')} | "
              f"{fmt(ratios.get('3/1 (end-to-end vs HTTP floor)'), '.2f')} | "
              f"{fmt(ratios.get('5 (validate / import dagster+dlt)'), '.2f')} |")


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--stage":
        run_stage_process(sys.argv[2], sys.argv[3], sys.argv[4])
        return
    exit_on_sigterm()
    volumes = argparse.ArgumentParser(add_help=False)
    volumes.add_argument("--records", type=int, nargs="+", default=DEFAULT_VOLUMES)
    known, rest = volumes.parse_known_args()
    if len(known.records) > 1:
        run_volumes(known.records, rest)
        return
    parser = argparse.ArgumentParser(description=__doc__,
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
    args = parser.parse_args()
    [args.records] = args.records
    if args.pii != "shipped" and args.no_snapshot:
        parser.error("--pii rewrites the snapshot's configs; drop --no-snapshot")
    if bool(args.source) != bool(args.resource):
        parser.error("--source and --resource go together")
    started_run = time.perf_counter()

    def remaining() -> float:
        return args.budget - (time.perf_counter() - started_run)

    work = Path(tempfile.mkdtemp(prefix="crm-bench-"))
    if args.patch and args.no_snapshot:
        parser.error("--patch applies to the snapshot; drop --no-snapshot")
    code = None if args.no_snapshot else snapshot_code(work / "code", patches=args.patch)
    if args.pii != "shipped":
        set_pii_policies(CONFIGS_DIR, args.pii)
    configs = load_configs()
    single = bool(args.resource)
    if single:
        config = next((c for c in configs if c.name == args.source), None)
        if config is None or args.resource not in [r.name for r in config.resources]:
            parser.error(f"no resource {args.source}/{args.resource} in {CONFIGS_DIR}")
        # The sandbox sizes a collection by the first resource reading its path; a child is
        # sized by its root parent.
        root = args.resource
        while config.resource(root).parent:
            root = config.resource(root).parent
        path = config.resource(root).endpoint.path
        collection = next(r.name for r in config.resources if r.endpoint.path == path)
        sandbox_args = {"records": None, "rows_per_resource": 0,
                        "rows": {f"{args.source}.{collection}": args.records}}
        sandbox_cli = ["--rows", f"{args.source}.{collection}={args.records}",
                       "--rows-per-resource", "0"]
        selection = f"{args.source}/{args.resource}"
        sources = [args.source]
    else:
        sandbox_args = {"records": args.records, "rows_per_resource": 10, "rows": {}}
        sandbox_cli = ["--records", str(args.records)]
        selection = "*"
        sources = [c.name for c in configs]
    suffix = (f"-{args.source}.{args.resource}" if single else "") + (
        "-nodelay" if args.sandbox_nodelay else "") + (f"-pii-{args.pii}" if args.pii != "shipped" else "")
    json_path = args.json or ROOT / "bench" / "results" / f"throughput-{args.records}{suffix}.json"

    print(f"work dir {work}; code {code['dir'] if code else ROOT} "
          f"({code['sha256'][:12] if code else 'live tree'}); python {platform.python_version()}; {os.cpu_count()} CPUs", flush=True)
    server_source = (CODE_DIR / "crm_assets" / "sandbox" / "server.py").read_text()
    nagle_off_in_code = bool(re.search(r"^\s*disable_nagle_algorithm\s*=\s*True", server_source,
                                       re.MULTILINE))
    sandbox = SandboxProcess(sandbox_cli, work / "sandbox.log", nodelay=args.sandbox_nodelay)
    print(f"{sandbox.banner} (pid {sandbox.process.pid}; args {' '.join(sandbox_cli)}"
          f"{'; TCP_NODELAY' if args.sandbox_nodelay else ''})", flush=True)
    api_cli = [
        *(["--latency-ms", f"{args.latency_ms:g}"] if args.latency_ms else []),
        *(["--jitter-ms", f"{args.jitter_ms:g}"] if args.jitter_ms else []),
        *(arg for rate in args.rate for arg in ("--rate", rate)),
    ]
    slow_api = SandboxProcess([*sandbox_cli, *api_cli], work / "slow-api.log") if api_cli else None
    if slow_api:
        print(f"{slow_api.banner} (pid {slow_api.process.pid}; args {' '.join(api_cli)}): "
              "stage 3's API; stage 3i runs against the instant one", flush=True)
        suffix += "-latency" + f"{args.latency_ms:g}" + "".join(
            "-rate" + rate.replace("/", "per").replace("=", "") for rate in args.rate)
        json_path = args.json or ROOT / "bench" / "results" / f"throughput-{args.records}{suffix}.json"
    results: dict[str, Any] = {
        "args": {"records": args.records, "source": args.source, "resource": args.resource,
                 "pii": args.pii,
                 "latency_ms": args.latency_ms, "jitter_ms": args.jitter_ms, "rate": args.rate,
                 "sandbox_nodelay": args.sandbox_nodelay,
                 "sandbox_code_disables_nagle": nagle_off_in_code},
        "selection": selection,
        "code": code,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "stages": {},
    }
    stages = results["stages"]
    try:
        env_base = {k: v for k, v in os.environ.items()
                    if k not in ("CRM_DESTINATION", "CRM_CONFIGS_DIR", "CRM_DUCKDB_PATH",
                                 "CRM_PIPELINES_DIR", "DAGSTER_HOME")}
        env = {**env_base, **sandbox.env}
        ctx = {
            "plan": floor_plan(configs, sandbox.env, args.source, args.resource),
            "env": sandbox.env,
            "source": args.source,
            "resource": args.resource,
            "sandbox_args": sandbox_args,
            "urls_path": str(work / "floor-urls.txt"),
            "duckdb_path": str(work / "dlt" / "crm.duckdb"),
            "pipelines_dir": str(work / "dlt" / "pipelines"),
            "loader_file_format": "parquet",
            "configs_dir": str(CONFIGS_DIR),
        }
        ctx_path = work / "ctx.json"
        ctx_path.write_text(json.dumps(ctx))

        def python_stage(name: str) -> dict[str, Any]:
            out_path = work / f"{name}.json"
            measured = run_measured(
                [sys.executable, str(Path(__file__).resolve()), "--stage", name,
                 str(ctx_path), str(out_path)],
                env, work / f"{name}.log", timeout=max(remaining(), 1),
            )
            if measured["returncode"] != 0:
                print(f"stage {name} failed (exit {measured['returncode']}"
                      f"{', timed out' if measured['timed_out'] else ''}):\n"
                      f"{tail(measured['log'])}", flush=True)
                return measured
            return {**measured, **json.loads(out_path.read_text())}

        # 1: the floor (run first: stage 0 replays the URLs it fetched).
        stats0, cpu0 = sandbox.stats(), sandbox.cpu_s()
        floor = python_stage("floor")
        cpu1, stats1 = sandbox.cpu_s(), sandbox.stats()
        if floor["returncode"] != 0:
            raise SystemExit("the floor failed; nothing else is comparable")
        floor_rows = floor["rows"]
        floor["rows_total"] = sum(floor_rows.values())
        floor["sandbox_cpu_s"] = cpu1 - cpu0
        floor["pages_served"] = pages_served(stats0, stats1)
        stages["1"] = floor
        print(f"stage 1 floor: {floor['inner_s']:.2f} s fetching {floor['requests']} pages, "
              f"{floor['rows_total']} rows, {floor['bytes'] / 2**20:.1f} MiB; sandbox CPU "
              f"{floor['sandbox_cpu_s']:.2f} s", flush=True)

        # 0: the sandbox's own generation cost for the same pages.
        serve = python_stage("serve")
        serve["sandbox_hwm_mb_after_floor"] = sandbox.hwm_mb()
        stages["0"] = serve
        if serve["returncode"] == 0:
            print(f"stage 0 sandbox: serve_page {serve['serve_page_s']:.2f} s + orjson.dumps "
                  f"{serve['dumps_s']:.2f} s for {serve['pages']} pages", flush=True)

        # 2: plain dlt.
        floor_pages = sum(floor["pages_served"].values())
        if remaining() > 0 and not slow_api and not args.only_3_over_1:
            before = sandbox.stats()
            dlt_stage = python_stage("dlt")
            dlt_stage["pages_served"] = pages_served(before, sandbox.stats())
            if dlt_stage["returncode"] == 0:
                dlt_stage.update(verify("2", duckdb_counts(Path(ctx["duckdb_path"]), sources),
                                        floor_rows))
                print(f"    pages served during stage 2: {sum(dlt_stage['pages_served'].values())}"
                      f" (floor {floor_pages})")
                for source, timings in dlt_stage["steps"].items():
                    print(f"    dlt steps {source}: " + ", ".join(
                        f"{step} {seconds:.2f} s" for step, seconds in timings.items()))
            stages["2"] = dlt_stage

        # 3 and 4: the Dagster CLI, twice.
        dagster_home = work / "dagster_home"
        dagster_home.mkdir()
        (dagster_home / "dagster.yaml").write_text("")
        # The client's budget is the emulated account's plan: the sandbox's rate where it has
        # one (as a user sets <SOURCE>_RATE_LIMIT for theirs), none where it answers unlimited.
        api_rates = {c.name: "none" for c in configs}
        for spec in args.rate:
            source, _, rate = spec.rpartition("=")
            api_rates.update({name: rate for name in ([source] if source else api_rates)})
        dagster_env = {
            **env,
            **{f"{name.upper()}_RATE_LIMIT": rate for name, rate in api_rates.items()},
            "DAGSTER_HOME": str(dagster_home),
            "CRM_DUCKDB_PATH": str(work / "dagster" / "crm.duckdb"),
            "CRM_PIPELINES_DIR": str(work / "dagster" / "pipelines"),
        }
        materialize = [sys.executable, "-m", "dagster", "asset", "materialize",
                       "-m", "crm_assets.definitions", "--select", selection]
        extra_env = {
            **dagster_env,
            "CRM_DUCKDB_PATH": str(work / "dagster_extra" / "crm.duckdb"),
            "CRM_PIPELINES_DIR": str(work / "dagster_extra" / "pipelines"),
        }
        plan_3_4 = [("3", materialize, dagster_env)]
        if slow_api:
            instant_env = {
                **dagster_env,
                **{f"{name.upper()}_RATE_LIMIT": "none" for name in api_rates},
                "CRM_DUCKDB_PATH": str(work / "dagster_instant" / "crm.duckdb"),
                "CRM_PIPELINES_DIR": str(work / "dagster_instant" / "pipelines"),
            }
            dagster_env.update(slow_api.env)
            plan_3_4 = [("3i", materialize, instant_env), ("3", materialize, dagster_env)]
        if single or args.rerun:
            plan_3_4.append(("4", materialize, dagster_env))
        if args.dagster_extra_config:
            extra = [*materialize, "--config-json", args.dagster_extra_config]
            plan_3_4 += [("3x", extra, extra_env), ("4x", extra, extra_env)]
            results["dagster_extra_config"] = args.dagster_extra_config
        for stage, command, stage_env in plan_3_4:
            if remaining() <= 0:
                break
            api = slow_api if slow_api and stage == "3" else sandbox
            api.reset()
            measured = run_measured(command, stage_env, work / f"dagster-{stage}.log",
                                    timeout=max(remaining(), 1))
            api_stats = api.stats()
            measured["pages_served"] = dict(api_stats["pages"])
            if api is slow_api:
                measured["traffic"] = api_stats["sources"]
                measured["peak_sources_in_flight"] = api_stats["peak_sources_in_flight"]
                measured["sources_fetching_at_once"] = api_stats["sources_fetching_at_once"]
            stages[stage] = measured
            if measured["returncode"] != 0:
                print(f"stage {stage} failed (exit {measured['returncode']}"
                      f"{', timed out' if measured['timed_out'] else ''}):\n"
                      f"{tail(measured['log'])}", flush=True)
                break
            measured.update(verify(stage, duckdb_counts(
                Path(stage_env["CRM_DUCKDB_PATH"]), sources), floor_rows))
            print(f"    pages served during stage {stage}: "
                  f"{sum(measured['pages_served'].values())} (floor {floor_pages})", flush=True)

        # 5: code-location load.
        if remaining() > 0 and not slow_api and not args.only_3_over_1:
            validate = median_wall(
                [sys.executable, "-m", "dagster", "definitions", "validate",
                 "-m", "crm_assets.definitions"], dagster_env, work, "validate")
            imports = median_wall([sys.executable, "-c", "import dagster, dlt"], dagster_env,
                                  work, "import")
            # The CLI's own floor: the same command on a code location with nothing in it.
            empty = work / "empty_definitions.py"
            empty.write_text("import dagster as dg\n\ndefs = dg.Definitions()\n")
            validate_empty = median_wall(
                [sys.executable, "-m", "dagster", "definitions", "validate", "-f", str(empty)],
                dagster_env, work, "validate-empty")
            stages["5"] = {"validate": validate, "import": imports, "validate_empty": validate_empty,
                           "ratio": validate["wall_s"] / imports["wall_s"]}
        results["sandbox"] = {"hwm_mb": sandbox.hwm_mb(), "cpu_s_total": sandbox.cpu_s()}
    finally:
        sandbox.stop()
        if slow_api:
            slow_api.stop()

    report(results, floor_rows)
    if slow_api:
        traffic_report(results)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nresults: {json_path}")
    if args.keep:
        print(f"work dir kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


def report(results: dict[str, Any], floor_rows: dict[str, int]) -> None:
    stages = results["stages"]
    rows_floor = sum(floor_rows.values())
    table: list[dict[str, Any]] = []

    def row(stage: str, label: str, seconds: float | None, rows: int | None,
            measured: dict[str, Any] | None, note: str = "") -> None:
        valid = bool(measured) and measured.get("returncode", 0) == 0 \
            and not measured.get("timed_out") and measured.get("valid", True)
        table.append({
            "stage": stage, "label": label, "seconds": seconds, "rows": rows, "valid": valid,
            "rows_per_s": rows / seconds if rows and seconds else None,
            "maxrss_mb": measured.get("maxrss_mb") if measured else None,
            "other_cpu_s": measured.get("other_cpu_s") if measured else None,
            "tree_rss_mb": measured.get("tree_rss_mb") if measured else None,
            "note": note,
        })

    s0, s1 = stages.get("0", {}), stages["1"]
    if s0.get("returncode") == 0:
        row("0", "sandbox serve_page+dumps (in-process)", s0["inner_s"], s0["rows_served"], s0,
            f"serve_page {s0['serve_page_s']:.2f}s, dumps {s0['dumps_s']:.2f}s; server CPU "
            f"during stage 1 {s1['sandbox_cpu_s']:.2f}s, server VmHWM "
            f"{results['sandbox']['hwm_mb']:.0f}MB")
    row("1", "floor: bare requests (fetch loop)", s1["inner_s"], rows_floor, s1,
        f"{s1['requests']} requests, {1000 * s1['inner_s'] / s1['requests']:.1f} ms each; "
        f"process wall {s1['wall_s']:.2f}s")
    s2 = stages.get("2")
    if s2:
        valid = s2.get("valid")
        row("2", "plain dlt (process wall)", s2["wall_s"], s2.get("rows"), s2,
            f"run {s2.get('inner_s', 0):.2f}s, import {s2.get('import_s', 0):.2f}s; "
            f"rows {'OK' if valid else 'INVALID'}")
    for stage, label in (("3i", "dagster asset materialize, instant API"),
                         ("3", "dagster asset materialize"), ("4", "dagster rematerialize"),
                         ("3x", "dagster materialize, --dagster-extra-config"),
                         ("4x", "dagster rematerialize, --dagster-extra-config")):
        s = stages.get(stage)
        if s:
            row(stage, label, s["wall_s"], s.get("rows"), s,
                f"rows {'OK' if s.get('valid') else 'INVALID'}"
                + (" TIMED OUT" if s.get("timed_out") else ""))
    s5 = stages.get("5")
    if s5:
        row("5", "dagster definitions validate (median 3)", s5["validate"]["wall_s"], None,
            s5["validate"], "walls " + "/".join(f"{w:.2f}" for w in s5["validate"]["walls_s"]))
        row("5i", "python -c 'import dagster, dlt' (median 3)", s5["import"]["wall_s"], None,
            s5["import"], "walls " + "/".join(f"{w:.2f}" for w in s5["import"]["walls_s"]))
        if "validate_empty" in s5:
            row("5e", "validate of an empty Definitions (median 3)",
                s5["validate_empty"]["wall_s"], None, s5["validate_empty"],
                "the CLI's own floor: walls "
                + "/".join(f"{w:.2f}" for w in s5["validate_empty"]["walls_s"]))
    results["table"] = table

    print("\n" + "=" * 118)
    print(f"records={results['args']['records']} selection={results['selection']!r} "
          f"sandbox: --sandbox-nodelay={results['args']['sandbox_nodelay']}, its code sets "
          f"disable_nagle_algorithm={results['args'].get('sandbox_code_disables_nagle')}; "
          f"code {(results.get('code') or {}).get('sha256', 'live')[:12]}"
          + "".join(f" + {Path(p).name}" for p in (results.get("code") or {}).get("patches", [])))
    print(f"{'stage':5} {'what':42} {'seconds':>8} {'rows':>9} {'rows/s':>9} "
          f"{'peakRSS MB':>10} {'treeRSS MB':>10} {'otherCPU s':>10}  note")
    for r in table:
        print(f"{r['stage']:5} {r['label']:42} {fmt(r['seconds'], '8.2f')} "
              f"{fmt(r['rows'], '9d')} {fmt(r['rows_per_s'], '9.0f')} "
              f"{fmt(r['maxrss_mb'], '10.0f')} {fmt(r['tree_rss_mb'], '10.0f')} "
              f"{fmt(r['other_cpu_s'], '10.1f')}  {r['note']}")
    ratios: dict[str, float | None] = {}
    by_stage = {r["stage"]: r for r in table}

    def ratio(a: str, b: str) -> float | None:
        if (a in by_stage and b in by_stage and by_stage[b]["seconds"]
                and by_stage[a]["valid"] and by_stage[b]["valid"]):
            return by_stage[a]["seconds"] / by_stage[b]["seconds"]
        return None

    ratios["3/1 (end-to-end vs HTTP floor)"] = ratio("3", "1")
    ratios["3/2 (Dagster overhead)"] = ratio("3", "2")
    ratios["4/3 (rerun vs first run)"] = ratio("4", "3")
    ratios["2/1 (plain dlt vs floor)"] = ratio("2", "1")
    if "3x" in by_stage:
        ratios["3x/2 (Dagster overhead, extra config)"] = ratio("3x", "2")
        ratios["3x/1 (end-to-end, extra config)"] = ratio("3x", "1")
    s2 = stages.get("2") or {}
    if s2.get("inner_s") and by_stage.get("1", {}).get("seconds"):
        ratios["2run/1 (dlt pipeline.run only vs floor)"] = s2["inner_s"] / by_stage["1"]["seconds"]
    ratios["5 (validate / import dagster+dlt)"] = ratio("5", "5i")
    ratios["5e (empty-Definitions validate / import dagster+dlt)"] = ratio("5e", "5i")
    results["ratios"] = ratios
    print("ratios: " + "; ".join(f"{k} = {fmt(v, '.2f')}" for k, v in ratios.items()))
    print("peakRSS = ru_maxrss from wait4 (largest single process of the stage's tree); "
          "treeRSS = sampled sum over the tree (0.2 s); otherCPU = CPU seconds used meanwhile "
          "by processes outside the benchmark (load on the shared machine)")


def traffic_report(results: dict[str, Any]) -> None:
    """Stage 3 as the slow API saw it, per source, and the latency and rate targets."""
    stage3, stage3i = results["stages"].get("3") or {}, results["stages"].get("3i") or {}
    traffic = stage3.get("traffic")
    if not traffic:
        return
    args = results["args"]
    latency_s = args["latency_ms"] / 1000
    print(f"\nstage 3 as the API saw it (latency {args['latency_ms']:g} ms, "
          f"jitter {args['jitter_ms']:g} ms, rate {' '.join(args['rate']) or 'unlimited'})")
    print(f"{'source':18} {'requests':>8} {'429s':>5} {'peak':>5} {'mean':>6} {'busy s':>7} "
          f"{'rate/s':>7} {'budget':>10} {'rate/R':>6} {'max/window':>10}")
    floors = []
    for source, t in sorted(traffic.items()):
        limit = t.get("rate_limit")
        per_second = None
        if limit:
            requests_, seconds = limit.split("/")
            per_second = int(requests_) / float(seconds)
            # N requests per S-second window: r requests need ceil(r / N) - 1 full windows.
            floors.append((-(-t["accepted"] // int(requests_)) - 1) * float(seconds))
        achieved = t.get("accepted_rate")
        print(f"{source:18} {t['requests']:8d} {t['throttled']:5d} {t['peak_in_flight']:5d} "
              f"{t['mean_in_flight']:6.2f} {t['busy_seconds']:7.1f} {fmt(achieved, '7.2f')} "
              f"{limit or '-':>10} "
              f"{fmt(achieved / per_second if achieved and per_second else None, '6.2f')} "
              f"{fmt(t.get('max_in_any_window'), '10d')}")
    requests_total = sum(t["requests"] for t in traffic.values())
    wall = stage3.get("wall_s")
    print(f"all sources: {requests_total} requests, "
          f"{sum(t['throttled'] for t in traffic.values())} answered 429, up to "
          f"{stage3.get('peak_sources_in_flight')} sources in flight and "
          f"{stage3.get('sources_fetching_at_once')} fetching at once; wall {fmt(wall, '.1f')} s")
    if floors:
        print(f"budget floor (max over sources of (ceil(requests / N) - 1) x S): {max(floors):.1f} s; "
              f"wall / floor = {fmt(wall / max(floors) if wall and max(floors) else None, '.2f')}")
    if latency_s and stage3i.get("wall_s") and wall:
        target = stage3i["wall_s"] + 0.25 * requests_total * latency_s
        added = (wall - stage3i["wall_s"]) / (requests_total * latency_s)
        print(f"latency: instant-API wall {stage3i['wall_s']:.1f} s, requests x latency "
              f"{requests_total * latency_s:.1f} s; added wall = {added:.0%} of requests x latency "
              f"(target <= 25%: wall <= {target:.1f} s) -> {'met' if wall <= target else 'NOT met'}")
    results["traffic_summary"] = {"requests": requests_total, "budget_floor_s": max(floors or [0])}


if __name__ == "__main__":
    main()
