"""The ``dh-serverless`` command: run, validate, plugins, invoke."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from dh_serverless.core.compat import Runner
from dh_serverless.core.version import __version__

__all__ = ("main",)

_log = logging.getLogger("dh_serverless.cli")


COMMANDS = ("run", "validate", "plugins", "invoke")


def _parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command line; given ``argv``, only the command it names gets its options (each
    option costs argparse a formatter and translated strings: a few ms of a job's start)."""
    chosen = _command_of(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="dh-serverless",
        formatter_class=HelpFormatter,
        description="Run Nuclio-style Python functions behind pluggable triggers.",
    )
    parser.add_argument("--version", action="version", version=f"dh-serverless {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name, help=help_text, description=help_text, formatter_class=HelpFormatter
        )
        if chosen is not None and name != chosen:
            return _UNUSED  # type: ignore[return-value] # the options of a command not run
        sub.add_argument(
            "--log-level",
            default=os.environ.get("DH_SERVERLESS_LOG_LEVEL", "info"),
            choices=["debug", "info", "warning", "error"],
            help="log level (default: info)",
        )
        sub.add_argument(
            "--log-format",
            choices=["auto", "json", "text"],
            default="auto",
            help="JSON lines or text (default: text on a terminal, else JSON)",
        )
        sub.add_argument(
            "--debug",
            action="store_true",
            help="show tracebacks, in errors and in 500 bodies (as Nuclio does)",
        )
        return sub

    run = add("run", "serve a function until SIGTERM or SIGINT")
    run.add_argument(
        "file", help="the function.yaml, or a handler .py (its # @nuclio.configure block)"
    )
    run.add_argument("--handler", help="override spec.handler (module:function)")
    run.add_argument(
        "--health-host", default="0.0.0.0", help="health server address (default 0.0.0.0)"
    )
    run.add_argument(
        "--health-port",
        type=int,
        default=None,
        help="health server port for /live /ready /metrics (default 8082, or "
        "$DH_SERVERLESS_HEALTH_PORT; 0 picks a free one). A job starts none unless given",
    )
    run.add_argument("--no-health", action="store_true", help="do not start the health server")
    run.add_argument(
        "--processes",
        type=positive_count,
        default=None,
        metavar="N",
        help="serve from N processes (overrides spec.processes; one /metrics, one /ready)",
    )

    validate = add("validate", "check a function.yaml and its plugins without starting anything")
    validate.add_argument(
        "file", help="the function.yaml, or a handler .py (its # @nuclio.configure block)"
    )

    add("plugins", "list installed triggers, sinks and hook plugins")

    invoke = add("invoke", "call the handler once in-process and print the response")
    invoke.add_argument(
        "file", help="the function.yaml, or a handler .py (its # @nuclio.configure block)"
    )
    invoke.add_argument("--handler", help="override spec.handler (module:function)")
    invoke.add_argument("--body", default=None, help="the event body; @path reads a file")
    invoke.add_argument(
        "--header", "-H", action="append", default=[], metavar="K=V", help="a header (repeatable)"
    )
    invoke.add_argument(
        "--field", action="append", default=[], metavar="K=V", help="a field / query parameter"
    )
    invoke.add_argument("--content-type", default=None, help="the event content type")
    invoke.add_argument("--method", default=None, help="GET without a body, else POST")
    invoke.add_argument("--path", default="/", help="the event path (default /)")
    invoke.add_argument(
        "--trigger", default=None, help="which trigger's name and kind the context shows"
    )
    return parser


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, told the terminal's width as ``shutil.get_terminal_size``
    finds it, without importing ``shutil`` (and ``bz2``, ``lzma``): ~3 ms of a job's
    start, where argparse makes a formatter for each option it adds."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=terminal_columns() - 2)


