"""The sandbox behaves like the real APIs: auth, envelopes, Link headers, single objects,
latency and per-source rate limits."""

from __future__ import annotations

import base64
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from crm_assets.config import RateLimitSpec
from crm_assets.sandbox.api import envelope
from crm_assets.sandbox.rate_limit import SlidingWindow
from crm_assets.sandbox.server import Sandbox
from crm_assets.sandbox.traffic import Latency


def test_envelopes_mirror_the_data_selectors():
    rows = [{"id": 1}]
    assert envelope("data.contacts.*.contact", rows) == {"data": {"contacts": [{"contact": {"id": 1}}]}}
    assert envelope("data.*.user", rows) == {"data": [{"user": {"id": 1}}]}
    assert envelope("response.items", rows) == {"response": {"items": rows}}
    assert envelope(None, rows) == rows


def test_wrong_or_missing_credentials_get_401(sandbox: Sandbox):
    url = sandbox.base_url("party_crm") + "/api/v2/users"
    assert requests.get(url, timeout=5).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=5).status_code == 401
    token = sandbox.env()["PARTY_CRM_BEARER_TOKEN"]
    assert requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5).ok


def test_link_header_pages_until_the_last(sandbox: Sandbox):
    sandbox.volume.overrides["party_crm.users"] = 5
    headers = {"Authorization": "Bearer " + sandbox.env()["PARTY_CRM_BEARER_TOKEN"]}
    url: str | None = sandbox.base_url("party_crm") + "/api/v2/users?perPage=2"
    ids = []
    while url:
        response = requests.get(url, headers=headers, timeout=5)
        ids += [row["id"] for row in response.json()["users"]]
        url = response.links.get("next", {}).get("url")
    assert ids == [1, 2, 3, 4, 5]


def test_single_object_endpoints_ignore_paging(sandbox: Sandbox):
    env = sandbox.env()
    pair = f"{env['DEAL_CRM_USERNAME']}:{env['DEAL_CRM_PASSWORD']}".encode()
    headers = {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    url = sandbox.base_url("deal_crm") + "bootstrap"
    first = requests.get(url, params={"page": 1}, headers=headers, timeout=5).json()
    second = requests.get(url, params={"page": 2}, headers=headers, timeout=5).json()
    assert first == second and first["data"]["id"] == 1


def test_api_key_in_query_and_offset_paging(sandbox: Sandbox):
    sandbox.volume.overrides["lead_crm.lead"] = 3
    params = {"api_key": sandbox.env()["LEAD_CRM_API_KEY"], "limit": 2}
    url = sandbox.base_url("lead_crm") + "/v1/lead"
    pages = [requests.get(url, params={**params, "offset": o}, timeout=5).json()["data"] for o in (0, 2, 4)]
    assert [len(page) for page in pages] == [2, 1, 0]


def _lead_get(sandbox: Sandbox) -> requests.Response:
    params = {"api_key": sandbox.env()["LEAD_CRM_API_KEY"], "limit": 2}
    return requests.get(sandbox.base_url("lead_crm") + "/v1/lead", params=params, timeout=5)


def test_latency_delays_every_answer(configs):
    with Sandbox(configs, latency=Latency(ms=150)) as slow:
        started = time.monotonic()
        assert _lead_get(slow).ok
        assert time.monotonic() - started >= 0.15


def test_past_the_rate_limit_the_api_answers_429_with_retry_after_and_counts_it(configs):
    limit = RateLimitSpec(requests=3, per_seconds=60)
    with Sandbox(configs, rate_limits={"lead_crm": limit}) as limited:
        answers = [_lead_get(limited) for _ in range(5)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
        assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0", "0"]
        assert answers[0].headers["X-RateLimit-Limit"] == "3"
        assert 59 <= int(answers[3].headers["Retry-After"]) <= 60
        traffic = limited.stats_json()["sources"]["lead_crm"]
        assert (traffic["requests"], traffic["throttled"], traffic["accepted"]) == (5, 2, 3)
        assert traffic["max_in_any_window"] == 3
        # Other sources have their own budget.
        token = limited.env()["PARTY_CRM_BEARER_TOKEN"]
        other = requests.get(limited.base_url("party_crm") + "/api/v2/users",
                             headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert other.ok and "X-RateLimit-Limit" not in other.headers


def test_a_window_s_reset_is_its_length_for_the_first_request_at_any_time():
    """A float's rounding (`(now + 60) - now` > 60 for ~0.15% of clock readings) sent
    `X-RateLimit-Reset: 61` for a 60 s window."""
    for now in (8174.326235239371, 8136.876538378779, 32724.14146871332, 12.5):
        window = SlidingWindow(RateLimitSpec(requests=10, per_seconds=60))
        admitted, headers = window.admit(now)
        assert admitted and headers["X-RateLimit-Reset"] == "60", now


def test_requests_in_flight_are_counted_per_source(configs):
    with Sandbox(configs, latency=Latency(ms=200)) as slow:
        with ThreadPoolExecutor(6) as pool:
            assert all(r.ok for r in pool.map(lambda _: _lead_get(slow), range(6)))
        traffic = slow.stats_json()["sources"]["lead_crm"]
        assert traffic["peak_in_flight"] == 6 and traffic["requests"] == 6
        assert 3 <= traffic["mean_in_flight"] <= 6
        assert slow.stats_json()["peak_sources_in_flight"] == 1


def test_rate_limit_specs_parse_with_units():
    assert RateLimitSpec.parse("4/1") == RateLimitSpec(requests=4, per_seconds=1)
    assert RateLimitSpec.parse("4000/h") == RateLimitSpec(requests=4000, per_seconds=3600)
    assert RateLimitSpec.parse(" 100 / m ") == RateLimitSpec(requests=100, per_seconds=60)
    for bad in ("0/1", "4/0", "4", "4/x", "-1/1", "1.5/1"):
        with pytest.raises(ValueError, match="REQUESTS/SECONDS"):
            RateLimitSpec.parse(bad)


def test_stats_over_http_and_reset(configs):
    with Sandbox(configs, rate_limits={"lead_crm": RateLimitSpec(requests=1, per_seconds=60)}) as api:
        assert [_lead_get(api).status_code for _ in range(2)] == [200, 429]
        stats = requests.get(api.url + "/_sandbox/stats", timeout=5).json()
        assert stats["sources"]["lead_crm"]["throttled"] == 1
        assert requests.post(api.url + "/_sandbox/reset", timeout=5).ok
        assert requests.get(api.url + "/_sandbox/stats", timeout=5).json()["sources"] == {}
        assert _lead_get(api).status_code == 200  # the window starts afresh too
