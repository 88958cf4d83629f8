"""The ``webhook`` sink: each result is sent to an HTTP endpoint, retried without holding
up the results behind it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import ClassVar

import aiohttp
from multidict import CIMultiDict

from dh_serverless.core.api import body_bytes
from dh_serverless.hookspecs import Event, Response, SinkSpec
from dh_serverless.sinks.webhook._metadata import metadata_headers
from dh_serverless.sinks.webhook._retry import RETRYABLE_STATUSES, next_delay, parse_retry_after
from dh_serverless.sinks.webhook.config import WebhookAttributes

__all__ = ("WebhookSink",)

_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class WebhookSink:
    """Sends each successful response's body, with its content type, to ``url``.

    ``maxConcurrency`` senders deliver results, each result with its own retries, so a
    result being retried never holds up the others. ``emit`` hands a result over and
    returns; it waits only while ``maxConcurrency`` results already wait for a sender, and
    then the core's bounded sink queue in front of it drops its oldest results (counted).
    Results may therefore arrive out of order when retries happen.

    Metrics (label ``trigger``): ``dh_webhook_deliveries_total{outcome}`` (``ok``,
    ``failed``: refused or out of retries, ``dropped``: cut short by shutdown),
    ``dh_webhook_attempts_total{result}`` (``2xx``..``5xx``, ``error``: transport error
    or timeout), ``dh_webhook_retries_total``, ``dh_webhook_in_flight`` and
    ``dh_webhook_request_seconds``.
    """

    attributes_type: ClassVar[type] = WebhookAttributes
    kind = "webhook"

    def __init__(self, spec: SinkSpec) -> None:
        self.spec = spec
        self.attributes: WebhookAttributes = spec.attributes
        self.log = spec.logger
        self._session: aiohttp.ClientSession | None = None
        #: results waiting for a sender; at most ``maxConcurrency`` (``emit`` waits beyond)
        self._pending: deque[tuple[bytes, CIMultiDict[str]]] = deque()
        self._has_work = asyncio.Event()
        self._has_room = asyncio.Event()
        self._has_room.set()
        self._busy = 0
        self._idle = asyncio.Event()  #: nothing waiting, nothing being delivered
        self._idle.set()
        self._senders: list[asyncio.Task[None]] = []
        self._closing = False
        self._failing = False
        trigger = spec.trigger
        m = spec.metrics
        deliveries = m.counter(
            "dh_webhook_deliveries",
            "Results a webhook sink delivered or gave up on",
            ("trigger", "outcome"),
        )
        self._ok = deliveries.labels(trigger, "ok")
        self._failed = deliveries.labels(trigger, "failed")
        self._dropped = deliveries.labels(trigger, "dropped")
        attempts = m.counter(
            "dh_webhook_attempts", "Webhook requests by answer class", ("trigger", "result")
        )
        self._attempts = {
            c: attempts.labels(trigger, c) for c in ("1xx", "2xx", "3xx", "4xx", "5xx", "error")
        }
        self._retries = m.counter(
            "dh_webhook_retries", "Webhook requests sent again", ("trigger",)
        ).labels(trigger)
        m.gauge("dh_webhook_in_flight", "Webhook deliveries under way", ("trigger",)).labels(
            trigger
        ).set_function(lambda: self._busy + len(self._pending))
        self._took = m.histogram(
            "dh_webhook_request_seconds",
            "Time of one webhook request",
            ("trigger",),
            buckets=_REQUEST_BUCKETS,
        ).labels(trigger)

    async def start(self) -> None:
        """Open the HTTP client; the endpoint is not contacted (a down peer never fails it)."""
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.attributes.timeout),
            auto_decompress=False,
        )
        loop = asyncio.get_running_loop()
        self._senders = [
            loop.create_task(self._send_loop()) for _ in range(self.attributes.max_concurrency)
        ]

    async def emit(self, response: Response, event: Event) -> None:
        """Hand one result to the senders; wait only while ``maxConcurrency`` results
        already wait for one."""
        if self._closing or self._session is None:
            self._dropped.inc()
            return
        headers = CIMultiDict({"Content-Type": response.content_type or "application/octet-stream"})
        if self.attributes.metadata_headers:
            headers.update(metadata_headers(event))
        headers.update(self.attributes.headers)  # replaces ignoring case: one Content-Type
        body = body_bytes(response.body)
        while len(self._pending) >= self.attributes.max_concurrency:
            self._has_room.clear()
            await self._has_room.wait()
        self._pending.append((body, headers))
        self._idle.clear()
        self._has_work.set()

    async def _send_loop(self) -> None:
        """One sender: delivers waiting results one after the other, retries included.

        Long-lived senders rather than a task per result: a sender that finishes takes the
        next result at once, without a trip through the event loop.
        """
        pending = self._pending
        while True:
            while not pending:
                self._has_work.clear()
                await self._has_work.wait()
            body, headers = pending.popleft()
            self._has_room.set()
            self._busy += 1
            try:
                await self._deliver(body, headers)
            except Exception as exc:  # noqa: BLE001 - one result must not stop the sender
                self._failed.inc()
                self.log.error("webhook delivery failed: %s: %s", type(exc).__name__, exc)
            finally:
                self._busy -= 1
                if not self._busy and not pending:
                    self._idle.set()

    async def _deliver(self, body: bytes, headers: CIMultiDict[str]) -> None:
        a = self.attributes
        for attempt in range(a.max_retries + 1):
            status, retry_after = await self._attempt(body, headers)
            if status is not None and 200 <= status < 300:
                self._ok.inc()
                if self._failing:
                    self._failing = False
                    self.log.info("webhook %s %s delivers again", a.method, a.url)
                return
            final = status is not None and status not in RETRYABLE_STATUSES
            if final or attempt == a.max_retries:
                self._failed.inc()
                # One warning per failing spell, not one per result: frames come by the dozen.
                level = logging.DEBUG if self._failing else logging.WARNING
                self._failing = True
                self.log.log(
                    level,
                    "webhook %s %s gave up after %d attempt(s): %s",
                    a.method,
                    a.url,
                    attempt + 1,
                    f"status {status}" if status is not None else "no answer",
                )
                return
            wait = next_delay(
                attempt, a.retry_delay, a.retry_backoff, a.max_retry_delay, retry_after
            )
            self._retries.inc()
            await asyncio.sleep(wait)

    async def _attempt(
        self, body: bytes, headers: CIMultiDict[str]
    ) -> tuple[int | None, float | None]:
        """One request: the answer's status and ``Retry-After`` seconds, or None on error."""
        assert self._session is not None
        a = self.attributes
        start = time.perf_counter()
        try:
            async with self._session.request(a.method, a.url, data=body, headers=headers) as r:
                await r.read()
                status = r.status
                retry_after = parse_retry_after(r.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self._attempts["error"].inc()
            self.log.debug("webhook %s %s: %s: %s", a.method, a.url, type(exc).__name__, exc)
            return None, None
        finally:
            self._took.observe(time.perf_counter() - start)
        self._attempts.get(f"{status // 100}xx", self._attempts["error"]).inc()
        return status, retry_after

    async def stop(self) -> None:
        """Let deliveries under way finish for up to ``flushTimeout`` seconds, drop the
        rest (counted), close the HTTP client."""
        self._closing = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), self.attributes.flush_timeout)
        late = len(self._pending) + self._busy
        for task in self._senders:
            task.cancel()
        await asyncio.gather(*self._senders, return_exceptions=True)
        self._pending.clear()
        if late:
            self._dropped.inc(late)
            self.log.warning(
                "webhook: %d result(s) still waiting or being delivered at shutdown were dropped",
                late,
            )
        if self._session is not None:
            with contextlib.suppress(Exception):
                await self._session.close()
            self._session = None
