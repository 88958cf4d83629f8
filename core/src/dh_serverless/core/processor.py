"""``dh-serverless-processor``: the Nuclio processor's command line, for images DH Core launches.

DH Core (and Nuclio's own images) start ``/opt/nuclio/processor --config PATH
[--platform-config PATH]``. This command takes those flags and runs the function as
``dh-serverless run`` does, reading the file as Nuclio's processor reads its
``processor.yaml`` (see :func:`dh_serverless.core.config.with_default_http_trigger`).

Exit codes: 0 when the function stopped cleanly or its job succeeded; 1 when the job
failed, the handler could not be loaded or ``init_context`` raised; 2 for a missing or
invalid configuration. On SIGTERM or SIGINT in-flight events drain for up to
``spec.gracefulShutdownTimeout``; a job interrupted before it succeeded exits 1.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from dh_serverless.core.cli import HelpFormatter, positive_count
from dh_serverless.core.errors import UserError
from dh_serverless.core.runtime import Runtime
from dh_serverless.core.version import __version__

__all__ = (
    "DEFAULT_CONFIG",
    "DEFAULT_PLATFORM_CONFIG",
    "MissingConfigError",
    "ProcessorRuntime",
    "main",
)

#: Where Nuclio's processor looks for the function when ``--config`` is not given.
DEFAULT_CONFIG = "/etc/nuclio/config/processor/processor.yaml"
#: Nuclio's platform configuration (logger sinks, metrics, ...): read, not used.
DEFAULT_PLATFORM_CONFIG = "/etc/nuclio/config/platform/platform.yaml"

_log = logging.getLogger("dh_serverless.processor")


class MissingConfigError(UserError):
    """``--config`` names no file (exit code 2, as for an invalid configuration)."""

    exit_code = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dh-serverless-processor",
        formatter_class=HelpFormatter,
        description="Run a function the way Nuclio's processor is started "
        "(/opt/nuclio/processor --config PATH).",
    )
    parser.add_argument("--version", action="version", version=f"dh-serverless {__version__}")
    parser.add_argument(
        "--config",
        default=DEFAULT_CONFIG,
        help=f"the function.yaml (processor.yaml) to run (default {DEFAULT_CONFIG})",
    )
    parser.add_argument(
        "--platform-config",
        default=None,
        help="Nuclio's platform configuration; read and not used "
        f"(default {DEFAULT_PLATFORM_CONFIG} when it exists)",
    )
    parser.add_argument(
        "--list-runtimes", action="store_true", help="print the supported runtimes and exit"
    )
    parser.add_argument(
        "--health-host", default="0.0.0.0", help="health server address (default 0.0.0.0)"
    )
    parser.add_argument(
        "--health-port",
        type=int,
        default=None,
        help="health server port for /live /ready /metrics (default 8082, as Nuclio's; "
        "a job starts none unless given)",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("DH_SERVERLESS_LOG_LEVEL", "info"),
        choices=["debug", "info", "warning", "error"],
        help="log level (default: info)",
    )
    parser.add_argument("--debug", action="store_true", help="tracebacks in errors and 500 bodies")
    parser.add_argument(
        "--processes",
        type=positive_count,
        default=None,
        metavar="N",
        help="serve from N processes (overrides spec.processes)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``dh-serverless-processor``; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.list_runtimes:
        print("python")
        return 0
    from dh_serverless.core.logs import setup_logging

    setup_logging("debug" if args.debug and args.log_level == "info" else args.log_level)
    try:
        return _run(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:  # pragma: no cover - SIGINT is handled by the runtime
        return 130


def _run(args: argparse.Namespace) -> int:
    from dh_serverless.core.cli import _run_async, health_port, health_port_given
    from dh_serverless.core.config import load_function_config

    config_path = Path(args.config)
    if not config_path.is_file():
        given = "--config" if args.config != DEFAULT_CONFIG else "the default of --config"
        raise MissingConfigError(
            f"no function configuration at {config_path} ({given}): mount the function's "
            "function.yaml there or pass --config PATH. DH Core writes /shared/function.yaml "
            "and runs '/opt/nuclio/processor --config /shared/function.yaml'; PROJECT_NAME "
            "and RUN_ID alone do not make a function"
        )
    _read_platform_config(args.platform_config)
    config = load_function_config(config_path, processor=True)
    runtime = ProcessorRuntime(
        config,
        config_path,
        debug=args.debug,
        health_host=args.health_host,
        health_port=health_port(args.health_port),
        one_shot_health=health_port_given(args.health_port),
        processes=args.processes,
    )
    serving = not runtime.one_shot  # may raise a UserError: before any coroutine exists
    return _run_async(runtime.run(), serving=serving)


def _read_platform_config(path: str | None) -> None:
    from dh_serverless.core.errors import ConfigError

    if path is None:
        if not Path(DEFAULT_PLATFORM_CONFIG).is_file():
            return
        path = DEFAULT_PLATFORM_CONFIG
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            path, [f"--platform-config: cannot read the file: {exc.strerror}"]
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(path, [f"--platform-config: not valid YAML: {exc}"]) from exc
    keys = ", ".join(sorted(str(k) for k in data)) if isinstance(data, dict) else "nothing"
    _log.info("platform configuration %s read and not used (%s)", path, keys)


class ProcessorRuntime(Runtime):
    """The runtime, keeping a job's outcome when a signal interrupts it.

    The runtime answers SIGTERM/SIGINT with exit code 0 once drained. A job whose event
    finishes during the drain keeps its own code; one that never finishes exits 1, so a
    Kubernetes Job never counts an interrupted run as a success.
    """

    _interrupted = False
    _exit_requested = False
    _late_code: int | None = None

    def _on_signal(self, sig: signal.Signals) -> None:
        if not self._exit_requested:
            self._interrupted = True
        super()._on_signal(sig)

    def request_exit(self, code: int = 0) -> None:
        """As the runtime's; a code requested after an interrupting signal is kept."""
        if self._interrupted and self._exit_requested:
            self._late_code = code
        self._exit_requested = True
        super().request_exit(code)

    async def run(self) -> int:
        """As the runtime's; an interrupted job exits with its late code, or 1."""
        code = await super().run()
        if self._interrupted and any(
            t.kind == "job" and not t.disabled for t in self.config.spec.triggers.values()
        ):
            return self._late_code if self._late_code is not None else 1
        return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
