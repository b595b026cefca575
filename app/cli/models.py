"""`lantern models list|pull|import|verify|rm|install-starter`: the installed-model commands."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {}


def register(sub: Any, *, models_sub: Any) -> None:
    return None
