"""Stage 0, the sandbox alone, in its own process: the in-process cost of `serve_page` +
`orjson.dumps` for every page the floor fetched (the HTTP path is measured by stage 1)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from harness.code_under_test import load_configs


def stage_serve(ctx: dict[str, Any], out: dict[str, Any]) -> None:
    """The sandbox's own cost per page, in-process: serve_page + orjson.dumps for every URL the
    floor fetched, in the same order."""
    from urllib.parse import parse_qsl, urlparse

    import orjson

    from crm_assets.sandbox.api import serve_page
    from crm_assets.sandbox.routes import build_routes

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


def make_volume(ctx: dict[str, Any], configs: list[Any]) -> Any:
    """The sandbox's Volume, built as `python -m crm_assets.sandbox` builds it from its args."""
    from crm_assets.sandbox.volume import Volume

    args = ctx["sandbox_args"]
    if args.get("records") is not None:
        volume = Volume.spread(args["records"], configs)
    else:
        volume = Volume(default=args["rows_per_resource"])
    for key, count in args.get("rows", {}).items():
        volume.overrides[key] = count
    return volume
