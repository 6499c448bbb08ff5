"""Deterministic records: the same (resource, id) always yields the same row."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

EPOCH = datetime(2025, 1, 1, tzinfo=timezone.utc)
STATUSES = ("open", "won", "lost", "on_hold")
# Rows past the first page carry a field the first page never shows: schema evolution in flight.
LATE_FIELD_FROM_INDEX = 150


# Each revision of a record moves its updated_at one year on.
MINUTES_PER_REVISION = 525_600
# Collections whose records are people, with e-mails and a phone. Record n of each is person
# n % PEOPLE + 1, so one person appears in several resources and sources (lead_crm's lead and
# contact 3 are the same person as deal_crm's contacts 3).
PERSON_COLLECTIONS = frozenset({"contact", "lead", "contacts", "endusers"})
PEOPLE = 29


def timestamp(minutes: int) -> str:
    return (EPOCH + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def minutes_since_epoch(value: str) -> float:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - EPOCH).total_seconds() / 60


def updated_minutes(record_id: int, revision: int, minutes_per_id: int = 1) -> int:
    """Record n is created n * `minutes_per_id` minutes after EPOCH and updated then, plus a
    year per revision."""
    return record_id * minutes_per_id + revision * MINUTES_PER_REVISION


def person(record_id: int) -> dict[str, Any]:
    """The personal data of a record in a person collection: known values tests search for."""
    number = record_id % PEOPLE + 1
    email = f"person{number}@example.test"
    return {
        "email": email,
        "phone": f"+1-555-01{number:02d}",
        "emails": [
            {"type": "work", "value": email},
            {"type": "home", "value": f"person{number}.home@example.test"},
        ],
    }


def make_record(
    resource: str,
    record_id: int,
    revision: int = 0,
    amount_as_text: bool = False,
    minutes_per_id: int = 1,
) -> dict[str, Any]:
    """One row with scalars, a nested object and a nested list. `revision` changes the record
    (name and updated_at); `amount_as_text` is the API changing a field's type."""
    amount = round(record_id * 1.25, 2)
    record: dict[str, Any] = {
        "id": record_id,
        "name": f"{resource} {record_id}" + (f" (rev {revision})" if revision else ""),
        "status": STATUSES[record_id % len(STATUSES)],
        "amount": f"{amount:.2f} EUR" if amount_as_text else amount,
        "created_at": timestamp(record_id * minutes_per_id),
        "updated_at": timestamp(updated_minutes(record_id, revision, minutes_per_id)),
        "owner": {"id": record_id % 17 + 1, "email": f"owner{record_id % 17 + 1}@example.test"},
        "labels": [f"label-{(record_id + k) % 7}" for k in range(record_id % 3)],
    }
    if resource in PERSON_COLLECTIONS:
        record.update(person(record_id))
    if record_id >= LATE_FIELD_FROM_INDEX:
        record["archived_reason"] = "none"
    return record
