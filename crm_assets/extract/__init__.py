"""Turns a validated `SourceConfig` plus run-time credentials into a dlt REST API source.
Import from here; the modules below are one concept each."""

from crm_assets.extract.answer_shape import NotDataAnswer
from crm_assets.extract.dlt_source import (
    build_source,
    pipeline_reference,
    placeholder_source,
)
from crm_assets.extract.http_session import http_session
from crm_assets.extract.rest_api import dlt_auth, dlt_incremental, rest_api_config

__all__ = [
    "build_source",
    "dlt_auth",
    "dlt_incremental",
    "NotDataAnswer",
    "http_session",
    "pipeline_reference",
    "placeholder_source",
    "rest_api_config",
]
