"""Retry schedules: how long to wait after each failed attempt, and when to give up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cityos.db import utcnow


@dataclass(frozen=True, slots=True)
class Backoff:
    """Wait ``minutes[n - 1]`` after the n-th failed attempt; give up after one more."""

    minutes: tuple[int, ...]

    @property
    def max_attempts(self) -> int:
        return len(self.minutes) + 1

    def next_attempt(self, now: datetime, attempts: int) -> datetime | None:
        """When to try again after ``attempts`` failed attempts; None means give up."""
        if attempts >= self.max_attempts:
            return None
        return now + timedelta(minutes=self.minutes[max(attempts, 1) - 1])


EMAIL_BACKOFF = Backoff((1, 5, 30, 120))  # 5 attempts over about 2.5 hours
WEBHOOK_BACKOFF = Backoff((1, 5, 30, 120, 720))  # 6 attempts over about 14.5 hours


def aware(now: datetime | None) -> datetime:
    """``now``, or the current time; refuses a naive datetime (the database stores UTC)."""
    if now is None:
        return utcnow()
    if now.tzinfo is None:
        raise ValueError("naive datetime given; pass an aware datetime (UTC)")
    return now
