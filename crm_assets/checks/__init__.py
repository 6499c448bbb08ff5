"""Asset checks that query the loaded tables in the destination, through dlt's SQL client.

Per asset: primary key present and unique (ERROR, blocking; in a history table unique among
current versions, and unique with its valid-from among all), current rows present (ERROR, or
WARN where the resource may be empty), last successful load within the freshness window
(ERROR), and schema drift since the previous load (WARN, with the diff in metadata). They are
evaluated in the source's load step, right after the load (or alone, when only checks are
selected).
"""

from crm_assets.checks.evaluate import evaluate_checks
from crm_assets.checks.specs import source_check_specs

__all__ = ["evaluate_checks", "source_check_specs"]
