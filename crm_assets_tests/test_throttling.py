"""429s over real HTTP: an occasional one costs its own request's pause, a burst limit slows
the source for a while, and neither touches the configured long-window budget; a budget set
exactly to the API's limit draws none. Times are the sandbox's fetching span of the source
(first request to last answer), runs side by side."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest
import requests

from crm_assets.config import RateLimitSpec, SourceConfig
from crm_assets.request_budget import RequestBudget
from crm_assets.sandbox.faults import Fault
from crm_assets.sandbox.server import Sandbox
from crm_assets.sandbox.traffic import Latency, Traffic
from crm_assets_tests.helpers import assert_tables_exact, materialization_metadata, materialize

# One after another on one xdist worker, from the start: these tests mostly wait out pauses,
# so the other workers have the cores for the CPU-bound tests meanwhile.
pytestmark = pytest.mark.xdist_group("paced")

PARTIES = 600  # one request for each party's people: ~630 requests in all


def _config(configs: list[SourceConfig], name: str) -> SourceConfig:
    return next(config for config in configs if config.name == name)


def _load_party_crm(
    sandbox: Sandbox, configs: list[SourceConfig], tmp_path: Path, run: str,
    monkeypatch: pytest.MonkeyPatch, faults: list[Fault] = (),
) -> tuple[dict, dict]:
    """One run of party_crm into its own DuckDB file, against an API answering in 100 ms (the
    fetch waits on the API, not on the CPU the test shares); the sandbox's traffic of the
    source and the run's source_* metadata."""
    duckdb_path = tmp_path / f"{run}.duckdb"
    monkeypatch.setenv("CRM_DUCKDB_PATH", str(duckdb_path))
    monkeypatch.setenv("CRM_PIPELINES_DIR", str(tmp_path / f"{run}_pipelines"))
    sandbox.reset_stats()
    sandbox.traffic = Traffic(Latency(ms=100))
    for fault in faults:
        sandbox.add_fault(fault)
    with dg.instance_for_test() as instance:
        result = materialize(instance, "group:party_crm", checks=False)
    assert result.success and all(fault.times == 0 for fault in faults)
    assert_tables_exact(sandbox, _config(configs, "party_crm"), duckdb_path, run)
    metadata = materialization_metadata(result)["party_crm/employees"]
    return sandbox.stats_json()["sources"]["party_crm"], metadata


def _burst_429(party_id: int) -> Fault:
    """The page of one party's people answers one 429 asking for a second, no rate headers."""
    return Fault(path=f"/parties/{party_id}/people", status=429, retry_after=1)


