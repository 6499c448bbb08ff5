"""One source's request budget in a run: how many requests may be in flight, how many may be
sent per window, and what the API's 429s ask for. dlt has retries but no client-side budget.

Every request of the source's session passes here (all resources and threads, every retry
attempt). The configured window is the API's. A request counts in it from its send until a
window after its answer: the API counts it when it arrives, which only the answer bounds
(`SendWindow`).

A 429 the pace did not cause (a lone refusal, or fewer than one in ten of the requests sent
within the pause it asks for) changes nothing but the refused request's own wait: dlt's retry
honours its `Retry-After`, and the extract's spare threads keep the other slots busy meanwhile.
Refusals past that are a limit, of one of two kinds, told apart by the pause asked for
(`Retry-After`, else the reset) against the configured window:
- **burst**: a pause far shorter than the window (or none named, or no window configured).
  Every request of the source waits out the pause, and the requests in flight halve, climbing
  back one at a time as answers come (`InFlightCap`). The configured budget stays as it is.
- **window**: a pause of a real part of the configured window: the account's window is spent.
  Every request waits out the pause, then one goes first. If a request sent after the pause
  is refused again, the account allows less than configured: the budget is cut to what the
  API admitted in the window, never below a tenth of it, climbing back a tenth after each
  window's worth of requests answered in a row (`SendWindow`).
Pauses do not add up: a source never waits longer than the longest pause asked for, plus what
its budget requires. After any 429 (from the start where no budget is configured), no more is
sent than the API says is left of its window (`X-RateLimit-Remaining` / `-Reset`), where it
says.

`RequestBudget` (budget.py) holds the lock and asks its collaborators, one decision each:
`SendWindow` (the configured window), `InFlightCap` (requests in flight), `Refusals` (what a 429
says of the pace), `Limits` (what a limit costs), `ApiAllowance` (what the headers say is left),
`carry_over` (the window across back-to-back runs).
"""

from crm_assets.request_budget.budget import RequestBudget
from crm_assets.request_budget.headers import seconds_from_now

__all__ = ["RequestBudget", "seconds_from_now"]
