"""Traffic for a deployed streamrec: the built-in catalogue, then simulated users.

The compose stack's ``traffic`` service runs this in the streamrec image. ``streamrec demo``
cannot play that part: it starts a broker and a worker of its own. This script only
produces, like any other application would:

1. the built-in catalogue (3,000 items) to ``items`` (skip with ``--no-catalogue``);
2. organic events from :class:`stream_apps.tools.simulate.TrafficSimulator` (users with drifting
   tastes who click, search and buy) at ``--rate`` events per second, keyed by user_id;
3. the users' answers to a share of the recommendations they get (impressions, sometimes
   a click), read from ``recommendations`` as they arrive.

Connection settings come from the environment exactly as for the worker
(``KAFKA_BOOTSTRAP_SERVERS``, ``STREAMREC_TOPIC_PREFIX``, ``STREAMREC_SECURITY_PROTOCOL``...).
``--dry-run N`` prints N simulated events as JSON lines and connects to nothing.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import orjson

from stream_apps.kafka.topics import TopicNames
from stream_apps.settings import Settings, from_env
from stream_apps.tools.catalogue import load_builtin_catalogue
from stream_apps.tools.simulate import TrafficSimulator

log = logging.getLogger("streamrec.traffic")


class RecommendationReader(threading.Thread):
    """Keeps the newest recommendations (from now on) for the simulated users to answer."""

    def __init__(self, settings: Settings, maxlen: int = 1000) -> None:
        super().__init__(daemon=True, name="recommendations")
        self.settings = settings
        self.received: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._stop_flag = threading.Event()

    def run(self) -> None:
        from stream_apps.kafka.clients import consumer

        cons = consumer(self.settings, TopicNames.of(self.settings).recommendations,
                        auto_offset_reset="latest", consumer_timeout_ms=500)
        try:
            while not self._stop_flag.is_set():
                for record in cons:
                    if record.value is not None:  # tombstones (forgotten users) are no answer
                        self.received.append(orjson.loads(record.value))
        finally:
            cons.close()

    def take(self) -> list[dict[str, Any]]:
        out = []
        while self.received:
            out.append(self.received.popleft())
        return out

    def stop(self) -> None:
        self._stop_flag.set()


def simulated_events(simulator: TrafficSimulator, n: int, now: float) -> list[dict[str, Any]]:
    """``n`` organic events at ``now``; each carries ``type`` (which picks the topic)."""
    return simulator.next_events(now, n)


def send_events(prod: Any, names: TopicNames, events: Sequence[dict[str, Any]]) -> None:
    for event in events:
        prod.send(names.event_topic(event["type"]), key=str(event["user_id"]).encode(),
                  value=orjson.dumps(event))


def run(settings: Settings, args: argparse.Namespace) -> int:
    from stream_apps.kafka.clients import producer
    from stream_apps.worker.run import wait_for_topics

    items = load_builtin_catalogue()
    wait_for_topics(settings)  # waits for the cluster; creates nothing that topic-init made
    names = TopicNames.of(settings)
    prod = producer(settings, linger_ms=5)
    if not args.no_catalogue:
        for item in items:
            prod.send(names.items, key=str(item["item_id"]).encode(), value=orjson.dumps(item))
        prod.flush()
        log.info("produced %d items to %s", len(items), names.items)
    simulator = TrafficSimulator(items, n_users=args.users, seed=args.seed)
    chooser = random.Random(args.seed)
    reader = RecommendationReader(settings)
    reader.start()
    start = time.monotonic()
    end = None if args.duration is None else start + args.duration
    sent, answered, last_report = 0, 0, start
    try:
        while end is None or time.monotonic() < end:
            due = int((time.monotonic() - start) * args.rate) - sent
            if due <= 0:
                time.sleep(0.01)
                continue
            now = time.time()
            batch = simulated_events(simulator, due, now)
            sent += len(batch)
            for message in reader.take():
                if chooser.random() < args.feedback:
                    feedback = simulator.feedback_for(message, now)
                    answered += len(feedback)
                    batch.extend(feedback)
            send_events(prod, names, batch)
            prod.flush()
            if time.monotonic() - last_report >= 30:
                last_report = time.monotonic()
                log.info("%d organic events and %d answers to recommendations sent", sent, answered)
    except KeyboardInterrupt:
        pass
    finally:
        reader.stop()
        prod.close()
    log.info("done: %d organic events, %d answers", sent, answered)
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20.0, help="organic events per second (default 20)")
    parser.add_argument("--users", type=int, default=200, help="simulated users (default 200)")
    # A fresh seed per run by default: the simulator's event ids derive from it, and a
    # restarted generator reusing them would see its first events dropped as redeliveries.
    parser.add_argument("--seed", type=int, default=None, help="simulator seed (default: new each run)")
    parser.add_argument("--feedback", type=float, default=0.5,
                        help="share of recommendations the users answer (default 0.5)")
    parser.add_argument("--duration", type=float, default=None, metavar="S",
                        help="stop after S seconds (default: run until stopped)")
    parser.add_argument("--no-catalogue", action="store_true",
                        help="do not produce the built-in catalogue first (it is already there)")
    parser.add_argument("--dry-run", type=int, default=None, metavar="N",
                        help="print N simulated events as JSON lines; connect to nothing")
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = time.time_ns() % 1_000_000_007
    if args.rate <= 0 or args.users < 1 or not 0.0 <= args.feedback <= 1.0:
        parser.error("--rate must be > 0, --users >= 1 and --feedback between 0 and 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    if args.dry_run is not None:
        simulator = TrafficSimulator(load_builtin_catalogue(), n_users=args.users, seed=args.seed)
        for event in simulated_events(simulator, args.dry_run, time.time()):
            sys.stdout.write(orjson.dumps(event).decode() + "\n")
        return 0
    return run(from_env(), args)


if __name__ == "__main__":
    sys.exit(main())
