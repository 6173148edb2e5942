"""A small helper for queries whose filters depend on the request: it numbers the
placeholders (`$1`, `$2`, ...) as values are added. Pure; used by `store_db` and
`audit_db`."""

from __future__ import annotations

from typing import Any


class Params:
    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        """Add a value; the placeholder that stands for it."""
        self.values.append(value)
        return f"${len(self.values)}"
