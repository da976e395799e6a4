"""A Faust app that does no work: each event is forwarded unchanged to one topic.

``streamrec bench`` runs it beside the real worker on the same broker, with the same
broker settings: its rate is the ceiling of this stack (consume + send) on this machine.
Run as ``python -m stream_apps.tools.bench_passthrough`` with the usual environment
(``KAFKA_BOOTSTRAP_SERVERS``, ``STREAMREC_TOPIC_PREFIX``, ``STREAMREC_WEB_PORT``).
"""

from __future__ import annotations

from typing import Any

PASSTHROUGH_OUT = "bench.passthrough-out"


def create_passthrough_app() -> Any:
    import faust

    from stream_apps.kafka.patches import apply_patches, faust_broker_settings
    from stream_apps.kafka.topics import TopicNames
    from stream_apps.settings import faust_datadir, from_env

    settings = from_env()
    apply_patches(fetch_max_wait_ms=settings.fetch_max_wait_ms)  # the worker's, for a fair ceiling
    names = TopicNames.of(settings)
    app = faust.App(
        f"{settings.faust_id}-passthrough",
        broker=[f"kafka://{s}" for s in settings.bootstrap_servers.split(",")],
        store="memory://", datadir=faust_datadir(settings), web_port=settings.web_port, web_bind="127.0.0.1", web_host="127.0.0.1",
        topic_partitions=settings.partitions, consumer_auto_offset_reset="earliest",
        autodiscover=False, **faust_broker_settings(settings.producer_linger_ms / 1000),  # the worker's
    )

    def raw(name: str) -> Any:
        return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw",
                         value_serializer="raw", partitions=settings.partitions)

    source, sink = raw(names.click), raw(settings.topic(PASSTHROUGH_OUT))

    @app.agent(source, name="passthrough")
    async def passthrough(stream: Any) -> None:
        async for event in stream.events():
            await sink.send(key=event.key, value=event.value)

    return app


def main() -> None:
    import faust

    from stream_apps.settings import from_env
    from stream_apps.worker.run import use_event_loop

    use_event_loop(from_env().event_loop)  # the worker's, for a fair ceiling
    faust.Worker(create_passthrough_app(), loglevel="warning", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
