"""dh-trigger-job: run the handler once with a configured event, then exit 0 or 1.

Registered under the ``dh_serverless.triggers`` entry-point group as ``job``.
"""

from __future__ import annotations

from dh_serverless.triggers.job.config import JobAttributes, JobEvent
from dh_serverless.triggers.job.trigger import JobTrigger
from dh_serverless.triggers.job.version import __version__

__all__ = ("JobAttributes", "JobEvent", "JobTrigger", "__version__")
