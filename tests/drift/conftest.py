"""Fixtures of the `cmdbctl diff` tests: `estate` (see kit.py)."""

from __future__ import annotations

from tests.drift.kit import estate

__all__ = ["estate"]
