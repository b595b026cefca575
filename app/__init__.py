"""Lantern: an offline-first desktop AI tutor."""

from __future__ import annotations

__version__ = "0.1.0"
