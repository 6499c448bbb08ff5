"""One API (one `configs/<source>.yaml`): where it is, how it authenticates, what it serves and
when to load it; and what a resource gets from the source's defaults.

Over 150 lines: one pydantic model, whose fields and the per-resource answers derived from
them (a resource's setting, else the source's default) are read together."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from crm_assets.config.account import ACCOUNT_COLUMN, AccountSpec, account_view
from crm_assets.config.auth import AuthSpec
from crm_assets.config.backfill import BackfillSpec
from crm_assets.config.base import IDENTIFIER, OWNER, StrictModel, validate_base_url
from crm_assets.config.paginators import AnyPaginator
from crm_assets.config.request_policy import MaxConcurrency, RateLimitSpec, RetryPolicy
from crm_assets.config.resource import ResourceDefaults, ResourceSpec
from crm_assets.config.schedule import ScheduleSpec
from crm_assets.config.source_checks import check_source
from crm_assets.table_rules.pii import effective_policy
from crm_assets.table_rules.schema_contract import effective_contract


class SourceConfig(StrictModel):
    """Validated once, when the file loads; then read by every factory of the project."""

    name: Annotated[str, Field(pattern=IDENTIFIER)]
    description: str
    base_url: str
    auth: AuthSpec
    page_size_param: str | None = None
    retry: RetryPolicy = RetryPolicy()
    # The client-side budget every request of a run shares (all resources, retries included);
    # none means the API publishes no limit. Env `<SOURCE>_RATE_LIMIT` / `_MAX_CONCURRENCY`
    # override both at run time, for an account's own plan.
    rate_limit: RateLimitSpec | None = None
    max_concurrency: MaxConcurrency = 8
    owners: list[Annotated[str, Field(pattern=OWNER)]] = ["team:data-platform"]
    schedule: ScheduleSpec
    # A periodic full refresh of the resources that cannot see deletions (incremental ones and
    # their children): drops their tables and cursors and reads everything again.
    full_refresh_schedule: ScheduleSpec | None = None
    # Dagster's freshness policies take windows of a minute or more.
    freshness_hours: Annotated[float, Field(ge=1 / 60, le=24 * 366)] = 26
    # Time windows its incremental resources (and their children) can be loaded for, as the
    # partitions of `<source>/windows/<resource>` assets (`crm_assets/defs/windows.py`).
    backfill: BackfillSpec | None = None
    resource_defaults: ResourceDefaults = ResourceDefaults()
    resources: Annotated[list[ResourceSpec], Field(min_length=1)]
    # Several accounts of the API, each loaded on its own into the same tables
    # (`config/account.py`); none: the source is one account, named by nothing.
    accounts: list[AccountSpec] = []
    # Set on the views `account_loads()` gives, never in a file (the loader refuses the key).
    account: Annotated[AccountSpec | None, Field(exclude=True)] = None

    @field_validator("base_url")
    @classmethod
    def _absolute_http_url(cls, url: str) -> str:
        return validate_base_url(url)

    @model_validator(mode="after")
    def _consistent(self) -> SourceConfig:
        check_source(self)
        return self

    def account_loads(self) -> list[SourceConfig]:
        """What loads on its own: the source, or one view of it per account."""
        return [account_view(self, account) for account in self.accounts] or [self]

    @property
    def account_name(self) -> str | None:
        return self.account.name if self.account else None

    @property
    def load_name(self) -> str:
        """The dlt pipeline's name (its state, lock and working directory): one per account."""
        return f"{self.name}__{self.account.name}" if self.account else self.name

    @property
    def label(self) -> str:
        """How messages name what loads: `party_crm`, or `party_crm/eu` for an account."""
        return f"{self.name}/{self.account.name}" if self.account else self.name

    def resource(self, name: str) -> ResourceSpec:
        return next(resource for resource in self.resources if resource.name == name)

    # A resource's own setting, else the source's default (as dlt merges `resource_defaults`).

    def primary_key(self, resource: ResourceSpec) -> list[str]:
        """An account's rows are keyed by their account too: one id in two accounts is two rows."""
        key = resource.primary_key or self.resource_defaults.primary_key
        columns = [key] if isinstance(key, str) else list(key or [])
        return [ACCOUNT_COLUMN, *columns] if self.account and columns else columns

    def write_disposition(self, resource: ResourceSpec) -> str | None:
        return resource.write_disposition or self.resource_defaults.write_disposition

    def paginator(self, resource: ResourceSpec) -> AnyPaginator | None:
        """None: dlt guesses the paginator from the first answer."""
        return resource.endpoint.paginator or self.resource_defaults.endpoint.paginator

    def params(self, resource: ResourceSpec) -> dict[str, Any]:
        return {**self.resource_defaults.endpoint.params, **resource.endpoint.params}

    def pii_policy(self, resource: ResourceSpec) -> dict[str, Literal["hash", "drop"]]:
        return effective_policy(self.resource_defaults.pii, resource.pii)

    @property
    def hashes_pii(self) -> bool:
        return any("hash" in self.pii_policy(r).values() for r in self.resources)

    def schema_contract(self, resource: ResourceSpec) -> dict[str, str]:
        return effective_contract(self.resource_defaults.schema_contract, resource.schema_contract)

    def reads_completely(self, resource: ResourceSpec) -> bool:
        """Whether every run returns every row the API has: no incremental cursor on the
        resource or an ancestor (a child of an incremental parent is asked about changed
        parents only), and no page cap."""
        for spec in self.lineage(resource):
            paginator = self.paginator(spec)
            if spec.endpoint.incremental or getattr(paginator, "maximum_page", None) or getattr(
                paginator, "maximum_offset", None
            ):
                return False
        return True

    def lineage(self, resource: ResourceSpec) -> Iterator[ResourceSpec]:
        """The resource, then its parent, its parent's parent, up to a top-level resource."""
        spec: ResourceSpec | None = resource
        while spec is not None:
            yield spec
            spec = self.resource(spec.parent) if spec.parent else None

    def windowable(self, resource: ResourceSpec) -> bool:
        """Whether the API can be asked for a time window of the resource: it or an ancestor
        has an incremental cursor (a child is asked about the parents in the window)."""
        return any(spec.endpoint.incremental for spec in self.lineage(resource))

    def windowed_resources(self) -> list[ResourceSpec]:
        """The resources loadable by window: none unless the config declares `backfill`."""
        return [r for r in self.resources if self.windowable(r)] if self.backfill else []

    def loaded_resources(
        self, windows: bool, only: Collection[str] | None = None
    ) -> list[ResourceSpec]:
        """What a run loads: every resource, or for a backfill window the windowed ones; with
        `only`, the ones named and their ancestors (a child's requests need its parent's rows)."""
        loaded = self.windowed_resources() if windows else self.resources
        if only is None:
            return loaded
        needed = {spec.name for name in only for spec in self.lineage(self.resource(name))}
        return [resource for resource in loaded if resource.name in needed]

    def marks_deleted(self, resource: ResourceSpec) -> bool:
        if resource.mark_deleted is not None:
            return resource.mark_deleted
        return bool(
            self.resource_defaults.mark_deleted
            and not resource.history
            and self.reads_completely(resource)
            and self.write_disposition(resource) == "merge"
        )

    def tracks_absent_rows(self, resource: ResourceSpec) -> bool:
        """Whether a complete read settles the rows it did not return: marks them deleted, or
        retires them from the history (`table_rules/absent_rows.py`)."""
        return self.marks_deleted(resource) or (resource.history and self.reads_completely(resource))

    def max_deleted_share(self, resource: ResourceSpec) -> float:
        return resource.max_deleted_share or self.resource_defaults.max_deleted_share

    def max_row_drop(self, resource: ResourceSpec) -> float:
        return resource.max_row_drop or self.resource_defaults.max_row_drop

    def cannot_see_deletions(self) -> list[ResourceSpec]:
        """The resources only a full refresh brings deletions to."""
        return [r for r in self.resources if not self.reads_completely(r)]

    @property
    def env_prefix(self) -> str:
        return self.load_name.upper().replace("__", "_")

    @property
    def base_url_env(self) -> str:
        return f"{self.env_prefix}_BASE_URL"

    @property
    def rate_limit_env(self) -> str:
        return f"{self.env_prefix}_RATE_LIMIT"

    @property
    def max_concurrency_env(self) -> str:
        return f"{self.env_prefix}_MAX_CONCURRENCY"
