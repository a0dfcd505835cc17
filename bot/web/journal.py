"""GET /journal/{token}: a shared journal as a server-rendered page (Jinja2, autoescaped).

Unknown, expired, revoked and malformed tokens get the same plain 404, byte for byte, so a
reader learns nothing about which links exist.
"""

from __future__ import annotations

from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape

from bot.metrics import Metrics
from bot.services import shares
from bot.services.context import ServiceContext

NOT_FOUND = "404 Not Found\n"
_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
            "X-Robots-Tag": "noindex, nofollow", "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                       "script-src 'unsafe-inline'; img-src 'self'"}


def templates() -> Environment:
    return Environment(loader=PackageLoader("bot", "templates"),
                       autoescape=select_autoescape(default=True, default_for_string=True),
                       trim_blocks=True, lstrip_blocks=True)


class JournalPages:
    def __init__(self, ctx: ServiceContext, metrics: Metrics):
        self.ctx, self.metrics = ctx, metrics
        self.page = templates().get_template("journal.html")

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/journal/{token}", self.handle)]

    async def handle(self, request: web.Request) -> web.Response:
        journal = await shares.read_journal(self.ctx, request.match_info["token"])
        if journal is None:
            return web.Response(status=404, text=NOT_FOUND, content_type="text/plain",
                                headers=_HEADERS)
        self.metrics.journal_views.labels(journal.kind).inc()
        return web.Response(text=self.page.render(journal=journal), content_type="text/html",
                            charset="utf-8", headers=_HEADERS)
