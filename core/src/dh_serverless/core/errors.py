"""Errors a user can cause, each with the message that tells them what to change.

The command line prints ``str(error)`` without a traceback (unless ``--debug``) and
exits with ``exit_code``.
"""

from __future__ import annotations

__all__ = ("ConfigError", "HandlerLoadError", "ListenError", "PluginLoadError", "UserError")


class UserError(Exception):
    """An error whose message is meant for the person running dh-serverless."""

    exit_code = 1


class ConfigError(UserError):
    """``function.yaml`` is invalid; ``problems`` lists one line per problem."""

    exit_code = 2

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: invalid configuration\n{lines}")


class PluginLoadError(UserError):
    """A trigger or sink kind is unknown or its plugin failed to import."""

    exit_code = 2


class HandlerLoadError(UserError):
    """The handler could not be imported, or ``init_context`` raised."""

    exit_code = 1


class ListenError(UserError, OSError):
    """A listener cannot bind its address (port in use, not permitted, no such address).

    Also an :class:`OSError` (``errno`` is the one the bind failed with), as a failed bind
    has always been; its message names the listener, the address and what to change.
    """

    exit_code = 1
