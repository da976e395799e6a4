"""engine/ never imports the streaming stack: checked in a fresh interpreter."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import engine

BANNED = {"faust", "aiokafka", "kafka", "stream_apps"}

_PROBE = """
import importlib, json, pkgutil, sys
{prelude}
import engine
names = sorted(m.name for m in pkgutil.iter_modules(engine.__path__, "engine."))
for name in names:
    importlib.import_module(name)
banned = sorted(m for m in sys.modules if m.split(".")[0] in {banned!r})
print(json.dumps({{"imported": names, "banned": banned}}))
"""


def _probe(prelude: str = "") -> dict:
    code = _PROBE.format(prelude=prelude, banned=BANNED)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=Path(engine.__file__).parent.parent, timeout=120, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_importing_every_engine_module_pulls_in_no_streaming_code() -> None:
    report = _probe()
    expected = {f"engine.{m.name}" for m in pkgutil.iter_modules(engine.__path__)}
    assert {"engine.events", "engine.interests", "engine.index", "engine.recommend"} <= expected
    assert set(report["imported"]) == expected
    assert report["banned"] == []


def test_the_probe_notices_a_banned_module() -> None:
    # The same probe, with a stand-in "faust" loaded first, must report it.
    report = _probe("import types; sys.modules['faust.app'] = types.ModuleType('faust.app')")
    assert report["banned"] == ["faust.app"]
