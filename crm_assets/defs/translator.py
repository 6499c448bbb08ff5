"""Maps each dlt resource of a source to its Dagster asset spec."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import dagster as dg
from dagster_dlt import DagsterDltTranslator
from dagster_dlt.translator import DltResourceTranslatorData

from crm_assets.config import ACCOUNT_COLUMN, ResourceSpec, SourceConfig
from crm_assets.defs import names
from crm_assets.table_rules.pii import PII_LABEL, describe_policy
from crm_assets.table_rules.schema_contract import EVOLVE


def describe_endpoint(config: SourceConfig, resource: ResourceSpec) -> str:
    """How the rows are fetched, without the host (no links, nothing environment-specific)."""
    endpoint = resource.endpoint
    paginator = config.paginator(resource)
    text = f"GET {endpoint.path}"
    if endpoint.data_selector:
        text += f", rows at {endpoint.data_selector}"
    if paginator:
        text += f", paginated by {paginator.type}"
    if resource.for_each:
        text += f", once per {resource.for_each.key} in {resource.for_each.values}"
    if resource.parent:
        text += f", once per {resource.parent} row"
    return text


@dataclass
class CrmDltTranslator(DagsterDltTranslator):
    """Key `<source>/<resource>`, group `<source>`, deps: the parent resource's asset or none.

    dagster-dlt's default would key assets `dlt_<source>_<resource>` and give each one a phantom
    upstream asset; here lineage is only what the API really has: a child path needs its parent.
    """

    config: SourceConfig
    destination_name: str

    def asset_key(self, resource_name: str) -> dg.AssetKey:
        return names.asset_key(self.config.name, resource_name, self.config.account_name)

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        config = self.config
        resource = config.resource(data.resource.name)
        # The catalog previews the first line: what this resource is, then where it comes from.
        summary = resource.description or resource.name.replace("_", " ").capitalize()
        description = (
            f"{summary}: {describe_endpoint(config, resource)}.\n\n"
            f"From {config.label}: {config.description}"
        )
        if config.account:
            description += f"\n\nAccount {config.account_name}: the rows of {config.name}." + (
                f"{resource.name} where {ACCOUNT_COLUMN} = '{config.account_name}'.")
        pii = config.pii_policy(resource)
        contract = config.schema_contract(resource)
        # Before any run, the policies are visible and searchable: a tag names what happens
        # to personal data (catalog filter `crm/pii`), metadata lists each path.
        governance: dict[str, str] = {}
        if pii:
            governance["pii"] = describe_policy(pii)
        if contract != EVOLVE:
            governance["schema_contract"] = ", ".join(f"{k}: {v}" for k, v in contract.items())
        pii_tag = "-".join(sorted({PII_LABEL[action] for action in pii.values()}))
        # The destination is the project's configuration (kinds and storage kind below), not
        # the definition-time pipeline's: that is a reference without one.
        return (
            super()
            .get_asset_spec(DltResourceTranslatorData(resource=data.resource, pipeline=None))
            .replace_attributes(
                key=self.asset_key(resource.name),
                group_name=names.of(config.name).group,
                deps=[self.asset_key(resource.parent)] if resource.parent else [],
                description=description,
                owners=config.owners,
                kinds={"dlt", self.destination_name},
                tags={
                    names.SOURCE_TAG: config.name,
                    **({names.ACCOUNT_TAG: config.account_name} if config.account else {}),
                    names.AUTH_TAG: config.auth.type,
                    names.LOAD_TAG: names.NIGHTLY,
                    **({names.PII_TAG: pii_tag} if pii_tag else {}),
                },
                freshness_policy=dg.FreshnessPolicy.time_window(
                    fail_window=timedelta(hours=config.freshness_hours)
                ),
            )
            .merge_attributes(
                metadata={
                    "endpoint": describe_endpoint(config, resource),
                    "dagster/storage_kind": self.destination_name,
                    "dagster/table_name": f"{config.name}.{resource.name}",
                    "backfill_windows": self.windows_of(resource),
                    **governance,
                }
            )
        )

    def windows_of(self, resource: ResourceSpec) -> str:
        """Where the resource's backfill windows are, or why it has none."""
        if not self.config.windowable(resource):
            return (
                "none: its API has no modification-time filter (no incremental cursor on it or "
                "a parent), so every run reads it whole"
            )
        if not self.config.backfill:
            return f"none: declare `backfill` in configs/{self.config.name}.yaml"
        return names.window_asset_key(
            self.config.name, resource.name, self.config.account_name
        ).to_user_string()


@dataclass
class WindowDltTranslator(CrmDltTranslator):
    """The same resources as time-window assets: key `<source>/windows/<resource>`, group
    `<source>_windows`, partitioned by the source's `backfill` grain; a child's window depends
    on its parent's. They write the nightly asset's table; its checks and freshness stay
    there."""

    def asset_key(self, resource_name: str) -> dg.AssetKey:
        return names.window_asset_key(self.config.name, resource_name, self.config.account_name)

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        config = self.config
        resource = config.resource(data.resource.name)
        nightly = super().get_asset_spec(data)
        incremental = resource.endpoint.incremental
        cursor = (
            f"rows whose {incremental.cursor_path} falls in the window"
            if incremental
            else f"rows of the {resource.parent} in the window"
        )
        return nightly.replace_attributes(
            group_name=names.of(config.name).windows_group,
            description=(
                f"Backfill windows of {CrmDltTranslator.asset_key(self, resource.name).to_user_string()}"
                f" ({config.backfill.grain}ly partitions): each loads the {cursor} again into "
                f"{config.name}.{resource.name}, merged by primary key; the nightly cursor stays "
                f"where it is.\n\n{nightly.description}"
            ),
            tags={**nightly.tags, names.LOAD_TAG: names.WINDOW},
            freshness_policy=None,
            metadata={k: v for k, v in nightly.metadata.items() if k != "backfill_windows"},
        )
