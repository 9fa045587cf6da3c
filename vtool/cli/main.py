"""`vtool` entry point: registers the subcommands and turns errors into one line + exit code.

Exit codes: 0 ok; 1 runtime failure (I/O error, disk full, killed); 2 usage error or bad
input (nothing written); 3 eval --fail-below gate not met.
"""

from __future__ import annotations

import sys

import typer

from vtool import __version__
from vtool.cli import add, compress, convert, encode, evaluate, gt, info, interop, merge, search, train, tune
from vtool.errors import EXIT_RUNTIME, EXIT_USAGE, VtoolError
from vtool.io.atomic import terminate_as_exception
from vtool.io.inputs import release, shown

app = typer.Typer(add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None, help="Build approximate-nearest-neighbour indexes offline, from plain files.")


def _print_version(value: bool) -> None:
    if value:
        print(f"vtool {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                       callback=_print_version)):
    """Build approximate-nearest-neighbour indexes offline, from plain files."""


for module in (train, add, encode, compress, merge, search, gt, evaluate, tune, interop, convert, info):
    module.register(app)


def main(argv: list[str] | None = None) -> int:
    terminate_as_exception()
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="vtool", standalone_mode=False)
    except VtoolError as e:
        print(f"vtool: error: {shown(e.message)}", file=sys.stderr)
        code = e.exit_code
    except OSError as e:
        print(shown(f"vtool: error: {e.strerror or e}: {e.filename or ''}".rstrip(": ")), file=sys.stderr)
        code = EXIT_RUNTIME
    except Exception as e:
        # click's exceptions (typer may vendor click, so matched by shape, not by class)
        if hasattr(e, "format_message") and hasattr(e, "exit_code"):
            print(f"vtool: error: {e.format_message()}", file=sys.stderr)
            code = e.exit_code or EXIT_USAGE
        elif type(e).__name__ == "Abort":
            print("vtool: error: interrupted", file=sys.stderr)
            code = EXIT_RUNTIME
        else:
            raise
    finally:
        release()
    code = code if isinstance(code, int) else 0
    sys.exit(code)
