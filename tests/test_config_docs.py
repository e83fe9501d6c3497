"""Every setting is documented in docs/configuration.md, and is a `tracehound serve` option with
the same default."""

from __future__ import annotations

import inspect
from dataclasses import fields
from pathlib import Path

from tracehound.cli.serving import serve
from tracehound.config import AnalyticsSettings, Settings

DOC = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()


def test_every_setting_is_a_documented_option() -> None:
    options = inspect.signature(serve).parameters
    # The analytics bounds are a group of their own; each is a flag like the rest.
    settings = [f for f in fields(Settings) if f.name != "analytics"] + list(fields(AnalyticsSettings))
    for f in settings:
        name = f.name.removesuffix("_s")
        flag, env = "--" + name.replace("_", "-"), "TRACEHOUND_" + name.upper()
        assert f"| `{flag}` | `{env}` |" in DOC, f.name
        assert name in options, f.name
        assert options[name].default.default == f.default, f"{f.name}: flag and setting defaults differ"
