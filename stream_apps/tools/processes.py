"""Worker child processes: start, wait until ready, stop. Used by the demo, bench and tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

from stream_apps.settings import Settings, env_name


class WorkerFailed(RuntimeError):
    """A worker process exited or did not become ready in time."""


def worker_env(settings: Settings, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["KAFKA_BOOTSTRAP_SERVERS"] = settings.bootstrap_servers
    env[env_name("topic_prefix")] = settings.topic_prefix
    env.update(extra or {})
    return env


def spawn_worker(settings: Settings, web_port: int, log_path: Path,
                 extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``streamrec worker`` as a child process, logging to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = open(log_path, "ab")  # noqa: SIM115 - the child owns it from here
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "stream_apps", "worker", "--web-port", str(web_port)],
            env=worker_env(settings, extra_env), stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the parent, which stops it in order
        )
    finally:
        log_file.close()


def get_json(url: str, timeout: float = 2.0) -> tuple[int, Any]:
    """(status, parsed JSON body) of a GET; status 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body or b"null")
        except ValueError:
            return exc.code, body.decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, ValueError):
        return 0, None


def wait_ready(web_port: int, proc: subprocess.Popen[bytes] | None, timeout: float = 120.0,
               on_poll: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Poll ``/health`` until the worker says ready; returns that health body.

    ``timeout`` counts from the last visible progress, not from the start: a worker still
    reading a large catalogue (``index_items`` growing) on a busy machine is slow, not stuck.
    """
    deadline = time.monotonic() + timeout
    indexed = -1
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise WorkerFailed(f"the worker exited with code {proc.returncode} before it was ready")
        status, body = get_json(f"http://127.0.0.1:{web_port}/health")
        if isinstance(body, dict):
            if on_poll is not None:
                on_poll(body)
            if status == 200 and body.get("ready"):
                return body
            if int(body.get("index_items") or 0) > indexed:
                indexed = int(body.get("index_items") or 0)
                deadline = max(deadline, time.monotonic() + timeout / 2)
        time.sleep(0.25)
    raise WorkerFailed(f"the worker on port {web_port} was not ready within {timeout:.0f}s of its last progress")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0, kill: bool = False) -> int:
    """SIGTERM (or SIGKILL when ``kill``), then SIGKILL if it has not exited after ``timeout``."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode
