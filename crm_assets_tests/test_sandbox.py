"""The sandbox behaves like the real APIs: auth, envelopes, Link headers, single objects."""

from __future__ import annotations

import base64

import requests

from crm_assets.sandbox.api import envelope
from crm_assets.sandbox.server import Sandbox


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
