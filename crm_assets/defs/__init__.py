"""The Dagster definitions: assets (through dagster-dlt's `@dlt_assets`), their translator and
backfill windows, checks, schedules, sensors and executors; `names.py` owns every name."""
