"""The typed model of one `configs/<source>.yaml` file, and its loader.

The model checks what is ours (source settings, secret names, pagination, lineage) so that a
bad file fails once, naming the file, the resource and the key. What is dlt's REST config
(selectors, params, merge settings) is passed through and validated again by dlt.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from croniter import croniter
from jsonpath_ng import JSONPath
from jsonpath_ng.ext.parser import ExtendedJsonPathParser
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from crm_assets.pii import PiiPolicy, effective_policy, parse_path
from crm_assets.schema_contract import SchemaContractSpec, effective_contract

IDENTIFIER = r"^[a-z][a-z0-9_]*$"
ENV_VAR_NAME = r"^[A-Z][A-Z0-9_]*$"
OWNER = r"^(team:[A-Za-z0-9_-]+|[^@\s]+@[^@\s]+)$"
PARENT_REFERENCE = re.compile(r"\{resources\.([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)\}")
PATH_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")

ParamName = Annotated[str, Field(min_length=1, pattern=r"^[^{}\s]+$")]
PageSize = Annotated[StrictInt, Field(gt=0)]


# The JSONPath dialect dlt uses (jsonpath_ng.ext). Its `parse()` builds a new LALR parser per
# call (~1.5 ms); one parser serves every path of every config.
_JSON_PATH_PARSER = ExtendedJsonPathParser()


def parse_json_path(path: str) -> JSONPath:
    return _JSON_PATH_PARSER.parse(path)


def _valid_json_path(path: str | None) -> str | None:
    if path is not None:
        try:
            parse_json_path(path)
        except Exception:
            raise ValueError(f"{path!r} is not a valid JSONPath") from None
    return path


JsonPath = Annotated[str, AfterValidator(_valid_json_path)]

SECRET_FIELDS_BY_AUTH = {
    "bearer": {"token"},
    "http_basic": {"username", "password"},
    "api_key": {"api_key"},
}


_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file, resource and key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthSpec(_Strict):
    """How the API authenticates; `env` maps each secret field to the env var holding it."""

    type: Literal["bearer", "http_basic", "api_key"]
    name: str | None = None
    location: Literal["header", "query"] | None = None
    env: dict[str, Annotated[str, Field(pattern=ENV_VAR_NAME)]]

    @model_validator(mode="after")
    def _secrets_match_type(self) -> AuthSpec:
        expected = SECRET_FIELDS_BY_AUTH[self.type]
        if set(self.env) != expected:
            raise ValueError(
                f"auth type {self.type!r} needs env vars for exactly {sorted(expected)}, "
                f"got {sorted(self.env)}"
            )
        if self.type == "api_key" and not (self.name and self.location):
            raise ValueError("auth type 'api_key' needs 'name' and 'location'")
        if self.type != "api_key" and (self.name or self.location):
            raise ValueError("'name' and 'location' apply to auth type 'api_key' only")
        return self

    def dlt_auth(self, secrets: dict[str, str]) -> dict[str, Any]:
        """dlt's auth config with the given secret values filled in."""
        fields = {"name": self.name, "location": self.location}
        return {"type": self.type, **{k: v for k, v in fields.items() if v}, **secrets}


class RetryPolicy(_Strict):
    """Retries of 429, 5xx and dropped connections, with exponential backoff."""

    max_retries: Annotated[int, Field(ge=0, le=10)] = 3
    backoff_factor: PositiveFloat = 2
    max_delay_seconds: PositiveFloat = 60
    timeout_seconds: PositiveFloat = 60


