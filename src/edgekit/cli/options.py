"""Small helpers shared by CLI commands: option parsing and result tables."""

from __future__ import annotations

from typing import Any, Iterable, Sequence


def csv_list(value: str | None) -> tuple[str, ...]:
    """'a, b,c' -> ('a', 'b', 'c'); None or '' -> ()."""
    if not value:
        return ()
    return tuple(v.strip() for v in value.split(",") if v.strip())


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A rich table on stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*[fmt(v) for v in row])
    Console().print(table)


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
