"""The dashboard at ``/ui``: one page per source, drawn in the browser from the ``/v1`` API.

Every page is the same small HTML shell (no data in it) plus a script per page under
``static/``; the scripts fetch ``/v1/...`` and build the DOM with ``textContent`` only, never
``innerHTML``, and charts with the vendored Chart.js (``static/chart.umd.min.js``, MIT, licence
beside it). Nothing is loaded from outside the server, and a Content-Security-Policy says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(str(files("wattlake.api.ui") / "static"))

#: No inline scripts or styles, nothing from another origin (Chart.js sizes its canvases
#: through the CSSOM, which the policy allows).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


@dataclass(frozen=True)
class UiPage:
    slug: str
    title: str
    blurb: str


PAGES = (
    UiPage("caiso", "CAISO prices", "Daily, on-peak and off-peak LMP per node; one day by hour."),
    UiPage(
        "hosting-capacity",
        "Hosting capacity",
        "Feeders by maximum hosting capacity per utility; one feeder's DER by type.",
    ),
    UiPage("meters", "Meters", "One meter's daily minimum, average and maximum."),
    UiPage("green-button", "Green Button", "A usage point's daily consumption and export."),
    UiPage("scada", "Wind SCADA", "10-minute means with their range; the power curve."),
    UiPage("runs", "Runs", "Recent runs, their steps and the rows they rejected."),
)

router = APIRouter(prefix="/ui", include_in_schema=False)


def _shell(page: UiPage | None) -> str:
    nav = "".join(
        f'<a href="/ui/{p.slug}"{" aria-current=page" if p is page else ""}>{escape(p.title)}</a>'
        for p in PAGES
    )
    title = f"{page.title} · wattlake" if page else "wattlake dashboard"
    script = f'<script src="/ui/static/{page.slug}.js" defer></script>' if page else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        '<link rel="stylesheet" href="/ui/static/ui.css">'
        '<link rel="icon" href="data:,">'
        '<script src="/ui/static/chart.umd.min.js" defer></script>'
        '<script src="/ui/static/common.js" defer></script>'
        f"{script}</head><body>"
        f'<header><a class="brand" href="/ui">wattlake</a><nav>{nav}</nav></header>'
        f'<main id="app" data-page="{page.slug if page else "index"}">'
        f"<h1>{escape(page.title if page else 'Dashboard')}</h1>"
        '<p id="status" class="status" role="status">Loading…</p></main></body></html>'
    )


def _html(body: str) -> HTMLResponse:
    return HTMLResponse(body, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"})


@router.get("")
def index() -> HTMLResponse:
    cards = "".join(
        f'<li><a href="/ui/{p.slug}">{escape(p.title)}</a> — {escape(p.blurb)}</li>' for p in PAGES
    )
    body = _shell(None).replace(
        '<p id="status" class="status" role="status">Loading…</p>',
        f'<ul class="pages">{cards}</ul><p>The data come from the <a href="/docs">/v1 API</a>.</p>',
    )
    return _html(body)


def _page_route(page: UiPage) -> None:
    def show() -> HTMLResponse:
        return _html(_shell(page))

    router.add_api_route(f"/{page.slug}", show, methods=["GET"], name=f"ui_{page.slug}")


for _p in PAGES:
    _page_route(_p)


def install(app: FastAPI) -> None:
    """Add the dashboard pages and their static files (scripts, styles, Chart.js) to ``app``."""
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