class RateLimitSpec(_Strict):
    """The API's request budget per account: at most `requests` per `per_seconds`."""

    requests: PositiveInt
    per_seconds: PositiveFloat

    @classmethod
    def parse(cls, text: str) -> RateLimitSpec:
        """`4/1`, `4000/3600` (requests/seconds), or with a unit: `4/s`, `100/m`, `4000/h`."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?|s|m|h)\s*", text)
        seconds = match and ({"s": 1.0, "m": 60.0, "h": 3600.0}.get(match.group(2)) or float(match.group(2)))
        if not match or not seconds or int(match.group(1)) <= 0:
            raise ValueError(f"{text!r} is not REQUESTS/SECONDS (e.g. 4/1, 100/m, 4000/h)")
        return cls(requests=int(match.group(1)), per_seconds=seconds)

    def __str__(self) -> str:
        return f"{self.requests}/{self.per_seconds:g}s"


MaxConcurrency = Annotated[StrictInt, Field(ge=1, le=64)]


class ScheduleSpec(_Strict):
    cron: str
    timezone: str = "UTC"

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, cron: str) -> str:
        if len(cron.split()) != 5 or not croniter.is_valid(cron):
            raise ValueError(f"{cron!r} is not a valid five-field cron expression")
        return cron

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, timezone: str) -> str:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a tzdata folder name
            raise ValueError(f"unknown timezone {timezone!r}") from None
        return timezone


class HeaderLinkPaginator(_Strict):
    type: Literal["header_link"]
    links_next_key: ParamName = "next"


class PageNumberPaginator(_Strict):
    type: Literal["page_number"]
    page_param: ParamName = "page"
    base_page: Annotated[StrictInt, Field(ge=0)] = 1
    total_path: JsonPath | None = None
    maximum_page: PageSize | None = None
    stop_after_empty_page: bool = True


class OffsetPaginator(_Strict):
    type: Literal["offset"]
    limit: PageSize
    offset_param: ParamName = "offset"
    limit_param: ParamName = "limit"
    total_path: JsonPath | None = None
    maximum_offset: PageSize | None = None
    stop_after_empty_page: bool = True


class SinglePagePaginator(_Strict):
    type: Literal["single_page"]


Paginator = Annotated[
    HeaderLinkPaginator | PageNumberPaginator | OffsetPaginator | SinglePagePaginator,
    Field(discriminator="type"),
]
Scalar = str | int | float | bool


class IncrementalSpec(_Strict):
    """Ask the API only for rows changed since the last load; dlt keeps the cursor in its state
    (restored from the destination). `lag_seconds` re-reads a window before the cursor, for
    writes that land late."""

    cursor_path: JsonPath
    start_param: ParamName
    initial_value: str
    lag_seconds: Annotated[float, Field(ge=0)] = 0

    def dlt_incremental(self) -> dict[str, Any]:
        return {
            "cursor_path": self.cursor_path,
            "start_param": self.start_param,
            "initial_value": self.initial_value,
            "lag": self.lag_seconds,
        }


def _no_placeholders(params: dict[str, Scalar]) -> dict[str, Scalar]:
    for key, value in params.items():
        if any(brace in f"{key}{value}" for brace in "{}"):
            raise ValueError(f"param {key!r}: '{{' and '}}' are not allowed (dlt reads them as placeholders)")
    return params


class EndpointDefaults(_Strict):
    params: Annotated[dict[ParamName, Scalar], AfterValidator(_no_placeholders)] = {}
    paginator: Paginator | None = None


class Endpoint(EndpointDefaults):
    path: Annotated[str, Field(min_length=1)]
    data_selector: JsonPath | None = None
    incremental: IncrementalSpec | None = None


class ResourceDefaults(_Strict):
    primary_key: str | list[str] | None = None
    write_disposition: Literal["merge", "append", "replace"] | None = None
    # Mark rows a complete, successful load no longer returned (`deletions.py`); from the
    # defaults it applies to the resources read completely, the others cannot see deletions.
    mark_deleted: StrictBool | None = None
    endpoint: EndpointDefaults = EndpointDefaults()
    # Source-wide defaults; a resource's own `pii` overrides them path by path, its own
    # `schema_contract` entity by entity (crm_assets/pii.py, crm_assets/schema_contract.py).
    pii: PiiPolicy = {}
    schema_contract: SchemaContractSpec | None = None


class ResourceSpec(_Strict):
    """One dlt resource, one Dagster asset, one destination table."""

    name: Annotated[str, Field(pattern=IDENTIFIER)]
    description: str | None = None
    endpoint: Endpoint
    primary_key: str | list[str] | None = None
    write_disposition: Literal["merge", "append", "replace"] | None = None
    include_from_parent: list[str] | None = None
    # `{name}` in the path takes each listed value in turn; `name` becomes a column.
    for_each: dict[
        Annotated[str, Field(pattern=IDENTIFIER)],
        Annotated[list[Annotated[str, Field(min_length=1, pattern=r"^[^/{}?#]+$")]], Field(min_length=1)],
    ] | None = None
    can_be_empty: bool = False
    # Keep every version of a row (dlt's scd2 merge): `history.py`.
    history: StrictBool = False
    mark_deleted: StrictBool | None = None
    pii: PiiPolicy | None = None
    schema_contract: SchemaContractSpec | None = None

    @model_validator(mode="after")
    def _placeholders_are_bound(self) -> ResourceSpec:
        for_each = self.for_each or {}
        path = self.endpoint.path
        if len(for_each) > 1:
            raise ValueError("for_each takes one path placeholder")
        if "{" in PATH_PLACEHOLDER.sub("", path) or "}" in PATH_PLACEHOLDER.sub("", path):
            raise ValueError(f"endpoint.path {path!r} has an unbalanced '{{' or '}}'")
        parents = {match.group(1) for match in PARENT_REFERENCE.finditer(path)}
        if len(parents) > 1 or (parents and for_each):
            raise ValueError(
                f"endpoint.path {path!r} may name one parent resource or one for_each key, "
                "not several"
            )
        for placeholder in PATH_PLACEHOLDER.findall(path):
            if not (placeholder in for_each or PARENT_REFERENCE.fullmatch("{" + placeholder + "}")):
                raise ValueError(
                    f"path placeholder {{{placeholder}}} is neither resources.<parent>.<field> "
                    "nor a for_each key"
                )
        for name in for_each:
            if "{" + name + "}" not in self.endpoint.path:
                raise ValueError(f"for_each key {name!r} does not appear in the path")
        if self.include_from_parent and not self.parent:
            raise ValueError("include_from_parent needs a path with {resources.<parent>.<field>}")
        if self.history and self.write_disposition not in (None, "merge"):
            raise ValueError("history keeps versions by merging; drop write_disposition or use merge")
        if self.history and self.mark_deleted:
            raise ValueError(
                "history already retires the rows a complete load no longer returns; "
                "drop mark_deleted"
            )
        return self

    @property
    def for_each_resource_name(self) -> str | None:
        """The unselected dlt resource yielding the for_each values."""
        if not self.for_each:
            return None
        ((key, _),) = self.for_each.items()
        return f"{self.name}_{key}_values"

    @property
    def parent(self) -> str | None:
        match = PARENT_REFERENCE.search(self.endpoint.path)
        return match.group(1) if match else None


class SourceConfig(_Strict):
    """One API: where it is, how it authenticates, what it serves and when to load it."""

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
    resource_defaults: ResourceDefaults = ResourceDefaults()
    resources: Annotated[list[ResourceSpec], Field(min_length=1)]

    @field_validator("base_url")
    @classmethod
    def _absolute_http_url(cls, url: str) -> str:
        return validate_base_url(url)

    @model_validator(mode="after")
    def _resources_form_a_tree(self) -> SourceConfig:
        names = [resource.name for resource in self.resources]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate resource names {duplicates}")
        for resource in self.resources:
            if resource.for_each_resource_name in names:
                raise ValueError(
                    f"resource name {resource.for_each_resource_name!r} is taken by the values "
                    f"of {resource.name!r}'s for_each"
                )
        for resource in self.resources:
            if resource.parent and resource.parent not in names:
                raise ValueError(
                    f"resource {resource.name!r}: parent {resource.parent!r} in endpoint.path "
                    "is not a resource of this source"
                )
        for resource in self.resources:
            seen = [resource.name]
            parent = resource.parent
            while parent:
                if parent in seen:
                    raise ValueError(f"resources {' -> '.join([*seen, parent])} form a cycle")
                seen.append(parent)
                parent = self.resource(parent).parent
        for resource in self.resources:
            problem = self._deletion_problem(resource)
            if problem:
                raise ValueError(f"resource {resource.name!r}: {problem}")
        if self.page_size_param:
            endpoints = [("resource_defaults", self.resource_defaults.endpoint)] + [
                (f"resource {resource.name!r}", resource.endpoint) for resource in self.resources
            ]
            for where, endpoint in endpoints:
                size = endpoint.params.get(self.page_size_param)
                if size is not None and (type(size) is not int or size <= 0):
                    raise ValueError(
                        f"{where}: endpoint.params.{self.page_size_param} "
                        f"is the page size and must be a positive integer, got {size!r}"
                    )
        self._pii_spares_keys()
        return self

    def _pii_spares_keys(self) -> None:
        """Hashing or dropping a key, cursor or a field a child's path reads breaks merges,
        incremental loads or the child's requests: refuse it."""
        needed: dict[str, set[str]] = {r.name: set(self.primary_key(r)) for r in self.resources}
        for resource in self.resources:
            if resource.endpoint.incremental:
                needed[resource.name].add(resource.endpoint.incremental.cursor_path)
            for match in PARENT_REFERENCE.finditer(resource.endpoint.path):
                needed[match.group(1)].add(match.group(2))
            if resource.parent:
                needed[resource.parent].update(resource.include_from_parent or [])
        for resource in self.resources:
            for path in self.pii_policy(resource):
                if parse_path(path)[0][0] in needed[resource.name]:
                    raise ValueError(
                        f"resource {resource.name!r}: pii path {path!r} is a primary key, an "
                        "incremental cursor or a field a child resource reads; it cannot be "
                        "hashed or dropped"
                    )

    def pii_policy(self, resource: ResourceSpec) -> dict[str, Literal["hash", "drop"]]:
        return effective_policy(self.resource_defaults.pii, resource.pii)

    @property
    def hashes_pii(self) -> bool:
        return any("hash" in self.pii_policy(r).values() for r in self.resources)

    def schema_contract(self, resource: ResourceSpec) -> dict[str, str]:
        return effective_contract(self.resource_defaults.schema_contract, resource.schema_contract)

    def resource(self, name: str) -> ResourceSpec:
        return next(resource for resource in self.resources if resource.name == name)

    def primary_key(self, resource: ResourceSpec) -> list[str]:
        key = resource.primary_key or self.resource_defaults.primary_key
        return [key] if isinstance(key, str) else list(key or [])

    def write_disposition(self, resource: ResourceSpec) -> str | None:
        return resource.write_disposition or self.resource_defaults.write_disposition

    def reads_completely(self, resource: ResourceSpec) -> bool:
        """Whether every run returns every row the API has: no incremental cursor on the
        resource or an ancestor (a child of an incremental parent is asked about changed
        parents only), and no page cap."""
        spec: ResourceSpec | None = resource
        while spec is not None:
            paginator = spec.endpoint.paginator or self.resource_defaults.endpoint.paginator
            if spec.endpoint.incremental or getattr(paginator, "maximum_page", None) or getattr(
                paginator, "maximum_offset", None
            ):
                return False
            spec = self.resource(spec.parent) if spec.parent else None
        return True

    def marks_deleted(self, resource: ResourceSpec) -> bool:
        if resource.mark_deleted is not None:
            return resource.mark_deleted
        return bool(
            self.resource_defaults.mark_deleted
            and not resource.history
            and self.reads_completely(resource)
            and self.write_disposition(resource) == "merge"
        )

    def cannot_see_deletions(self) -> list[ResourceSpec]:
        """The resources only a full refresh brings deletions to."""
        return [r for r in self.resources if not self.reads_completely(r)]

    def _deletion_problem(self, resource: ResourceSpec) -> str | None:
        if resource.history and not self.primary_key(resource):
            return "history needs a primary key (the checks and the versions are keyed by it)"
        if resource.history and self.full_refresh_schedule and not self.reads_completely(resource):
            return "full_refresh_schedule would drop the history of this incremental resource"
        if not resource.mark_deleted:
            return None
        if not self.reads_completely(resource):
            return (
                "mark_deleted needs a resource read completely on every run (no incremental "
                "cursor, none on a parent, no page cap); use full_refresh_schedule"
            )
        if self.write_disposition(resource) != "merge":
            return "mark_deleted needs write_disposition merge (rows are kept and marked)"
        return None

    @cached_property
    def env_prefix(self) -> str:
        return self.name.upper()

    @property
    def base_url_env(self) -> str:
        return f"{self.env_prefix}_BASE_URL"

    @property
    def rate_limit_env(self) -> str:
        return f"{self.env_prefix}_RATE_LIMIT"

    @property
    def max_concurrency_env(self) -> str:
        return f"{self.env_prefix}_MAX_CONCURRENCY"


