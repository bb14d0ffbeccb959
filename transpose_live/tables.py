"""Printing rich tables without ever cutting a figure: the name column folds, every other column
keeps its widest line; when the output is not a terminal the table is printed at its full width."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text


NAME_MIN_WIDTH = 12


def _plain(cell) -> str:
    return cell.plain if isinstance(cell, Text) else Text.from_markup(str(cell)).plain


def keep_figures(table: Table, text_columns: tuple[int, ...] = (0,)) -> Table:
    """The `text_columns` (names) fold when space is short; the others never shrink below their widest
    line (header included), so numbers are never truncated or wrapped."""
    for i, column in enumerate(table.columns):
        lines = [line for cell in column.cells for line in _plain(cell).splitlines()]
        lines += _plain(column.header).splitlines()
        if i in text_columns:
            column.overflow, column.no_wrap = "fold", False
            column.min_width = min(max((len(line) for line in lines), default=1), NAME_MIN_WIDTH)
            continue
        column.min_width = max((len(line) for line in lines), default=1)
        column.no_wrap = True
    return table


def print_table(console: Console, table: Table, text_columns: tuple[int, ...] = (0,)) -> None:
    """`console.print` of `table` with its figures kept whole (full width when not a terminal)."""
    keep_figures(table, text_columns)
    if console.is_terminal:
        console.print(table)
    else:
        # Console.print never exceeds the console's width (80 in a pipe): a wide console on the same file
        # prints the table at its natural width (tables do not expand)
        Console(file=console.file, width=100_000, color_system=None, highlight=False).print(table)
