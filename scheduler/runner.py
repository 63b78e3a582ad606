"""Running due jobs exactly once: ``run_due`` over the database, driven by APScheduler.

``run_due(sf, settings, now, instance)`` is the whole of correctness: for every job and
every period whose time has come it claims the (job, period) row, runs the job in one
transaction that ends with ``finish`` (the job's writes and outbox messages commit with
the claim's ``done``), and records failures for a retry. A period past its ``until`` is
recorded as done and expired instead of run. A run more than an hour after its due time
is marked late, and its messages say so.

``SchedulerService`` only decides *when* to call it: at start-up (the catch-up after
downtime) and every two minutes, from an ``AsyncIOScheduler`` with an in-memory job
store. Nothing depends on APScheduler's misfire handling: an interval run that was
missed or dropped is harmless, the next one finds the same periods in the database.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.config import Settings
from bot.domain.workdays import Calendar
from bot.services import calendar as calendar_svc
from bot.services import notify, outbox
from bot.text import t
from storage import audit
from storage.uow import Sessions, unit_of_work

from . import claims
from .base import TZ, Due, Job, JobCtx, shanghai
from .jobs import all_jobs

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
LATE_AFTER = timedelta(hours=1)
INTERVAL = timedelta(minutes=2)
TELL_AFTER_FAILURES = 3  # the 管理员 hear of a job that keeps failing (once per period)


def instance_name(prefix: str = "") -> str:
    return f"{prefix}{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


async def run_due(
    sf: Sessions,
    settings: Settings,
    now: datetime,
    instance: str,
    jobs: Iterable[Job] | None = None,
    lease: timedelta = LEASE,
) -> dict[str, list[dict[str, Any]]]:
    """Run every due, not yet done (job, period) once. Returns what ran and what not."""
    now = shanghai(now)
    todo = tuple(jobs) if jobs is not None else all_jobs()
    ran: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    planned: list[tuple[Job, Due]] = []
    async with sf() as s:
        cal = await calendar_svc.calendar(s)
    for job in todo:  # one job's broken look-up does not stop the others
        try:
            async with sf() as s:
                planned += [(job, due) for due in await job.due(s, settings, now, cal)]
        except Exception as exc:  # noqa: BLE001 - reported, retried next round
            log.exception("job %s: finding due periods failed", job.name)
            skipped.append(
                {
                    "job": job.name,
                    "period": "",
                    "why": "failed",
                    "error": f"{type(exc).__name__}: {exc}"[:300],
                }
            )
    async with sf() as s:
        known = await claims.states(s, [(job.name, due.period) for job, due in planned])
    for job, due in planned:
        entry = {"job": job.name, "period": due.period}
        row = known.get((job.name, due.period))
        if row is not None and row.status == claims.DONE:
            skipped.append({**entry, "why": "done"})
            continue
        if row is not None and row.lease_until > claims.local(now):
            skipped.append(
                {**entry, "why": "running" if row.status == claims.RUNNING else "retry_later"}
            )
            continue
        late = now - due.due_at > LATE_AFTER
        async with unit_of_work(sf) as s:
            mine = await claims.claim(
                s, job.name, due.period, instance, now, lease, due_at=due.due_at, late=late
            )
        if not mine:
            skipped.append({**entry, "why": "claimed"})
            continue
        if due.until is not None and now >= due.until:
            async with unit_of_work(sf) as s:
                await claims.finish(
                    s,
                    job.name,
                    due.period,
                    instance,
                    now,
                    {"expired": True, "until": due.until.isoformat()},
                )
            skipped.append({**entry, "why": "expired"})
            continue
        outcome = await _run_one(sf, settings, job, due, now, cal, late, instance, lease)
        if outcome is None:
            ran.append({**entry, "late": late, "due_at": due.due_at.isoformat()})
        else:
            skipped.append({**entry, **outcome})
    return {"ran": ran, "skipped": skipped}


async def _run_one(
    sf: Sessions,
    settings: Settings,
    job: Job,
    due: Due,
    now: datetime,
    cal: Calendar,
    late: bool,
    instance: str,
    lease: timedelta,
) -> dict[str, Any] | None:
    """Run one claimed period; None when it committed, else why it did not."""
    try:
        async with unit_of_work(sf) as s:
            await claims.hold(s, job.name, due.period, instance, now, lease)
            ctx = JobCtx(s, settings, now, cal, job.name, due, late, instance)
            detail = await job.run(ctx)
            detail = {**(detail or {}), "late": late}
            await audit.append(s, ctx.actor, "job.run", f"{job.name}:{due.period}", detail)
            await claims.finish(s, job.name, due.period, instance, now, detail)
        return None
    except claims.LostClaim:
        log.warning("job %s %s: claim taken over by another instance", job.name, due.period)
        return {"why": "lost"}
    except Exception as exc:  # noqa: BLE001 - recorded on the claim and retried later
        log.exception("job %s %s failed", job.name, due.period)
        error = f"{type(exc).__name__}: {exc}"
        await _record_failure(sf, job, due, now, instance, error)
        return {"why": "failed", "error": error[:300]}


async def _record_failure(
    sf: Sessions, job: Job, due: Due, now: datetime, instance: str, error: str
) -> None:
    try:
        async with unit_of_work(sf) as s:
            attempts = await claims.fail(s, job.name, due.period, instance, now, error)
            if attempts == TELL_AFTER_FAILURES:
                text = t(
                    "jobs.job_failed",
                    job=t("jobs.job_name", name=job.name),
                    period=due.period,
                    attempts=attempts,
                    error=error[:200],
                )
                await outbox.enqueue(
                    s, await notify.to_admins(s, text, dedupe=f"job-failed:{job.name}:{due.period}")
                )
    except Exception:  # noqa: BLE001 - the lease expires and the period is retried anyway
        log.exception("could not record the failure of %s %s", job.name, due.period)


class SchedulerService:
    """APScheduler 3 wiring: a run at start-up, then one every ``interval``."""

    def __init__(
        self,
        sf: Sessions,
        settings: Settings,
        instance: str | None = None,
        interval: timedelta = INTERVAL,
        clock: Callable[[], datetime] | None = None,
        on_ran: Callable[[], None] | None = None,
    ) -> None:
        self.sf, self.settings, self.interval = sf, settings, interval
        self.instance = instance or instance_name()
        self.clock = clock or (lambda: datetime.now(TZ))
        self.on_ran = on_ran
        self.last: dict[str, list[dict[str, Any]]] | None = None
        self.rounds = 0
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.scheduler: AsyncIOScheduler | None = None

    def start(self) -> None:
        self.scheduler = AsyncIOScheduler(
            timezone=TZ,
            jobstores={"default": MemoryJobStore()},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.scheduler.add_job(
            self.tick,
            IntervalTrigger(seconds=self.interval.total_seconds(), timezone=TZ),
            id="run_due",
        )
        self.scheduler.start()
        self._spawn()  # the catch-up at start-up, not left to the trigger

    def _spawn(self) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(self.tick())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def tick(self) -> dict[str, list[dict[str, Any]]] | None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            async with self._lock:
                report = await run_due(self.sf, self.settings, self.clock(), self.instance)
        except Exception:  # noqa: BLE001 - the next round tries again
            log.exception("scheduled run_due failed")
            return None
        finally:
            if task is not None:
                self._tasks.discard(task)
        self.last, self.rounds = report, self.rounds + 1
        if report["ran"]:
            log.info("jobs ran: %s", report["ran"])
            if self.on_ran:
                self.on_ran()
        return report

    async def stop(self, timeout: float = 30.0) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)  # AsyncIOScheduler: done on the loop, soon
            await asyncio.sleep(0)
        pending = [t_ for t_ in self._tasks if not t_.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)


SCHEDULER = web.AppKey("scheduler", SchedulerService)
CleanupContext = Callable[[web.Application], AsyncIterator[None]]


def scheduler_ctx(
    sessions: web.AppKey[Sessions], settings: web.AppKey[Settings], wake: web.AppKey[asyncio.Event]
) -> CleanupContext:
    """The service's cleanup context over the app's own keys (appended by ``create_app``
    when settings.scheduler): the database, the settings, and the event that wakes the
    outbox relay after a run."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        event = app.get(wake)
        svc = app[SCHEDULER] = SchedulerService(
            app[sessions], app[settings], on_ran=event.set if event is not None else None
        )
        svc.start()
        yield
        await svc.stop()

    return context
