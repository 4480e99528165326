"""The `learnsync` command group: one line per error with a documented exit code, `--debug` for
the traceback, and a quiet Prefect (its own console logs only with `--debug`)."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

from learnsync import output
from learnsync.errors import EXIT_CODES, INTERNAL, INTERRUPTED, describe

DEBUG_FLAG = "--debug"


def exit_codes_help() -> str:
    """The exit code table, kept as lines in click's help (the \b marker)."""
    order = [c for c in sorted(EXIT_CODES) if c != INTERNAL] + [INTERNAL]
    return "\b\nExit codes:\n" + "\n".join(f"  {code}  {EXIT_CODES[code]}" for code in order)


def quiet_prefect(debug: bool) -> None:
    """Before Prefect is imported: no telemetry, a patient temporary server, and (unless
    --debug) none of Prefect's own console logs: the CLI prints progress, retries and one
    line per error itself."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    if not debug:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
        os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "ERROR")
        os.environ.setdefault("PREFECT_LOGGING_INTERNAL_LEVEL", "ERROR")


def _take_debug(args: list[str]) -> tuple[list[str], bool]:
    """`--debug` is accepted anywhere before `--` (learnsync --debug sync ... or sync ... --debug)."""
    cut = args.index("--") if "--" in args else len(args)
    debug = DEBUG_FLAG in args[:cut]
    kept = [a for a in args[:cut] if a != DEBUG_FLAG] + args[cut:]
    return kept, debug or os.environ.get("LEARNSYNC_DEBUG", "").lower() in ("1", "true", "yes")


class LearnsyncGroup(TyperGroup):
    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv, debug = _take_debug(list(sys.argv[1:] if args is None else args))
        output.set_debug(debug)
        quiet_prefect(debug)
        if not standalone_mode:
            return super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(argv, prog_name or "learnsync", complete_var, standalone_mode=False, **extra)
        except typer.Exit as exc:
            sys.exit(exc.exit_code)
        except typer.Abort:
            output.error_line("interrupted")
            sys.exit(INTERRUPTED)
        except typer.TyperException as exc:  # click's usage errors (typer's own copy of click)
            ctx = getattr(exc, "ctx", None)
            if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
                typer.echo(ctx.get_help())
                sys.exit(0)
            where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            output.error_line(exc.format_message() + where)
            sys.exit(exc.exit_code)
        except BaseException as exc:  # noqa: BLE001 - every error ends here, as one line
            if isinstance(exc, SystemExit):
                raise
            problem = describe(exc)
            if debug:
                traceback.print_exception(exc, file=sys.stderr)
            output.error_line(problem.message)
            sys.exit(problem.exit_code)
        sys.exit(rv if isinstance(rv, int) else 0)


def make_app(help_text: str) -> typer.Typer:
    app = typer.Typer(
        cls=LearnsyncGroup,
        help=help_text + "\n\n" + exit_codes_help(),
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"max_content_width": 100},
    )

    @app.callback()
    def _root(
        debug: bool = typer.Option(False, "--debug", help="show full tracebacks and Prefect's own logs (also LEARNSYNC_DEBUG=1)"),
    ) -> None:
        """Global options."""

    return app
