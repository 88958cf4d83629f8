"""The DH SDK (``digitalhub``, ``digitalhub-runtime-python``), imported on first use.

Importing the SDK takes 1-1.6 s and ~224 MiB; it happens in ``init_context``, which the
runtime runs off the event loop, so ``/live`` keeps answering meanwhile. Nothing here is
imported when ``run_handler`` is.

API differences between the supported releases (0.15.x and 0.16.x) are absorbed here.
"""

from __future__ import annotations

import importlib
import inspect
import threading
from types import SimpleNamespace
from typing import Any

__all__ = ("SdkMissingError", "load_sdk", "save_run", "warm_up")

_lock = threading.Lock()
_sdk: SimpleNamespace | None = None

#: name -> (module, attribute): every SDK function the bridge calls.
_NAMES = {
    "get_context": ("digitalhub.context.api", "get_context"),
    "get_project": ("digitalhub.entities.project.crud", "get_project"),
    "get_run": ("digitalhub.entities.run.crud", "get_run"),
    "RuntimeEnvVar": ("digitalhub.runtimes.enums", "RuntimeEnvVar"),
    "import_function_and_init_from_source": (
        "digitalhub_runtime_python.utils.configuration",
        "import_function_and_init_from_source",
    ),
    "compose_init": ("digitalhub_runtime_python.utils.inputs", "compose_init"),
    "compose_inputs": ("digitalhub_runtime_python.utils.inputs", "compose_inputs"),
    "build_new_status": ("digitalhub_runtime_python.utils.outputs", "build_new_status"),
    "parse_outputs": ("digitalhub_runtime_python.utils.outputs", "parse_outputs"),
}


class SdkMissingError(RuntimeError):
    """The DH SDK is not installed, or lacks a function the bridge needs."""


def load_sdk() -> SimpleNamespace:
    """The SDK functions the bridge uses, as attributes; imported once, thread-safely."""
    global _sdk
    with _lock:
        if _sdk is None:
            found: dict[str, Any] = {}
            for name, (module_name, attribute) in _NAMES.items():
                try:
                    module = importlib.import_module(module_name)
                except ImportError as exc:
                    raise SdkMissingError(
                        f"the DH SDK is not installed ({exc}); install it with "
                        "pip install 'dh-serverless[dhcore]' (digitalhub and "
                        "digitalhub-runtime-python 0.15.x or 0.16.x)"
                    ) from exc
                try:
                    found[name] = getattr(module, attribute)
                except AttributeError as exc:
                    raise SdkMissingError(
                        f"this DH SDK has no {module_name}.{attribute}; "
                        "dh-serverless-dhcore supports digitalhub 0.15.x and 0.16.x"
                    ) from exc
            _sdk = SimpleNamespace(**found)
        return _sdk


def save_run(run: Any) -> None:
    """Write the run's status to DH Core (a PUT of the run).

    0.15.x spells it ``run.save(update=True)``; the 0.16 betas removed the argument and
    spell it ``run.update()``.
    """
    save = getattr(run, "save", None)
    if save is not None and "update" in inspect.signature(save).parameters:
        save(update=True)
    else:
        run.update()


def warm_up() -> None:
    """Fill the SDK's lazily built entity and runtime registries now, on one thread.

    Their first use is not thread-safe: two workers initialising at once (DH Core's serve
    runs two) fail with ``BuilderError: Failed to register core entities``. Nuclio ran
    each worker in its own process; dh-serverless runs them as threads. Both 0.15.x and
    0.16.x build them in ``digitalhub.factory.registry.registry``.
    """
    registry = importlib.import_module("digitalhub.factory.registry").registry
    for name in ("_ensure_entities_registered", "_ensure_runtimes_registered"):
        ensure = getattr(registry, name, None)
        if callable(ensure):
            ensure()