def validate_base_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"base URL {url!r} must be absolute, starting with http:// or https://")
    return url


def _describe_location(raw: dict[str, Any], location: Iterable[str | int]) -> str:
    """`('resources', 3, 'endpoint', 'path')` -> `resource 'employees', key endpoint.path`."""
    parts = list(location)
    if len(parts) >= 2 and parts[0] == "resources" and isinstance(parts[1], int):
        resources = raw.get("resources")
        resources = resources if isinstance(resources, list) else []
        entry = resources[parts[1]] if parts[1] < len(resources) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        label = f"resource {name!r}" if name else f"resources[{parts[1]}]"
        key = ".".join(str(part) for part in parts[2:])
        return f"{label}, key {key}" if key else label
    return "key " + ".".join(str(part) for part in parts) if parts else "top level"


def load_source_config(path: Path) -> SourceConfig:
    """Read and validate one config file; the file stem is the source name."""
    if not re.match(IDENTIFIER, path.stem):
        raise ConfigError(
            f"{path}: the file name is the source name and must match {IDENTIFIER} "
            "(lowercase letters, digits, underscores)"
        )
    try:
        raw = yaml.load(path.read_bytes().decode("utf-8"), Loader=_YamlLoader)
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except (yaml.YAMLError, ValueError, RecursionError) as error:
        # ValueError: integers past Python's digit limit; RecursionError: absurd nesting.
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    if "name" in raw:
        raise ConfigError(f"{path}: key name: the source name is the file name, drop the key")
    try:
        return SourceConfig.model_validate({"name": path.stem, **raw})
    except ValidationError as error:
        problems = [
            f"{_describe_location(raw, issue['loc'])}: {issue['msg'].removeprefix('Value error, ')}"
            for issue in error.errors(include_url=False)
        ]
        raise ConfigError(f"{path}: " + "; ".join(problems)) from None


def load_source_configs(configs_dir: Path) -> list[SourceConfig]:
    paths = sorted(configs_dir.glob("*.yaml"))
    if not paths:
        raise ConfigError(f"{configs_dir}: no *.yaml source configs found")
    return [load_source_config(path) for path in paths]
