"""Maps each dlt resource of a source to its Dagster asset spec."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
from dagster_dlt import DagsterDltTranslator
from dagster_dlt.translator import DltResourceTranslatorData

from crm_assets.config import SourceConfig


@dataclass
class CrmDltTranslator(DagsterDltTranslator):
    """Key `<source>/<resource>`, group `<source>`, deps: the parent resource's asset or none.

    dagster-dlt's default would key assets `dlt_<source>_<resource>` and give each one a phantom
    upstream asset; here lineage is only what the API really has: a child path needs its parent.
    """

    config: SourceConfig

    def asset_key(self, resource_name: str) -> dg.AssetKey:
        return dg.AssetKey([self.config.name, resource_name])

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        resource = self.config.resource(data.resource.name)
        endpoint = resource.endpoint
        description = resource.description or (
            f"`{resource.name}` of {self.config.name}: {self.config.description} "
            f"Loaded from `GET {endpoint.path}`"
            + (f", rows at `{endpoint.data_selector}`." if endpoint.data_selector else ".")
        )
        return (
            super()
            .get_asset_spec(data)
            .replace_attributes(
                key=self.asset_key(resource.name),
                group_name=self.config.name,
                deps=[self.asset_key(resource.parent)] if resource.parent else [],
                description=description,
            )
        )
