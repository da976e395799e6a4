"""HTTP views on the worker's web port: recommendations on demand, health, metrics, the
dashboard and its data, and the OpenAPI description.

With ``api_token`` set, every path but ``/health`` needs ``Authorization: Bearer <token>``
(the dashboard page also takes ``?token=``, and its script sends the header). Parameters
are checked before a request is routed to the worker that owns the user, so a bad one
gets a 400 with a clear message wherever it lands.
"""

from __future__ import annotations

import hmac
import time
from functools import wraps
from importlib import resources
from typing import Any, Awaitable, Callable

from aiohttp import ClientError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from engine.interests import deserialize_state
from stream_apps.worker.context import WorkerContext
from stream_apps.worker.dashboard_data import build_stats, item_title, partitions, state_sizes, user_summary
from stream_apps.worker.openapi import MAX_SCENE_LENGTH, openapi_spec
from stream_apps.worker.serving import serve_page

Handler = Callable[..., Awaitable[Any]]


class BadParameter(ValueError):
    """A request parameter that cannot be used; answered with 400 and this message."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


def _int_param(request: Any, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameter(name, f"{name} must be an integer, got {raw[:40]!r}") from None
    if not low <= value <= high:
        raise BadParameter(name, f"{name} must be between {low} and {high}, got {value}")
    return value


UNAUTHORIZED_PAGE = (
    "<!doctype html><meta charset=utf-8><title>streamrec: token required</title>"
    "<body style='font:15px system-ui;background:#0e1420;color:#e6ebf3;padding:3rem'>"
    "<h1 style='font-size:20px'>This streamrec worker needs an API token</h1>"
    "<p>Open the dashboard as <code>/dashboard?token=&lt;token&gt;</code> (the token is the "
    "worker's <code>STREAMREC_API_TOKEN</code>). API clients send "
    "<code>Authorization: Bearer &lt;token&gt;</code>.</p>"
)


class Api:
    """Checks shared by the views: the bearer token and the parameters."""

    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self.token = ctx.settings.api_token
        self.max_k = ctx.settings.recommend_config().max_k
        self.max_id_length = ctx.settings.validation_config().max_id_length

    def authorized(self, request: Any, allow_query: bool = False) -> bool:
        if not self.token:
            return True
        header = request.headers.get("Authorization", "")
        given = header[7:] if header[:7].lower() == "bearer " else ""
        if not given and allow_query:
            given = request.query.get("token", "")
        # compare_digest: the time taken does not tell how much of a guess was right.
        return bool(given) and hmac.compare_digest(given.encode(), self.token.encode())

    def user_id(self, request: Any) -> str:
        user_id = str(request.match_info.get("user_id", ""))
        if not user_id.strip():
            raise BadParameter("user_id", "user_id must not be empty")
        if len(user_id) > self.max_id_length:
            raise BadParameter("user_id", f"user_id is {len(user_id)} characters long; "
                                          f"the limit is {self.max_id_length}")
        return user_id

    def k(self, request: Any) -> int:
        return _int_param(request, "k", self.ctx.settings.k, 1, self.max_k)

    def scene(self, request: Any) -> str | None:
        scene = request.query.get("scene") or None
        if scene is not None and len(scene) > MAX_SCENE_LENGTH:
            raise BadParameter("scene", f"scene is {len(scene)} characters long; "
                                        f"the limit is {MAX_SCENE_LENGTH}")
        return scene

    def guard(self, check: Callable[[Any], None] | None = None, allow_query_token: bool = False
              ) -> Callable[[Handler], Handler]:
        """Token first (401), then ``check(request)`` (400), then the view."""

        def decorate(fun: Handler) -> Handler:
            @wraps(fun)
            async def guarded(view: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
                if not self.authorized(request, allow_query_token):
                    if allow_query_token:  # a person at a browser: say how to get in
                        return view.html(UNAUTHORIZED_PAGE, status=401,
                                         headers={"WWW-Authenticate": 'Bearer realm="streamrec"'})
                    return view.json({"error": "missing or wrong bearer token: send "
                                               "'Authorization: Bearer <token>'"}, status=401,
                                     headers={"WWW-Authenticate": 'Bearer realm="streamrec"'})
                try:
                    if check is not None:
                        check(request)
                except BadParameter as exc:
                    return view.json({"error": str(exc), "parameter": exc.parameter}, status=400)
                try:
                    return await fun(view, request, *args, **kwargs)
                except (OSError, ClientError) as exc:
                    # table_route proxies to the worker that owns the user; during a
                    # rebalance that may be a worker that just died.
                    return view.json({"error": "the worker that owns this user cannot be reached "
                                               f"({exc.__class__.__name__}); partitions are probably "
                                               "moving after a worker left: retry in a few seconds"},
                                     status=503, headers={"Retry-After": "5"})

            return guarded

        return decorate


def register_views(app: Any, ctx: WorkerContext, user_state: Any) -> None:
    api = Api(ctx)

    def check_recommendation_params(request: Any) -> None:
        api.user_id(request)
        api.k(request)
        api.scene(request)

    def check_user_id(request: Any) -> None:
        api.user_id(request)

    @app.page("/recommendations/{user_id}")
    @api.guard(check_recommendation_params)
    @app.table_route(table=user_state, match_info="user_id")
    async def get_recommendations(web: Any, request: Any, user_id: str) -> Any:
        raw = user_state.get(user_id)
        state = deserialize_state(raw) if raw else None  # unknown: the cold start, trending
        message = await serve_page(ctx, user_id, state, api.scene(request), k=api.k(request))
        message["known_user"] = raw is not None
        for item in message["items"]:  # an extra field: handy for people, ignored by programs
            item["title"] = item_title(ctx, item["item_id"])
        return web.json(message)

    @app.page("/api/users/{user_id}")
    @api.guard(check_user_id)
    @app.table_route(table=user_state, match_info="user_id")
    async def get_user(web: Any, request: Any, user_id: str) -> Any:
        return web.json(user_summary(ctx, user_id, user_state.get(user_id), time.time()))

    @app.page("/api/stats")
    @api.guard()
    async def stats(web: Any, request: Any) -> Any:
        return web.json(build_stats(app, ctx, user_state))

    @app.timer(interval=1.0)
    async def sample_stats() -> None:
        ctx.metrics.sample()  # per-second points for the dashboard's rates and charts
        ctx.metrics.consumer_lag.clear()  # partitions move on a rebalance: no stale series
        for row in partitions(app)["assigned"]:
            if row["lag"] is not None:
                gauge = ctx.metrics.consumer_lag.labels(topic=row["topic"], partition=str(row["partition"]))
                gauge.set(row["lag"])

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        body = {
            "status": "ready" if ctx.ready else "starting",
            "live": True,
            "ready": ctx.ready,
            "uptime_s": round(time.time() - ctx.started_at, 1),
            "ready_after_s": round(ctx.ready_at - ctx.started_at, 2) if ctx.ready_at else None,
            "index_items": len(ctx.catalogue.catalog) if ctx.catalogue.catalog else 0,
            "users_in_state": len(user_state),
            "state": state_sizes(ctx, len(user_state)),
            # Shared item signals (issue 12): rows read, own increments awaiting their row.
            "signals": ctx.signalling.signals.status() if ctx.signalling.signals is not None else None,
        }
        return web.json(body, status=200 if ctx.ready else 503)

    @app.page("/internal/signals")
    @api.guard()
    async def signals(web: Any, request: Any) -> Any:
        """Internal (not part of the contract): this worker's co-visitation neighbours of
        ``?item=`` (repeatable) at ``?now=`` (default: the clock), for comparing workers."""
        try:
            now = float(request.query.get("now") or time.time())
        except ValueError:
            return web.json({"error": "now must be a number", "parameter": "now"}, status=400)
        k = _int_param(request, "k", 20, 1, 1000)
        covisit = ctx.catalogue.collaborative.covisit
        neighbours: dict[str, Any] = {}
        for item_id in request.query.getall("item", [])[:1000]:
            ids, scores = covisit.neighbours([item_id], k, now) if covisit is not None else ([], [])
            neighbours[item_id] = {"ids": ids, "scores": [float(x) for x in scores],
                                   "mass": covisit.mass(item_id, now) if covisit is not None else 0.0}
        return web.json({"shared": ctx.signalling.signals.status() if ctx.signalling.signals is not None else None,
                         "items": len(covisit) if covisit is not None else 0,
                         "pairs": covisit.n_pairs if covisit is not None else 0,
                         "neighbours": neighbours})

    @app.page("/metrics")
    @api.guard()
    async def metrics(web: Any, request: Any) -> Any:
        ctx.metrics.users.set(len(user_state))
        # aiohttp wants the charset as a header parameter, not inside content_type.
        return web.bytes(generate_latest(ctx.metrics.registry),
                         headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.page("/openapi.json")
    @api.guard()
    async def openapi(web: Any, request: Any) -> Any:
        return web.json(openapi_spec(api.max_k, ctx.settings.k, api.max_id_length, bool(api.token)))

    @app.page("/")
    @api.guard(allow_query_token=True)
    async def index(web: Any, request: Any) -> Any:
        return web.html(dashboard_html())

    @app.page("/dashboard")
    @api.guard(allow_query_token=True)
    async def dashboard(web: Any, request: Any) -> Any:
        return web.html(dashboard_html())


def dashboard_html() -> str:
    """The page with its stylesheet and script inlined: one request, no CDN, and no
    second place that would need the token."""
    static = resources.files("stream_apps.worker").joinpath("static")
    page = static.joinpath("dashboard.html").read_text("utf-8")
    for marker, name in (("/*__DASHBOARD_CSS__*/", "dashboard.css"),
                         ("/*__DASHBOARD_JS__*/", "dashboard.js")):
        page = page.replace(marker, static.joinpath(name).read_text("utf-8"))
    return page
