"""`make demo`'s program (`python -m crm_assets.demo`): every source from the sandbox into
DuckDB through the CLI. Run from a checkout only: like the sandbox, it is not in the wheel."""

from crm_assets.demo.run import dataset_row_counts, main, print_row_counts

__all__ = ["dataset_row_counts", "main", "print_row_counts"]
