"""A source's client-side request budget: the configured window, what 429s teach, and what the
API's rate-limit headers say. Import from here; the modules below are one concept each."""

from crm_assets.request_budget.budget import RequestBudget
from crm_assets.request_budget.headers import seconds_from_now

__all__ = ["RequestBudget", "seconds_from_now"]
