"""The public pages (社会公众, no login) under ``/public/``: published tasks and plans only.

Thin HTTP edges over ``bot.services.publication``: every page renders the record stored
at publication (``templates/public``, ``templates/print``). Anything not published —
a task not yet published, a plan still a draft, an object withheld by law — is a 404
that looks the same as a task that does not exist, so nothing leaks before publication.
"""

from __future__ import annotations

import io
import json
from typing import Any

from aiohttp import web

from bot.config import Settings
from bot.services import publication as svc
from bot.services import stats as stats_svc
from bot.text import render
from storage.uow import Sessions

TASK = r"{task:[0-9A-Za-z_-]{1,40}}"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADERS = {
    # no script, no external asset: inline styles and data: images only
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # a page published a minute ago must not be a cached 404
}


class Pages:
    def __init__(
        self, sessions_key: web.AppKey[Sessions], settings_key: web.AppKey[Settings]
    ) -> None:
        self.sessions_key, self.settings_key = sessions_key, settings_key

    def _sf(self, request: web.Request) -> Sessions:
        return request.app[self.sessions_key]

    async def _doc(self, request: web.Request) -> dict[str, Any]:
        task_id = request.match_info["task"].upper()
        async with self._sf(request)() as s:
            doc = await svc.document(s, task_id)
        if doc is None:
            raise _not_found(request)
        return doc

    async def root(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPMovedPermanently("/public/")

    async def index(self, request: web.Request) -> web.Response:
        async with self._sf(request)() as s:
            tasks = await svc.published_tasks(s)
            plans = await svc.published_plans(s)
            stats_years = await stats_svc.public_years(s)
        settings = request.app[self.settings_key]
        return _html(
            "public/index.html",
            tasks=tasks,
            plans=plans,
            stats_years=stats_years,
            bureau=settings.bureau_name,
            region=settings.region,
        )

    async def task(self, request: web.Request) -> web.Response:
        doc = await self._doc(request)
        return _html("public/task.html", doc=doc, digest=svc.digest(doc))

    async def task_json(self, request: web.Request) -> web.Response:
        doc = await self._doc(request)
        body = json.dumps(doc, ensure_ascii=False, indent=1)
        return web.Response(
            text=body, content_type="application/json", charset="utf-8", headers=HEADERS
        )

    async def task_xlsx(self, request: web.Request) -> web.Response:
        doc = await self._doc(request)
        buf = io.BytesIO()
        svc.workbook(doc, buf)
        name = f"{doc['task']['id']}.xlsx"
        return web.Response(
            body=buf.getvalue(),
            content_type=XLSX,
            headers={**HEADERS, "Content-Disposition": f'attachment; filename="{name}"'},
        )

    async def form(self, request: web.Request) -> web.Response:
        doc = await self._doc(request)
        uscc = request.match_info["uscc"].upper()
        obj = next(
            (
                o
                for o in doc["objects"]
                if not o["withheld"] and o["uscc"] == uscc and o["inspected"]
            ),
            None,
        )
        if obj is None:
            raise _not_found(request)
        return _html("print/form.html", doc=doc, o=obj)

    async def plan(self, request: web.Request) -> web.Response:
        year = int(request.match_info["year"])
        async with self._sf(request)() as s:
            plan = await svc.published_plan(s, year)
        if plan is None:
            raise _not_found(request)
        return _html("public/plan.html", plan=plan, merged=_merged(plan.get("tasks", [])))

    async def missing(self, request: web.Request) -> web.Response:
        """Any other path under /public/: the same Chinese 404 as an unpublished task."""
        raise _not_found(request)

    async def stats(self, request: web.Request) -> web.Response:
        year = int(request.match_info["year"])
        async with self._sf(request)() as s:
            doc = await stats_svc.stats(s, request.app[self.settings_key], year, public=True)
        if not doc["tasks"]["total"]:
            raise _not_found(request)
        return _html(
            "public/stats.html",
            s=doc,
            charts=stats_svc.charts(doc),
            bureau=request.app[self.settings_key].bureau_name,
        )


def _merged(tasks: list[dict[str, Any]]) -> set[str]:
    """Columns of 附件1 shown once for the four rows, when every row has the same value."""
    keys = ("items", "scope", "ratio_text")  # 事项类别 stays on every row, as in 附件1
    return {k for k in keys if len(tasks) > 1 and all(t.get(k) == tasks[0].get(k) for t in tasks)}


def _html(template: str, status: int = 200, **context: Any) -> web.Response:
    return web.Response(
        text=render(template, **context),
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers=HEADERS,
    )


def _not_found(request: web.Request) -> web.HTTPNotFound:
    return web.HTTPNotFound(
        text=render("public/not_found.html", path=request.path),
        content_type="text/html",
        headers=HEADERS,
    )


def install(
    app: web.Application, sessions_key: web.AppKey[Sessions], settings_key: web.AppKey[Settings]
) -> None:
    """Register the public routes (read-only GETs; no login)."""
    pages = Pages(sessions_key, settings_key)
    r = app.router
    r.add_get("/public", pages.root)
    r.add_get("/public/", pages.index)
    r.add_get(f"/public/tasks/{TASK}.xlsx", pages.task_xlsx)
    r.add_get(f"/public/tasks/{TASK}.json", pages.task_json)
    r.add_get(f"/public/tasks/{TASK}", pages.task)
    # years are ASCII digits ("٢٠٢٧" is a year to \d and to int, not to people)
    r.add_get(r"/public/plans/{year:[0-9]{4}}", pages.plan)
    r.add_get(r"/public/stats/{year:[0-9]{4}}", pages.stats)
    r.add_get(f"/public/forms/{TASK}/{{uscc:[0-9A-Za-z]{{18}}}}", pages.form)
    r.add_get("/public/{tail:.*}", pages.missing)  # last: only what nothing above matched
