"""cmtlite: offline background music for any video, after CMT (Di et al., ACM MM 2021)."""

from __future__ import annotations

__version__ = "0.1.0"
