"""Load a Nuclio handler (``module:function``) and run its ``init_context``."""

from __future__ import annotations

import importlib
import inspect
import re
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from dh_serverless.core.errors import HandlerLoadError

__all__ = ("LoadedHandler", "is_async_callable", "load_handler")

_SPEC = re.compile(r"^([\w-]+(?:\.[\w-]+)*):(\w+)$")


def is_async_callable(fn: Any) -> bool:
    """True for ``async def`` functions, partials of them and objects with an async ``__call__``."""
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - looking for an async __call__
    )


@attrs.frozen
class LoadedHandler:
    """The handler and the ``init_context`` of the module it was defined in."""

    spec: str
    folder: Path
    handler: Callable[..., Any]
    init_context: Callable[..., Any] | None

    @property
    def is_async(self) -> bool:
        """The handler is ``async def``: it runs on the event loop."""
        return is_async_callable(self.handler)


def load_handler(spec: str, folder: str | Path, *, debug: bool = False) -> LoadedHandler:
    """Import ``module:function`` with ``folder`` first on ``sys.path``.

    Raises :class:`HandlerLoadError` with a message naming what to change.
    """
    match = _SPEC.match(spec or "")
    if not match:
        raise HandlerLoadError(
            f"spec.handler {spec!r} is not 'module:function' (for example 'main:handler' "
            "for a function handler in main.py)"
        )
    module_name, function_name = match.groups()
    folder = Path(folder).resolve()
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only when the handler module (or a parent package) is what is missing: a
        # handler module ``numpy_handler`` that imports a missing ``numpy`` is not.
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            missing = module_name.replace(".", "/") + ".py"
            raise HandlerLoadError(
                f"cannot import handler module {module_name!r}: no {missing} "
                f"in {folder} (spec.handler is {spec!r})"
            ) from exc
        raise HandlerLoadError(_import_failure(module_name, exc, debug)) from exc
    except BaseException as exc:
        raise HandlerLoadError(_import_failure(module_name, exc, debug)) from exc
    handler = getattr(module, function_name, None)
    if not callable(handler):
        found = sorted(
            n for n, v in vars(module).items() if inspect.isfunction(v) and not n.startswith("_")
        )
        raise HandlerLoadError(
            f"module {module_name!r} has no function {function_name!r} "
            f"(functions found: {', '.join(found) or 'none'})"
        )
    # Nuclio looks init_context up in the module the handler was defined in.
    home = sys.modules.get(getattr(handler, "__module__", module_name), module)
    init = getattr(home, "init_context", None)
    return LoadedHandler(spec, folder, handler, init if callable(init) else None)


def _import_failure(module_name: str, exc: BaseException, debug: bool) -> str:
    text = f"importing handler module {module_name!r} raised {type(exc).__name__}: {exc}"
    if debug:
        text += "\n" + "".join(traceback.format_exception(exc))
    return text
