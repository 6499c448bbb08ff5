"""Optional environment variables, read one way: as a resource field's `EnvVar` where the
variable is set when the code location loads, else nothing (the field's default)."""

from __future__ import annotations

import dagster as dg


def env_var_if_set(name: str) -> dg.EnvVar | None:
    """The env var as a resource field's value where it is set when the code location loads,
    else None. Dagster resolves every `EnvVar` of a run's resources when the run launches, so
    one unset variable would fail every source's step of the run: an unset one fails only the
    step that needs it, naming it (`SourceApi.secrets`, `PiiHashKeyResource.validated_key`)."""
    return dg.EnvVar(name) if env_value(name) else None


def env_value(name: str, default: str = "") -> str:
    """The variable's value as the code location loads (set and not empty), else `default`."""
    return dg.EnvVar(name).get_value() or default
