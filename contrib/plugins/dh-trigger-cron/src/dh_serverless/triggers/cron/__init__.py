"""dh-trigger-cron: Nuclio's ``cron`` trigger, and the example for plugin authors.

How the core finds this package: ``pyproject.toml`` registers :class:`CronTrigger` under
the ``dh_serverless.triggers`` entry-point group with the name ``cron``. When a
``function.yaml`` has a trigger of ``kind: cron``, the core loads that entry point (and
no other trigger), structures the trigger's ``attributes`` into
``CronTrigger.attributes_type`` and constructs ``CronTrigger(spec)``.

The package has one module per piece:

- :mod:`.config`: the ``attributes`` as an attrs class (what users may write);
- :mod:`.schedule`: when ticks fire (``interval`` or cron syntax);
- :mod:`.trigger`: the trigger class (``start``, ``stop``, and the ``dispatch`` of events).
"""

from __future__ import annotations

from dh_serverless.triggers.cron.config import CronAttributes, CronEvent
from dh_serverless.triggers.cron.trigger import CronTrigger
from dh_serverless.triggers.cron.version import __version__

__all__ = ("CronAttributes", "CronEvent", "CronTrigger", "__version__")
