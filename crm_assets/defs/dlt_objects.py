"""dagster-dlt's objects taken off the asset definitions: `@dlt_assets` puts the dlt source,
pipeline and translator in every spec's metadata for `DagsterDltResource.run`, which these
assets do not use."""

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dlt.constants import (
    META_KEY_PIPELINE,
    META_KEY_SOURCE,
    META_KEY_TRANSLATOR,
)

# What `dlt_assets` puts in every spec for dagster-dlt's `DagsterDltResource.run`, which these
# assets do not use (they run dlt step by step): the asset page would list them as objects.
DLT_OBJECT_KEYS = (META_KEY_SOURCE, META_KEY_PIPELINE, META_KEY_TRANSLATOR)


def _without_dlt_object_keys(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metadata.items() if k not in DLT_OBJECT_KEYS}


def without_dlt_objects(assets: dg.AssetsDefinition) -> dg.AssetsDefinition:
    """`assets` without dagster-dlt's objects in any asset's metadata. Dagster's public
    `map_asset_specs` cannot take them off: `multi_asset` copies each spec's metadata onto its
    op output, and AssetsDefinition merges the output's back under the spec's (dagster 1.13,
    `AssetsDefinition.__init__`). So the definition is rebuilt with its public constructor
    from the same op, its outputs and specs without them."""
    op = assets.op
    outs = {
        out.name: dg.Out(
            dagster_type=out.dagster_type,
            description=out.description,
            is_required=out.is_required,
            io_manager_key=out.io_manager_key,
            metadata=_without_dlt_object_keys(out.metadata),
            code_version=out.code_version,
        )
        for out in op.output_defs
    }
    return dg.AssetsDefinition(
        keys_by_input_name=assets.node_keys_by_input_name,
        keys_by_output_name=assets.node_keys_by_output_name,
        node_def=op.with_replaced_properties(name=op.name, outs=outs),
        can_subset=assets.can_subset,
        specs=[
            spec.replace_attributes(metadata=_without_dlt_object_keys(spec.metadata))
            for spec in assets.specs
        ],
        backfill_policy=assets.backfill_policy,
    )
