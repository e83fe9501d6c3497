"""Tables for people: every command prints the API's JSON with `--json`, and these otherwise."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from rich import box
from rich.console import Console
from rich.table import Table

console = Console()

Format = Callable[[Any], str]
Column = tuple[str, str, Format]


def json_out(value: Any) -> None:
    # Plain stdout (not rich) so that pipes get exactly the API's JSON.
    print(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def text(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, list):
        return ", ".join(str(x) for x in v) or "—"
    return str(v)


def ident(v: Any) -> str:
    """An id: printed whole on one line, since people copy it into the next command."""
    return text(v)


def ms(v: Any) -> str:
    if v is None:
        return "—"
    return f"{v / 1000:,.2f} s" if v >= 10_000 else f"{v:,.1f} ms"


def cost(v: Any) -> str:
    return "—" if v is None else f"${v:,.6f}"


def count(v: Any) -> str:
    return "—" if v is None else f"{v:,}"


def pct(v: Any) -> str:
    return "—" if v is None else f"{v * 100:.1f}%"


def number(v: Any) -> str:
    if v is None:
        return "—"
    return f"{v:,}" if isinstance(v, int) else f"{v:,.4g}"


def when(us: Any) -> str:
    if us is None:
        return "—"
    return datetime.fromtimestamp(us / 1_000_000, UTC).strftime("%Y-%m-%d %H:%M:%S")


_STATUS_STYLE = {"failed": "red", "error": "red", "running": "yellow", "completed": "green", "ok": "green"}


def status(v: Any) -> str:
    style = _STATUS_STYLE.get(str(v))
    return f"[{style}]{v}[/]" if style else text(v)


def table(title: str | None, rows: Sequence[dict[str, Any]], columns: Sequence[Column]) -> Table:
    t = Table(
        title=title,
        box=box.SIMPLE_HEAVY,
        title_justify="left",
        title_style="bold",
        pad_edge=False,
        collapse_padding=True,
    )
    for header, _, fmt in columns:
        numeric = fmt in (ms, cost, count, pct, number)
        # Short values stay whole (a narrow terminal crops them with an ellipsis rather than
        # breaking `completed` over three lines); free text folds.
        whole = fmt is not text
        t.add_column(header, justify="right" if numeric else "left", overflow="fold", no_wrap=whole)
    for row in rows:
        t.add_row(*(fmt(row.get(key)) for _, key, fmt in columns))
    return t


def pairs(title: str | None, items: Sequence[tuple[str, str]]) -> Table:
    t = Table(title=title, box=box.SIMPLE, show_header=False, title_justify="left", title_style="bold")
    t.add_column(style="bold")
    t.add_column()
    for name, value in items:
        t.add_row(name, value)
    return t


def show(*renderables: Any) -> None:
    for r in renderables:
        console.print(r)


def footer(pagination: dict[str, Any], shown: int) -> None:
    first = pagination["offset"] + 1 if shown else 0
    console.print(
        f"[dim]{first}-{pagination['offset'] + shown} of {pagination['total']:,}[/]", highlight=False
    )
