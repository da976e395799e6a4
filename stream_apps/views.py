"""HTTP views on the worker's web port: recommendations on demand, health, metrics, dashboard."""

from __future__ import annotations

import time
from importlib import resources
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from engine.interests import deserialize_state
from engine.recommend import recommend
from stream_apps.agents.interactions import recommendation_message
from stream_apps.runtime import WorkerContext


def _int_param(request: Any, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return value


def register_views(app: Any, ctx: WorkerContext, user_state: Any) -> None:
    @app.page("/recommendations/{user_id}")
    @app.table_route(table=user_state, match_info="user_id")
    async def get_recommendations(web: Any, request: Any, user_id: str) -> Any:
        try:
            k = _int_param(request, "k", ctx.settings.k, 1, ctx.settings.recommend_config().max_k)
        except ValueError as exc:
            return web.json({"error": str(exc)}, status=400)
        scene = request.query.get("scene") or None
        now = time.time()
        raw = user_state.get(user_id)
        items = []
        if raw and ctx.catalog is not None:
            state = deserialize_state(raw)
            query_vector = await ctx.encode_query(state.last_query) if state.last_query else None
            items = recommend(state, ctx.catalog, now, scene, ctx.settings.interest_config(),
                              ctx.settings.recommend_config(), k=k, query_vector=query_vector)
        message = recommendation_message(user_id, now, scene, items, trigger=None)
        message["known_user"] = raw is not None
        return web.json(message)

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        body = {
            "status": "ready" if ctx.ready else "starting",
            "live": True,
            "ready": ctx.ready,
            "uptime_s": round(time.time() - ctx.started_at, 1),
            "ready_after_s": round(ctx.ready_at - ctx.started_at, 2) if ctx.ready_at else None,
            "index_items": len(ctx.catalog) if ctx.catalog else 0,
            "users_in_state": len(user_state),
        }
        return web.json(body, status=200 if ctx.ready else 503)

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        ctx.metrics.users.set(len(user_state))
        # aiohttp wants the charset as a header parameter, not inside content_type.
        return web.bytes(generate_latest(ctx.metrics.registry),
                         headers={"Content-Type": CONTENT_TYPE_LATEST})

    def dashboard_html() -> str:
        return resources.files("stream_apps").joinpath("static/dashboard.html").read_text("utf-8")

    @app.page("/")
    async def index(web: Any, request: Any) -> Any:
        return web.html(dashboard_html())

    @app.page("/dashboard")
    async def dashboard(web: Any, request: Any) -> Any:
        return web.html(dashboard_html())
