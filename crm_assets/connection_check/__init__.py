"""Whether each API answers and takes the credentials, without loading anything: one cheap
authenticated request per source (`probe.py`), as a CLI (`python -m
crm_assets.connection_check`), a Dagster job and an hourly sensor (`definitions.py`)."""
