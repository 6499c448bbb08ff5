"""What a failed load says: which source and resource, the request or the contract that
failed, and the cause's class; never a secret, a query string or a row's values (the raised
chain holds URLs and headers, a contract violation the offending row)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlparse

import dagster as dg
import requests

from crm_assets.extract import NotDataAnswer
from crm_assets.load.error_chain import error_chain
from crm_assets.load.redaction import redact
from crm_assets.table_rules.dlt_types import dlt_type_of

# Query parameters that may carry a credential whatever their value: never shown.
SECRET_PARAM = re.compile(r"key|token|secret|pass|auth|sig", re.IGNORECASE)


def load_failure(source: str, error: BaseException, secrets: list[str]) -> dg.Failure:
    """`source/resource: GET /path answered HTTP 401 ... (HTTPError)`: what failed and where,
    with the URL's path only and no secret; the cause's class and status go in metadata. An
    answer that was not data names its page and what came back (secrets masked)."""
    chain = list(error_chain(error))
    resource = next(
        (
            getattr(e, "resource_name", None) or getattr(e, "pipe_name", None)
            for e in chain
            if getattr(e, "resource_name", None) or getattr(e, "pipe_name", None)
        ),
        None,
    )
    not_data = next((e for e in chain if isinstance(e, NotDataAnswer)), None)
    resource = resource or (not_data.resource if not_data else None)
    where = f"{source}/{resource}" if resource else source
    if not_data is not None:
        return _not_data_failure(where, source, resource, not_data, secrets)
    http_error = next(
        (e for e in chain if isinstance(e, requests.HTTPError) and e.response is not None), None
    )
    cause = http_error or chain[-1]
    metadata: dict[str, str | int] = {"error_class": type(cause).__name__, "source": source}
    if resource:
        metadata["resource"] = resource
    if http_error is not None:
        response = http_error.response
        metadata |= {"http_status": response.status_code, "path": urlparse(response.url).path}
        description = (
            f"{where}: {response.request.method} {metadata['path']} answered HTTP "
            f"{response.status_code} {response.reason} ({type(http_error).__name__}), "
            "after the configured retries"
        )
    else:
        description = f"{where}: {type(cause).__name__}: {redact(str(cause), secrets)}"
    return dg.Failure(description=description[:2000], metadata=metadata)


def page_of(url: str, secrets: list[str]) -> str:
    """The request's path and paging parameters, without any parameter that may hold a
    credential."""
    parsed = urlparse(url)
    shown = [
        f"{name}={value}"
        for name, value in parse_qsl(parsed.query)
        if not SECRET_PARAM.search(name) and value not in secrets
    ]
    return parsed.path + ("?" + "&".join(shown) if shown else "")


def _not_data_failure(
    where: str, source: str, resource: str | None, error: NotDataAnswer, secrets: list[str]
) -> dg.Failure:
    page = page_of(error.url, secrets)
    body = redact(error.body_start, secrets).replace("\n", " ")
    metadata: dict[str, str | int] = {
        "error_class": type(error).__name__, "source": source, "page": page,
        "http_status": error.response.status_code,
    }
    if resource:
        metadata["resource"] = resource
    return dg.Failure(
        description=(
            f"{where}: GET {page} answered HTTP {error.response.status_code} that is not data "
            f"({error.reason}), after the configured retries; it began: {body}"
        )[:2000],
        metadata=metadata,
    )


def violation_failure(
    source: str, resources: Iterable[str], error: BaseException
) -> dg.Failure | None:
    """A frozen contract's violation as `source/resource: ...`, naming the table, column and
    types but never a value (dlt's own message quotes the offending row's keys)."""
    violation = next((e for e in error_chain(error) if hasattr(e, "schema_entity")), None)
    if violation is None:
        return None
    table, column = violation.table_name, violation.column_name
    entity, row = violation.schema_entity, violation.data_item
    resource = max(
        (name for name in resources if table == name or table.startswith(f"{name}__")),
        key=len, default=table,
    )
    existing = (violation.table_schema or {}).get("columns", {})
    sent = dlt_type_of(row[column]) if isinstance(row, dict) and column in row else None
    if entity == "tables":
        what = f"a new table {table!r}"
    elif entity == "columns":
        what = f"a new column {column!r} of type {sent} in table {table!r}"
    else:
        base = column.rsplit("__v_", 1)[0] if column not in existing else column
        held = existing.get(base, {}).get("data_type", "unknown")
        what = f"type {sent} in column {base!r} of table {table!r}, which holds {held}"
    return dg.Failure(
        description=(
            f"{source}/{resource}: the API sent {what}; schema_contract {entity}: freeze "
            "rejects it, and nothing of this run was loaded"
        ),
        metadata={
            "source": source, "resource": resource, "table": table, "column": column or "",
            "contract_entity": entity, "sent_type": sent or "",
        },
    )
