"""Stage 3 as the slow sandbox (--latency-ms, --rate) saw it, per source, against the rate
budget and the latency target."""

from __future__ import annotations

from typing import Any

from harness.report import fmt


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
