"""Turns a validated `SourceConfig` plus run-time credentials into a dlt REST API source.
Import from here; the modules below are one concept each."""

from crm_assets.source_builder.dlt_source import build_source, pipeline_reference, placeholder_source
from crm_assets.source_builder.http_session import http_session, is_not_json_document
from crm_assets.source_builder.rest_api import dlt_auth, dlt_incremental, rest_api_config

__all__ = [
    "build_source",
    "dlt_auth",
    "dlt_incremental",
    "http_session",
    "is_not_json_document",
    "pipeline_reference",
    "placeholder_source",
    "rest_api_config",
]
