"""Finding plugins (stevedore, entry points) and calling their hooks (pluggy).

Only the trigger and sink kinds a function uses are imported. Hook plugins (group
``dh_serverless.plugins``) are all loaded unless ``DH_SERVERLESS_DISABLE_PLUGINS``
names them (comma-separated entry-point names, or ``*`` for all).

Starting a function finds its kinds with :func:`dh_serverless.core.entrypoints.find_group`
(only the group it needs, from the installed ``entry_points.txt`` files); when a kind is
missing or fails to import, stevedore and ``importlib.metadata`` are asked again, and they
word the error. Listing the plugins uses ``importlib.metadata``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from typing import Any

import attrs
import pluggy

from dh_serverless.core.entrypoints import find_group
from dh_serverless.core.errors import PluginLoadError
from dh_serverless.hookspecs import NAME, specs
from dh_serverless.hookspecs.protocols import FunctionInfo, Sink, Trigger
from dh_serverless.hookspecs.types import Event, Middleware, Response

__all__ = (
    "GROUPS",
    "HOOK_PLUGINS",
    "KNOWN_EXTRAS",
    "SINKS",
    "TRIGGERS",
    "PluginHost",
    "PluginInfo",
    "distribution_hint",
    "installed_plugins",
)

TRIGGERS = "dh_serverless.triggers"
SINKS = "dh_serverless.sinks"
HOOK_PLUGINS = "dh_serverless.plugins"
GROUPS = (TRIGGERS, SINKS, HOOK_PLUGINS)
_log = logging.getLogger("dh_serverless.plugins")


@attrs.frozen
class PluginInfo:
    """One installed plugin entry point, as ``dh-serverless plugins`` lists it."""

    kind: str
    group: str
    distribution: str
    version: str
    target: str


def installed_plugins() -> list[PluginInfo]:
    """Every plugin entry point installed, without importing any of them."""
    import importlib.metadata

    found = []
    for group in GROUPS:
        for ep in importlib.metadata.entry_points(group=group):
            dist = ep.dist
            found.append(
                PluginInfo(
                    kind=ep.name,
                    group=group,
                    distribution=dist.name if dist else "?",
                    version=dist.version if dist else "?",
                    target=ep.value,
                )
            )
    return sorted(found, key=lambda p: (GROUPS.index(p.group), p.kind))


def _distribution_of(group: str, name: str) -> str:
    """The distribution that declares entry point ``name`` in ``group`` (stevedore's cached
    entry points do not carry it)."""
    import importlib.metadata

    for ep in importlib.metadata.entry_points(group=group, name=name):
        if ep.dist is not None:
            return ep.dist.name
    return "an unknown distribution"


#: The extra of the meta distribution ``dh-serverless`` that installs each kind this project
#: ships (a test checks them against the root ``pyproject.toml``). A trigger and a sink may
#: share a kind (``rtsp``, ``websocket``, ``mjpeg``): the extras tell them apart.
KNOWN_EXTRAS: dict[str, dict[str, str]] = {
    TRIGGERS: {
        "http": "http",
        "job": "job",
        "extproc": "extproc",
        "openinference": "openinference",
        "mjpeg": "mjpeg",
        "rtsp": "rtsp-trigger",
        "websocket": "websocket-trigger",
    },
    SINKS: {
        "mjpeg": "mjpeg-sink",
        "rtsp": "rtsp",
        "websocket": "websocket",
        "webhook": "webhook",
        "webrtc": "webrtc",
    },
}


def distribution_hint(group: str, kind: str) -> str:
    """What to install for ``kind`` in ``group``: this project's distribution and extra, or
    for a kind it does not ship, where a third-party plugin registers it."""
    prefix = "dh-sink" if group == SINKS else "dh-trigger"
    extra = KNOWN_EXTRAS.get(group, {}).get(kind)
    if extra is not None:
        return f"{prefix}-{kind} (pip install 'dh-serverless[{extra}]')"
    return (
        f"a plugin that registers it in the {group!r} entry-point group (by convention "
        f"{prefix}-{kind}; dh-serverless ships none)"
    )


class PluginHost:
    """Typed façade over the pluggy manager; loads trigger, sink and hook plugins."""

    def __init__(self) -> None:
        self.manager = pluggy.PluginManager(NAME)
        self.manager.add_hookspecs(specs)
        self._provided: dict[tuple[str, str], type] = {}
        if os.environ.get("DH_SERVERLESS_TRACE_PLUGINS"):
            self.manager.trace.root.setwriter(sys.stderr.write)
            self.manager.enable_tracing()

    # -- loading ------------------------------------------------------------

    def load_hook_plugins(self) -> None:
        """Register every installed ``dh_serverless.plugins`` entry point not disabled."""
        disabled = {
            n.strip() for n in os.environ.get("DH_SERVERLESS_DISABLE_PLUGINS", "").split(",")
        }
        if "*" in disabled:
            return
        try:
            found = find_group(HOOK_PLUGINS)
            plugins = [(ep.name, ep.load()) for ep in found if ep.name not in disabled]
        except Exception:  # noqa: BLE001 - stevedore below loads each alone and names failures
            pass
        else:
            for name, plugin in plugins:
                self.register(plugin, name=name)
            return
        from stevedore import ExtensionManager

        manager = ExtensionManager(
            HOOK_PLUGINS,
            invoke_on_load=False,
            on_load_failure_callback=self._report_hook_failure,
        )
        for ext in manager:
            if ext.name not in disabled:
                self.register(ext.plugin, name=ext.name)

    def register(self, plugin: Any, name: str | None = None) -> None:
        """Register an object or module whose ``dh_*`` functions are hook implementations."""
        if self.manager.is_registered(plugin):
            return
        self.manager.register(plugin, name=name)
        self.manager.check_pending()

    @staticmethod
    def _report_hook_failure(manager: Any, entrypoint: Any, exc: BaseException) -> None:
        dist = _distribution_of(HOOK_PLUGINS, entrypoint.name)
        _log.error(
            "hook plugin %r (%s) failed to load and is skipped: %s", entrypoint.name, dist, exc
        )

    def provide(self, group: str, kind: str, cls: type) -> None:
        """Use ``cls`` for ``kind`` without an installed entry point (tests, embedding)."""
        self._provided[(group, kind)] = cls

    def load_kinds(self, group: str, kinds: Iterable[str]) -> dict[str, type]:
        """Import the classes of ``kinds`` from ``group``; raise :class:`PluginLoadError`.

        An unknown kind names the installed kinds and the distribution to install; a
        plugin that fails to import names its distribution. Plugins not asked for are
        never imported.
        """
        provided = {k: self._provided[(group, k)] for k in kinds if (group, k) in self._provided}
        wanted = sorted(set(kinds) - set(provided))
        if not wanted:
            return provided
        fast = self._load_kinds_fast(group, wanted)
        if fast is not None:
            modules = [sys.modules[cls.__module__] for cls in provided.values()]
            modules += [sys.modules[module] for module in fast[1]]
            for module in modules:
                self.register(module)
            return {**fast[0], **provided}
        import importlib.metadata

        from stevedore import NamedExtensionManager

        failures: list[str] = []

        def on_failure(manager: Any, entrypoint: Any, exc: BaseException) -> None:
            dist = _distribution_of(group, entrypoint.name)
            failures.append(
                f"{group.rsplit('.', 1)[1][:-1]} kind {entrypoint.name!r} from {dist} failed to "
                f"import: {type(exc).__name__}: {exc}"
            )

        manager = NamedExtensionManager(
            group,
            names=wanted,
            invoke_on_load=False,
            on_load_failure_callback=on_failure,
            on_missing_entrypoints_callback=lambda names: None,
        )
        loaded = {ext.name: ext.plugin for ext in manager}
        modules = [sys.modules[ext.entry_point.module] for ext in manager]
        modules += [sys.modules[cls.__module__] for cls in provided.values()]
        loaded.update(provided)
        missing = [
            k for k in wanted if k not in loaded and not any(f"{k!r}" in f for f in failures)
        ]
        installed = sorted({ep.name for ep in importlib.metadata.entry_points(group=group)})
        for kind in missing:
            noun = "sink" if group == SINKS else "trigger"
            failures.append(
                f"unknown {noun} kind {kind!r}; installed {noun} kinds: "
                f"{', '.join(installed) or 'none'}; "
                f"to add it install {distribution_hint(group, kind)}"
            )
        if failures:
            raise PluginLoadError("\n".join(failures))
        # Hook implementations live in the module the entry point names (the package).
        for module in modules:
            self.register(module)
        return loaded

    @staticmethod
    def _load_kinds_fast(group: str, wanted: list[str]) -> tuple[dict[str, type], list[str]] | None:
        """The classes of ``wanted`` and their entry points' modules, read from the
        ``entry_points.txt`` files alone; ``None`` when any kind is missing or fails to import
        (the stevedore path then words the error)."""
        entry_points: dict[str, Any] = {}
        for ep in find_group(group):
            entry_points.setdefault(ep.name, ep)
        if any(kind not in entry_points for kind in wanted):
            return None
        loaded: dict[str, type] = {}
        try:
            for kind in wanted:
                loaded[kind] = entry_points[kind].load()
        except Exception:  # noqa: BLE001 - the stevedore path reports it
            return None
        return loaded, [entry_points[kind].module for kind in wanted]

    # -- hooks ----------------------------------------------------------------

    def register_converters(self, converter: Any) -> None:
        """Let plugins add cattrs hooks for their attribute types."""
        self.manager.hook.dh_register_converters(converter=converter)

    def dispatch_middleware(self, function: FunctionInfo) -> list[Middleware]:
        """Middleware offered by plugins, outermost first."""
        offered = self.manager.hook.dh_dispatch_middleware(function=function)
        # pluggy calls the last registered first; the first registered is outermost.
        return [m for m in reversed(offered) if m is not None]

    def trigger_started(self, trigger: Trigger) -> None:
        """Notify observers that ``trigger`` serves; their errors are logged."""
        self._notify(self.manager.hook.dh_trigger_started, trigger=trigger)

    def trigger_stopped(self, trigger: Trigger) -> None:
        """Notify observers that ``trigger`` stopped; their errors are logged."""
        self._notify(self.manager.hook.dh_trigger_stopped, trigger=trigger)

    def _notify(self, hook: Any, **kwargs: Any) -> None:
        try:
            hook(**kwargs)
        except Exception as exc:  # noqa: BLE001 - observers must not stop the function
            _log.error("%s hook raised %s: %s", hook.name, type(exc).__name__, exc)

    @property
    def sink_emit_observed(self) -> bool:
        """Whether any plugin implements ``dh_sink_emit`` (else it is never called)."""
        return bool(self.manager.hook.dh_sink_emit.get_hookimpls())

    def sink_emit(self, sink: Sink, response: Response, event: Event) -> bool:
        """Ask observers about one item; False when any of them drops it."""
        results = self.manager.hook.dh_sink_emit(sink=sink, response=response, event=event)
        return all(r is not False for r in results)