def terminal_columns() -> int:
    """``$COLUMNS``, else the width of the terminal on standard output, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


class _Unused:
    """Takes the options of a command this run does not parse, and drops them."""

    def add_argument(self, *args: Any, **kwargs: Any) -> None:
        """Drop one option."""


_UNUSED = _Unused()


def _command_of(argv: Sequence[str]) -> str | None:
    """The command ``argv`` runs, when its first argument names one, else ``None``."""
    first = next(iter(argv), None)
    return first if first in COMMANDS else None


def positive_count(text: str) -> int:
    """``--processes``: a whole number from 1 to 1024."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= 1024:
        raise argparse.ArgumentTypeError(f"must be between 1 and 1024, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dh-serverless`` command; returns the exit code."""
    args = _parser(argv).parse_args(argv)
    from dh_serverless.core.logs import setup_logging

    json_lines = None if args.log_format == "auto" else args.log_format == "json"
    setup_logging(
        "debug" if args.debug and args.log_level == "info" else args.log_level,
        json_lines=json_lines,
    )
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "run": _run,
        "validate": _validate,
        "plugins": _plugins,
        "invoke": _invoke,
    }
    from dh_serverless.core.errors import UserError

    try:
        return commands[args.command](args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


def _run_async(coro: Coroutine[Any, Any, int], serving: bool = True) -> int:
    """Run ``coro`` to its end: on uvloop when ``serving``, else (a job, which serves
    nothing) on asyncio's own loop, sparing uvloop's import (~5 ms of a job's start)."""
    factory = None
    if serving:
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
            pass
        else:
            factory = uvloop.new_event_loop
    with Runner(loop_factory=factory) as runner:
        return runner.run(coro)


def health_port(given: int | None) -> int:
    """The health server's port: ``--health-port``, else the environment, else 8082."""
    if given is not None:
        return given
    return int(os.environ.get("DH_SERVERLESS_HEALTH_PORT", 8082))


def health_port_given(given: int | None) -> bool:
    """Whether the user asked for a health port (flag or environment), which a job honours."""
    return given is not None or "DH_SERVERLESS_HEALTH_PORT" in os.environ


def _run(args: argparse.Namespace) -> int:
    from dh_serverless.core.config import load_function_config
    from dh_serverless.core.runtime import Runtime

    config = load_function_config(args.file)
    runtime = Runtime(
        config,
        args.file,
        handler=args.handler,
        debug=args.debug,
        health_host=args.health_host,
        health_port=None if args.no_health else health_port(args.health_port),
        one_shot_health=health_port_given(args.health_port),
        processes=args.processes,
    )
    serving = not runtime.one_shot  # may raise a UserError: before any coroutine exists
    return _run_async(runtime.run(), serving=serving)


def _validate(args: argparse.Namespace) -> int:
    from dh_serverless.core.config import load_function_config
    from dh_serverless.core.plugins import PluginHost
    from dh_serverless.core.prepare import prepare_triggers, serving_process_count

    config = load_function_config(args.file)
    prepared = prepare_triggers(config, args.file, PluginHost())
    processes = serving_process_count(config, prepared, args.file)
    triggers = ", ".join(
        f"{p.name} ({p.config.kind}{', sink ' + p.sink_kind if p.sink_kind else ''})"
        for p in prepared
    )
    function = f"function {config.metadata.name}, handler {config.spec.handler}"
    if processes > 1:
        function += f", {processes} processes"
    print(f"{args.file}: valid; {function}, triggers: {triggers}")
    return 0


def _plugins(args: argparse.Namespace) -> int:
    from dh_serverless.core.plugins import installed_plugins

    rows = [("KIND", "GROUP", "DISTRIBUTION", "VERSION")]
    rows += [(p.kind, p.group, p.distribution, p.version) for p in installed_plugins()]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def _pairs(items: list[str], what: str) -> dict[str, str]:
    from dh_serverless.core.errors import UserError

    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--{what} {item!r}: expected K=V")
        pairs[key.strip()] = value.strip()
    return pairs


def _invoke(args: argparse.Namespace) -> int:
    from dh_serverless.core.config import load_function_config
    from dh_serverless.core.events import new_event
    from dh_serverless.core.function import load_handler
    from dh_serverless.core.prepare import apply_env
    from dh_serverless.core.workers import AsyncWorker, ThreadWorker, WorkerOptions
    from dh_serverless.hookspecs.types import TriggerInfo

    config = load_function_config(args.file)
    apply_env(config)
    triggers = config.spec.triggers
    name = args.trigger or next(
        (n for n, t in triggers.items() if t.kind == "http"), next(iter(triggers), "invoke")
    )
    trigger = TriggerInfo(triggers[name].kind if name in triggers else "invoke", name)
    raw = b""
    if args.body is not None:
        raw = Path(args.body[1:]).read_bytes() if args.body.startswith("@") else args.body.encode()
    headers = _pairs(args.header, "header")
    content_type = args.content_type or next(
        (v for k, v in headers.items() if k.lower() == "content-type"), ""
    )
    event = new_event(
        raw,
        trigger=trigger,
        content_type=content_type,
        headers=headers,
        fields=_pairs(args.field, "field"),
        method=args.method or ("POST" if raw else "GET"),
        path=args.path,
    )
    loaded = load_handler(
        args.handler or config.spec.handler, Path(args.file).resolve().parent, debug=args.debug
    )
    options = WorkerOptions(trigger, config.metadata.namespace, args.debug)
    worker = (AsyncWorker if loaded.is_async else ThreadWorker)(loaded, 0, options)

    async def call() -> int:
        await worker.start()
        try:
            response = await worker.handle(event, config.spec.event_timeout)
        finally:
            await worker.terminate()
            await worker.stop()
        print(f"{response.status_code} {response.content_type}")
        for key, value in response.headers.items():
            print(f"{key}: {value}")
        print()
        sys.stdout.flush()
        sys.stdout.buffer.write(response.body)
        if response.body and not response.body.endswith(b"\n"):
            sys.stdout.buffer.write(b"\n")
        sys.stdout.flush()
        return 0 if response.status_code < 400 else 1

    return _run_async(call())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
