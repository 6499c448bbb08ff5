"""Dagster resources: every secret and every place data goes to comes from here."""

from crm_assets.resources.alert_webhook import AlertWebhookResource
from crm_assets.resources.destination import DEFAULT_DUCKDB_PATH, DestinationResource
from crm_assets.resources.pii_hash_key import PiiHashKeyResource
from crm_assets.resources.source_api import SourceApi, SourceApisResource

__all__ = [
    "DEFAULT_DUCKDB_PATH",
    "AlertWebhookResource",
    "DestinationResource",
    "PiiHashKeyResource",
    "SourceApi",
    "SourceApisResource",
]
