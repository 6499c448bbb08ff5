"""The typed model of `configs/<source>.yaml` files, and their loader.

The model checks what is ours (source settings, secret names, pagination, lineage) so that a
bad file fails once, naming the file, the resource and the key. What is dlt's REST config
(selectors, params, merge settings) is passed through and validated again by dlt. Import from
here; the modules below are one concept each.
"""

from crm_assets.config.account import ACCOUNT_COLUMN, AccountSpec
from crm_assets.config.auth import SECRET_FIELDS_BY_AUTH, AuthSpec
from crm_assets.config.backfill import BackfillSpec
from crm_assets.config.base import validate_base_url
from crm_assets.config.endpoint import Endpoint, EndpointDefaults, IncrementalSpec
from crm_assets.config.json_path import parse_json_path
from crm_assets.config.loader import (
    CONFIGS_DIR,
    ConfigError,
    load_source_config,
    load_source_configs,
)
from crm_assets.config.paginators import (
    AnyPaginator,
    HeaderLinkPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    SinglePagePaginator,
)
from crm_assets.config.placeholders import PARENT_REFERENCE, ForEach
from crm_assets.config.request_policy import MaxConcurrency, RateLimitSpec, RetryPolicy
from crm_assets.config.resource import ResourceDefaults, ResourceSpec
from crm_assets.config.schedule import ScheduleSpec
from crm_assets.config.source import SourceConfig

__all__ = [
    "ACCOUNT_COLUMN",
    "AccountSpec",
    "CONFIGS_DIR",
    "PARENT_REFERENCE",
    "SECRET_FIELDS_BY_AUTH",
    "AnyPaginator",
    "AuthSpec",
    "BackfillSpec",
    "ConfigError",
    "Endpoint",
    "EndpointDefaults",
    "ForEach",
    "HeaderLinkPaginator",
    "IncrementalSpec",
    "MaxConcurrency",
    "OffsetPaginator",
    "PageNumberPaginator",
    "RateLimitSpec",
    "ResourceDefaults",
    "ResourceSpec",
    "RetryPolicy",
    "ScheduleSpec",
    "SinglePagePaginator",
    "SourceConfig",
    "load_source_config",
    "load_source_configs",
    "parse_json_path",
    "validate_base_url",
]
