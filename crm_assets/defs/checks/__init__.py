"""Asset checks that query the loaded tables in the destination, through dlt's SQL client.

Per asset: primary key present and unique (ERROR, blocking; in a history table unique among
current versions, and unique with its valid-from among all), current rows present (ERROR, or
WARN where the resource may be empty), and schema drift since the previous load (WARN, with
the diff in metadata). One `multi_asset_check` per source evaluates them after its load (or
alone, when only checks are selected).
"""

from crm_assets.defs.checks.definitions import build_source_checks
from crm_assets.defs.checks.evaluate import evaluate_checks
from crm_assets.defs.checks.specs import source_check_specs

__all__ = ["build_source_checks", "evaluate_checks", "source_check_specs"]
