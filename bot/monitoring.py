"""What operators scrape: `GET /metrics` (Prometheus) and `GET /healthz` on METRICS_PORT.

`/metrics` serves the bot's `BotMetrics` registry, its gauges of state (feeds due, the
outbox backlog, shards, loops) set just before each scrape. `/healthz` answers 200 with a
JSON report when every shard of this process is connected to the gateway, the database
answers and every background loop is alive; otherwise 503 with the same report, naming the
failing checks. Both listen on METRICS_HOST (127.0.0.1 by default: put them behind what
scrapes them rather than on a public address).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from bot.background import describe_exception
from bot.storage.feeds import FeedRepository
from bot.storage.outbox import OutboxRepository

if TYPE_CHECKING:
    from bot.bot import ShortScienceBot

log = logging.getLogger(__name__)

# How long /healthz waits for the database to answer before calling it unreachable.
DATABASE_CHECK_SECONDS: Final = 2.0


class MetricsPortUnavailableError(RuntimeError):
    """METRICS_HOST:METRICS_PORT cannot be listened on (in use, or not an address here)."""


@dataclass(slots=True)
class Check:
    ok: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HealthReport:
    checks: dict[str, Check]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks.values())

    @property
    def failing(self) -> list[str]:
        return [name for name, check in self.checks.items() if not check.ok]

    def payload(self, bot: ShortScienceBot) -> dict[str, Any]:
        identity = bot.presence.identity
        return {
            "status": "ok" if self.ok else "failing",
            "failing": self.failing,
            "process": {
                "id": identity.process_id,
                "host": identity.host,
                "pid": identity.pid,
                "version": identity.version,
                "shard_count": bot.shard_count,
                "shard_ids": bot.planned_shard_ids,
            },
            "checks": {name: asdict(check) for name, check in self.checks.items()},
        }


class MonitoringServer:
    """Serves /metrics and /healthz for `bot` on `host:port` (port 0: any free port)."""

    def __init__(
        self,
        bot: ShortScienceBot,
        *,
        host: str,
        port: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bot = bot
        self.host = host
        self.port = port
        self._clock = clock
        self._runner: web.AppRunner | None = None
        self._feeds = FeedRepository(bot.db)
        self._outbox = OutboxRepository(bot.db)
        self._serve_metrics = make_aiohttp_handler(bot.metrics.registry)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/healthz", self.healthz)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise MetricsPortUnavailableError(
                f"cannot serve metrics on {self.host}:{self.port} ({exc.strerror or exc}); "
                "choose another METRICS_PORT or METRICS_HOST, or 0 to turn them off"
            ) from None
        self._runner = runner
        # The port actually bound (port 0 asks for any free one).
        self.port = int(runner.addresses[0][1])
        log.info("Serving /metrics and /healthz on http://%s:%d", self.host, self.port)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- /metrics ---------------------------------------------------------------------

    async def metrics(self, request: web.Request) -> web.StreamResponse:
        await self.refresh()
        return await self._serve_metrics(request)

    async def refresh(self) -> None:
        """Set the gauges of state to what they are now."""
        metrics = self.bot.metrics
        metrics.feeds_leased.set(metrics.leased_feeds())
        metrics.live_processes.set(self.bot.presence.live_processes)
        metrics.rest_budget.set(self.bot.rest_budget.rate)
        metrics.shard_latency.clear()
        metrics.shard_connected.clear()
        for shard in self.bot.shard_states():
            label = str(shard.shard_id)
            metrics.shard_connected.labels(shard=label).set(1 if shard.connected else 0)
            if shard.latency is not None:
                metrics.shard_latency.labels(shard=label).set(shard.latency)
        metrics.loop_running.clear()
        metrics.loop_failures.clear()
        for loop in self.bot.loops.statuses():
            metrics.loop_running.labels(loop=loop.name).set(1 if loop.running else 0)
            metrics.loop_failures.labels(loop=loop.name).set(loop.failures_in_a_row)
        now = self._clock()
        try:
            metrics.feeds_due.set(await self._feeds.count_due(now))
            backlog = await self._outbox.backlog()
        except Exception:
            # Served without fresh database figures; /healthz says the database is failing.
            log.exception("Could not read the database for /metrics")
            return
        metrics.outbox_pending.set(backlog.pending)
        metrics.outbox_oldest_age.set(backlog.oldest_age(now) or 0.0)

    # --- /healthz ---------------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        report = await self.health()
        return web.json_response(report.payload(self.bot), status=200 if report.ok else 503)

    async def health(self) -> HealthReport:
        return HealthReport(
            {
                "gateway": self._gateway_check(),
                "database": await self._database_check(),
                "loops": self._loops_check(),
            }
        )

    def _gateway_check(self) -> Check:
        shards = self.bot.shard_states()
        data: dict[str, Any] = {
            "shards": [
                {"id": s.shard_id, "connected": s.connected, "latency": s.latency} for s in shards
            ]
        }
        if not shards:
            return Check(False, "the shards have not been started yet", data)
        down = [str(s.shard_id) for s in shards if not s.connected]
        if down:
            return Check(False, f"shard(s) {', '.join(down)} not connected", data)
        if not self.bot.is_ready():
            return Check(False, "connected, waiting for READY", data)
        return Check(True, f"{len(shards)} shard(s) connected", data)

    async def _database_check(self) -> Check:
        started = time.monotonic()
        try:
            await asyncio.wait_for(self.bot.db.fetchval("SELECT 1"), DATABASE_CHECK_SECONDS)
        except Exception as exc:
            return Check(False, f"the database does not answer: {describe_exception(exc)}")
        elapsed = time.monotonic() - started
        return Check(True, "answers", {"seconds": round(elapsed, 4)})

    def _loops_check(self) -> Check:
        statuses = self.bot.loops.statuses()
        stopped = [s.name for s in statuses if not s.running]
        failing = [s.name for s in statuses if s.failing]
        data = {
            "running": [s.name for s in statuses if s.running],
            "stopped": stopped,
            "failing": failing,
        }
        if stopped:
            return Check(False, f"stopped: {', '.join(stopped)}", data)
        detail = f"{len(statuses)} running"
        if failing:
            detail += f" (failing lately, retrying: {', '.join(failing)})"
        return Check(True, detail, data)
