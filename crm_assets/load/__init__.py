"""A source's load: dlt's steps as a run takes them, what a failure says, and what a
materialization shows (rows, the table, the reads' volume), never a secret."""
