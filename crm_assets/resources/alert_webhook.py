"""Where failure reports go."""

from __future__ import annotations

from typing import Any

import dagster as dg
import requests

from crm_assets.resources.env import env_var_if_set


class AlertWebhookResource(dg.ConfigurableResource):
    """Where failure reports are posted (JSON); `CRM_ALERT_WEBHOOK_URL`, none by default."""

    url: str | None = None

    @classmethod
    def from_env(cls) -> AlertWebhookResource:
        return cls(url=env_var_if_set("CRM_ALERT_WEBHOOK_URL"))

    def post(self, payload: dict[str, Any]) -> None:
        if not self.url:
            return
        try:
            requests.post(self.url, json=payload, timeout=10).raise_for_status()
        except requests.RequestException as error:
            dg.get_dagster_logger().warning(f"alert webhook failed: {type(error).__name__}")
