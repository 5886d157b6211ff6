"""cmdbctl: a CMDB kept as code, validated and gated in CI."""

from __future__ import annotations

__version__ = "0.1.0"