@pytest.mark.slow
def test_transient_429s_keep_the_hourly_budget_and_cost_about_their_pauses(
    sandbox: Sandbox, configs: list[SourceConfig], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    """party_crm at its shipped 4000/h: 20 pages spread over the run, then the first 12 pages
    of its people, each answer one 429 with Retry-After: 1 (no rate headers). Both end exact,
    the hourly budget is never cut, no request waits for the budget longer than the 1 s asked
    for, and the spread run fetches within 1.3x the time of the run without faults."""
    sandbox.volume.overrides["party_crm.parties"] = PARTIES
    clean, _ = _load_party_crm(sandbox, configs, tmp_path, "clean", monkeypatch)
    spread, spread_metadata = _load_party_crm(
        sandbox, configs, tmp_path, "spread", monkeypatch,
        [_burst_429(party) for party in range(PARTIES // 20, PARTIES + 1, PARTIES // 20)],
    )
    clustered, clustered_metadata = _load_party_crm(
        sandbox, configs, tmp_path, "clustered", monkeypatch,
        [_burst_429(party) for party in range(1, 13)],
    )
    # Spread out, each 429 is one refusal among many answers: only its own request waits.
    assert spread["busy_seconds"] <= 1.3 * clean["busy_seconds"], (clean, spread)
    assert spread_metadata["source_lowest_requests_in_flight"] == 8
    # Twelve at once look like a burst limit: every request waits out the second asked for,
    # fewer are in flight for a while; the pauses do not add up.
    assert clustered_metadata["source_lowest_requests_in_flight"] < 8
    for metadata, refused in ((spread_metadata, 20), (clustered_metadata, 12)):
        assert metadata["source_answered_429_burst"] == refused
        assert metadata["source_answered_429_window"] == 0
        assert metadata["source_lowest_budget_per_window"] == 4000
        # The 1 s asked for, never two back to back (the spare half second is a busy machine's:
        # 1.105 s was seen with both cores loaded).
        assert metadata["source_longest_wait_for_budget_seconds"] < 1.5


@pytest.mark.parametrize("rate_headers", [False, True], ids=["retry_after_only", "rate_headers"])
def test_a_real_burst_limit_holds_the_source_to_it_and_leaves_the_hourly_budget(
    rate_headers: bool, sandbox: Sandbox, configs: list[SourceConfig],
    instance: dg.DagsterInstance, duckdb_path: Path,
):
    """The account allows 20 requests a second besides its 4000 an hour: the run ends exact,
    the API's second is never overrun, and the hourly budget stays 4000."""
    sandbox.volume.overrides["party_crm.parties"] = 100
    sandbox.traffic = Traffic(
        rate_limits={"party_crm": RateLimitSpec(requests=20, per_seconds=1)},
        rate_headers=rate_headers,
    )
    result = materialize(instance, "group:party_crm")
    assert result.success
    assert_tables_exact(sandbox, _config(configs, "party_crm"), duckdb_path)
    traffic = sandbox.stats_json()["sources"]["party_crm"]
    metadata = materialization_metadata(result)["party_crm/employees"]
    assert traffic["max_in_any_window"] <= 20
    assert traffic["throttled"] <= 0.25 * traffic["requests"]
    assert metadata["source_answered_429"] == metadata["source_answered_429_burst"] == traffic["throttled"]
    assert metadata["source_lowest_budget_per_window"] == 4000


def test_an_occasional_429_pauses_only_its_own_request(
    sandbox: Sandbox, configs: list[SourceConfig], instance: dg.DagsterInstance, duckdb_path: Path
):
    sandbox.volume.overrides["party_crm.parties"] = 300
    sandbox.add_fault(_burst_429(150))
    result = materialize(instance, "group:party_crm")
    assert result.success
    metadata = materialization_metadata(result)["party_crm/employees"]
    assert metadata["source_answered_429"] == 1
    # The refused page waited its second in its retry; no other request waited for it.
    assert metadata["source_seconds_waiting_for_budget"] == 0
    assert metadata["source_lowest_requests_in_flight"] == 8
    assert_tables_exact(sandbox, _config(configs, "party_crm"), duckdb_path)


def test_a_burst_limit_pauses_every_request_of_the_source_for_its_retry_after(
    sandbox: Sandbox, configs: list[SourceConfig], instance: dg.DagsterInstance, duckdb_path: Path
):
    """Every page of three resources answers one 429 at once: a limit, not chance."""
    sandbox.volume.overrides.update({f"lead_crm.{name}": 450 for name in ("account", "contact", "lead")})
    for path in ("/v1/account", "/v1/contact", "/v1/lead"):
        sandbox.add_fault(Fault(path=path, kind="status", status=429, retry_after=1, times=1))
    result = materialize(instance, "group:lead_crm")
    assert result.success
    arrivals = sandbox.traffic.sources["lead_crm"].accepted_arrivals
    # Nothing of the source went out during the pause.
    assert max(later - earlier for earlier, later in zip(arrivals, arrivals[1:])) >= 0.95
    metadata = materialization_metadata(result)["lead_crm/account"]
    assert metadata["source_answered_429"] == 3
    assert metadata["source_longest_wait_for_budget_seconds"] < 1.5  # one pause, not two
    assert_tables_exact(sandbox, _config(configs, "lead_crm"), duckdb_path)


def _answer(status: int, **headers: str) -> SimpleNamespace:
    return SimpleNamespace(status_code=status, headers=headers, ok=status < 400)


def test_no_sequence_of_short_retry_afters_lowers_the_budget_or_waits_past_the_longest_pause():
    """Every fifth answer a 429 asking for 0.05 to 0.2 s, as a burst limit would: the 4000/h
    budget stays, and no request waits longer than the longest pause asked for."""
    budget = RequestBudget("party_crm", RateLimitSpec(requests=4000, per_seconds=3600), 8)
    pauses = ["0.05", "0.2", "0.1"]
    for attempt in range(60):
        budget.acquire()
        refused = attempt % 5 == 0
        pause = pauses[attempt % 3]
        budget.release(_answer(429, **{"Retry-After": pause}) if refused else _answer(200))
    metadata = budget.metadata()
    assert metadata["source_answered_429_burst"] == 12
    assert metadata["source_lowest_budget_per_window"] == 4000 == budget.window.capacity
    assert 0.15 <= metadata["source_longest_wait_for_budget_seconds"] <= 0.25
    assert metadata["source_lowest_requests_in_flight"] == 1  # halved once per burst, to one


def test_a_window_refused_again_after_its_pause_cuts_the_budget_to_what_was_admitted():
    """A 10/s account answering 429s that ask for most of its window, then again after that
    pause: the budget drops to what the API admitted, never below its floor, and climbs back."""
    budget = RequestBudget("lead_crm", RateLimitSpec(requests=10, per_seconds=1), 8)
    for _ in range(4):
        budget.acquire()
        budget.release(_answer(200))
    for _ in range(2):  # the window is spent: two refusals, each asking for 0.5 s
        budget.acquire()
        budget.release(_answer(429, **{"Retry-After": "0.5"}))
    assert budget.window.capacity == 10  # paused, not cut
    budget.acquire()  # waits out the pause, then is refused again
    budget.release(_answer(429, **{"Retry-After": "0.5"}))
    assert budget.window.capacity == 4  # the four it admitted in the window
    for _ in range(4):  # a window's worth answered in a row: a tenth more (at least one)
        budget.acquire()
        budget.release(_answer(200))
    assert budget.window.capacity == 5
    assert budget.metadata()["source_lowest_budget_per_window"] == 4



def test_back_to_back_runs_of_a_source_share_the_apis_window(tmp_path: Path):
    """A run that spent its window leaves it to the next run of the source (a window backfill
    after the nightly load): the next one waits for the window, as the API would make it."""
    sends, limit = tmp_path / "lead_crm.sends.json", RateLimitSpec(requests=5, per_seconds=1)
    first = RequestBudget("lead_crm", limit, 8)
    with first.carried_over(sends):
        for _ in range(5):
            first.acquire()
            first.release(_answer(200))
    second = RequestBudget("lead_crm", limit, 8)
    with second.carried_over(sends):
        second.acquire()
        second.release(_answer(200))
    assert second.metadata()["source_longest_wait_for_budget_seconds"] >= 0.9


def _lead_page(sandbox: Sandbox) -> tuple[str, dict[str, str]]:
    return sandbox.base_url("lead_crm") + "/v1/lead", {
        "api_key": sandbox.env()["LEAD_CRM_API_KEY"], "limit": "1"
    }


@pytest.mark.parametrize("rate_headers", [False, True], ids=["retry_after_only", "rate_headers"])
def test_a_request_that_reaches_the_api_late_costs_the_next_window_no_429(
    rate_headers: bool, sandbox: Sandbox
):
    """The budget is exactly the API's 5 a second. The first request is held up for 0.3 s
    between its turn and the API (a thread waiting for the CPU or the GIL on a busy machine, a
    slow connect), and the API counts it when it arrives. The sixth waits a window after the
    first one's answer, not its turn: the API refuses none. (Counted from the turns, with a
    tenth of the window to spare, the sixth went at 1.1 s into the API's window of 0.3-1.3 s.)"""
    limit = RateLimitSpec(requests=5, per_seconds=1)
    url, params = _lead_page(sandbox)
    with requests.Session() as session:
        session.get(url, params=params, timeout=10).raise_for_status()  # records built
        sandbox.traffic = Traffic(rate_limits={"lead_crm": limit}, rate_headers=rate_headers)
        budget = RequestBudget("lead_crm", limit, max_concurrency=8)
        for held_up in (0.3, 0, 0, 0, 0, 0, 0):
            budget.acquire()
            time.sleep(held_up)  # the hold-up under test
            budget.release(session.get(url, params=params, timeout=10))
    traffic = sandbox.stats_json()["sources"]["lead_crm"]
    assert (traffic["requests"], traffic["throttled"], budget.throttled) == (7, 0, 0)
    assert traffic["max_in_any_window"] == 5  # the API's window was full: the sixth waited


@pytest.mark.parametrize("rate_headers", [False, True], ids=["retry_after_only", "rate_headers"])
def test_a_budget_set_exactly_to_the_apis_limit_draws_no_429(
    rate_headers: bool, sandbox: Sandbox, configs: list[SourceConfig],
    instance: dg.DagsterInstance, duckdb_path: Path, monkeypatch: pytest.MonkeyPatch,
):
    """party_crm told its account's exact limit by the env, 20 requests a second, against an
    API enforcing exactly that: ~170 requests, the API's window full again and again, none
    refused. (While a process warms up, its first run's requests reached the API up to ~0.25 s
    after their turn: counted from the turns, with a tenth of the window to spare, that drew a
    429 in nearly every first run.)"""
    limit = RateLimitSpec(requests=20, per_seconds=1)
    monkeypatch.setenv("PARTY_CRM_RATE_LIMIT", "20/1")
    sandbox.volume.overrides["party_crm.parties"] = 150
    sandbox.traffic = Traffic(Latency(ms=50), {"party_crm": limit}, rate_headers=rate_headers)
    result = materialize(instance, "group:party_crm", checks=False)
    assert result.success
    traffic = sandbox.stats_json()["sources"]["party_crm"]
    metadata = materialization_metadata(result)["party_crm/employees"]
    assert traffic["requests"] > 8 * limit.requests
    assert traffic["throttled"] == metadata["source_answered_429"] == 0
    assert traffic["max_in_any_window"] == limit.requests
    assert metadata["source_rate_limit"] == str(limit)
    assert_tables_exact(sandbox, _config(configs, "party_crm"), duckdb_path)


def test_with_no_budget_the_apis_rate_headers_pace_every_thread_and_draw_no_429(sandbox: Sandbox):
    """No budget configured, 8 threads, 50 requests against an API allowing 10 a second in a
    sliding window, stating what is left: none refused. Answers come back out of order (one
    that reached the API earlier states more left than the latest), a refusal's `Remaining: 0`
    holds every thread until its reset, and at the reset one request goes first (a sliding
    window frees one slot, not ten). Each of these drew 429s before (4 to 9 a run); under a
    loaded machine, a request once drew 4 in a row, past its retries."""
    limit = RateLimitSpec(requests=10, per_seconds=1)
    url, params = _lead_page(sandbox)
    with requests.Session() as warm_up:
        warm_up.get(url, params=params, timeout=10).raise_for_status()  # records built
    sandbox.traffic = Traffic(Latency(ms=20), rate_limits={"lead_crm": limit})
    budget = RequestBudget("lead_crm", None, max_concurrency=8)

    def fetch(pages: int) -> None:
        with requests.Session() as session:
            while pages:
                budget.acquire()
                answer = session.get(url, params=params, timeout=10)
                budget.release(answer)
                if answer.status_code == 429:
                    time.sleep(float(answer.headers["Retry-After"]))  # as dlt's retry waits
                else:
                    pages -= 1

    threads = [threading.Thread(target=fetch, args=(50 // 8 + (i < 50 % 8),)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    traffic = sandbox.stats_json()["sources"]["lead_crm"]
    assert traffic["accepted"] == 50
    assert budget.throttled == traffic["throttled"] == 0, traffic
    assert traffic["max_in_any_window"] == 10
