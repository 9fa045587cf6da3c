#!/usr/bin/env python3
"""Write docs/cli.md, the reference of every vtool command and option, from the typer app
itself (tests/cli/test_cli_docs.py fails when the file is not current).

Usage: scripts/cli_docs.py [OUTPUT=docs/cli.md]
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from vtool.cli.main import app

HEADER = ("# vtool command reference\n\nGenerated from the command-line app by `scripts/cli_docs.py`; "
          "do not edit by hand.\nExit codes: 0 ok; 1 runtime failure; 2 usage error or bad input; 3 eval gate "
          "not met.\n")


def _option(p, ctx) -> str:
    """One line for a parameter: its names and help as `--help` shows them."""
    record = p.get_help_record(ctx)
    if p.param_type_name == "argument" or record is None:
        return f"- {p.name.upper()}{'' if p.required else ' (optional)'}: {getattr(p, 'help', '') or ''}".rstrip()
    return f"- `{record[0]}`: {' '.join(record[1].split())}".rstrip()


def render() -> str:
    root = typer.main.get_command(app)
    parts = [HEADER]
    with root.context_class(root, info_name="vtool") as ctx:
        for name in root.list_commands(ctx):
            cmd = root.get_command(ctx, name)
            with cmd.context_class(cmd, info_name=name, parent=ctx) as sub:
                usage = cmd.get_usage(sub).replace("Usage: ", "")
                params = [p for p in cmd.get_params(sub) if p.name != "help"]
                parts.append(f"\n## `vtool {name}`\n\n    {usage}\n\n{cmd.help.strip()}\n")
                parts.append("\n" + "\n".join(_option(p, sub) for p in params) + "\n")
    return "".join(parts)


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "docs" / "cli.md")
    out.write_text(render())
    print(f"wrote {out}")
