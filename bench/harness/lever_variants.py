"""The plain-dlt levers bench/levers.py measures: a table of variants (env, loader file format,
options) and the transforms some of them apply (orjson decoding, pages as Arrow tables)."""

from __future__ import annotations

import re
from typing import Any

# name -> (what it changes, env, loader_file_format, options)
VARIANTS: dict[str, tuple[str, dict[str, str], str, dict[str, bool]]] = {
    "baseline": ("project settings: parquet, dlt defaults", {}, "parquet", {}),
    "a_jsonl": ("(a) loader_file_format=jsonl", {}, "jsonl", {}),
    "a_insert_values": ("(a) loader_file_format=insert_values", {}, "insert_values", {}),
    "b_workers2": ("(b) NORMALIZE__WORKERS=2", {"NORMALIZE__WORKERS": "2"}, "parquet", {}),
    "c_buffer50k": ("(c) DATA_WRITER__BUFFER_MAX_ITEMS=50000",
                    {"DATA_WRITER__BUFFER_MAX_ITEMS": "50000"}, "parquet", {}),
    "c_rotate50k": ("(c) DATA_WRITER__FILE_MAX_ITEMS=50000",
                    {"DATA_WRITER__FILE_MAX_ITEMS": "50000"}, "parquet", {}),
    "c_rotate50k_workers2": ("(c)+(b) FILE_MAX_ITEMS=50000 + NORMALIZE__WORKERS=2",
                             {"DATA_WRITER__FILE_MAX_ITEMS": "50000",
                              "NORMALIZE__WORKERS": "2"}, "parquet", {}),
    "d_orjson": ("(d) orjson decode of responses (session.send wrapper)", {}, "parquet",
                 {"orjson": True}),
    "e_arrow_resource": ("(e) custom resource: RESTClient.paginate -> pa.Table.from_pylist",
                         {}, "parquet", {"arrow_resource": True}),
    "e_arrow_step": ("(e) rest_api resource + add_step(page -> pa.Table.from_pylist)", {},
                     "parquet", {"arrow_step": True}),
    "e_arrow_step_orjson": ("(e)+(d) arrow step + orjson decode", {}, "parquet",
                            {"arrow_step": True, "orjson": True}),
    "e_arrow_typed": ("(e') add_step after the incremental step (which filters dicts): page -> "
                      "typed Arrow (all keys, structs flattened to a__b, ISO strings -> "
                      "timestamp) + _dlt_load_id/_dlt_id",
                      {"NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID": "true",
                       "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID": "true"},
                      "parquet", {"arrow_typed": True}),
    "e_arrow_typed_vinc": ("(e') typed Arrow step before the incremental step (vectorized "
                           "cursor; initial_value passed as a datetime) + _dlt_load_id/_dlt_id",
                           {"NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID": "true",
                            "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID": "true"},
                           "parquet", {"arrow_typed": True, "arrow_before_incremental": True}),
    "f_duckdb_mem256": ("(f) DuckDB memory_limit=256MB (DESTINATION__DUCKDB__CREDENTIALS__"
                        "GLOBAL_CONFIG)",
                        {"DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG":
                         '{"memory_limit": "256MB"}'}, "parquet", {}),
    "f_arrow_typed_mem256": ("(e')+(f) typed Arrow step + DuckDB memory_limit=256MB",
                             {"NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID": "true",
                              "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID": "true",
                              "DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG":
                              '{"memory_limit": "256MB"}'},
                             "parquet", {"arrow_typed": True}),
    "e_arrow_typed_orjson": ("(e')+(d) typed Arrow step + orjson decode",
                             {"NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID": "true",
                              "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID": "true"},
                             "parquet", {"arrow_typed": True, "orjson": True}),
}

ISO_TIMESTAMP = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$")


def orjson_session(session: Any) -> Any:
    """Every response the session returns decodes its body with orjson (`response.json()` is
    what dlt's RESTClient.extract_response and the paginators call)."""
    import orjson

    send = session.send

    def send_with_orjson(request: Any, **kwargs: Any) -> Any:
        response = send(request, **kwargs)
        response.json = lambda **_: orjson.loads(response.content)
        return response

    session.send = send_with_orjson
    return session


def pages_to_arrow(items: Any, meta: Any = None) -> Any:
    """A pipe step: one page (list of dicts) in, one pyarrow Table out."""
    import pyarrow as pa

    if isinstance(items, list) and items and isinstance(items[0], dict):
        return pa.Table.from_pylist(items)
    return items


def pages_to_typed_arrow(items: Any, meta: Any = None) -> Any:
    """A pipe step: one page (list of dicts) in, one pyarrow Table out, keeping what dlt's
    JSON path would give: every key of every row (from_pylist takes the first row's keys
    only), nested objects flattened to `parent__child` columns, ISO-8601 strings as timestamps.
    Nested lists stay one JSON column (no child table)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (isinstance(items, list) and items and isinstance(items[0], dict)):
        return items
    keys = list(dict.fromkeys(key for row in items for key in row))
    table = pa.Table.from_pydict({key: [row.get(key) for row in items] for key in keys})
    while any(pa.types.is_struct(field.type) for field in table.schema):
        table = table.flatten()
    table = table.rename_columns([name.replace(".", "__") for name in table.column_names])
    for index, field in enumerate(table.schema):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            column = table.column(index)
            sample = next((v for v in column.slice(0, 100).to_pylist() if v is not None), None)
            if sample is not None and ISO_TIMESTAMP.match(sample):
                try:
                    table = table.set_column(
                        index, field.name, pc.cast(column, pa.timestamp("us", tz="UTC")))
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    pass
    return table
