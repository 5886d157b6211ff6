"""Fixtures of the red team's tests: `estate` (tests/drift/kit.py), for the attacks on
`cmdbctl diff`."""

from __future__ import annotations

from tests.drift.kit import estate

__all__ = ["estate"]
