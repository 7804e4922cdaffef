"""A tick at 1,000 feeds: wall time against a sequential baseline, the work of an unchanged
tick, the AWS calls of each kind of tick, and threads against asyncio for the fetching.

1,000 distinct feeds are served by a local HTTP server (a subprocess, so that it does
not share the handlers' GIL; aiohttp, one event loop holding every connection) on 500
loopback addresses (127.1.x.y; feed n on address n % 500, so the 50 consecutive feeds
of a batch never wait on the per-host limit of 2). Bodies are the 15 bundled captures,
rewritten per feed (every link, GUID and id gets the feed's own host label, so no two
feeds share an item) with ETag / If-None-Match → 304, and a latency of 100-300 ms per
response (uniform, drawn from the feed and the request's rank, fixed seed).

Ticks run through the real handlers on moto *in-process* (``mock_aws``, as
tests/integration and bench/cycle.py do): the scheduler's handler, then the poll handler
on SQS-shaped batches of the template's BatchSize drained from the queue
(``runner.drain_poll_queue``: batches one after another, as with one worker). In-process
rather than a ThreadedMotoServer because the server would run in this process anyway
(same GIL) and add werkzeug's HTTP parsing to every call: the AWS side would weigh even
more than real DynamoDB, whose latency costs wall time but no CPU in the function. The
counts of calls are the same either way (botocore's event hooks). moto's SQS is made
linear for the run (``linear_moto_sqs``: same behaviour, no O(n^2) in the emulator).

Three ticks, each with ``poll_all`` (every feed polled, whatever its schedule), on the
demo's replay clock (26/06/2024 06:00 UTC, 5 minutes apart): 1, the first poll of every
feed; 2, nothing changed (every feed answers 304); 3, 5 % of the feeds have one new
item. Each is run with POLL_CONCURRENCY 16 and 50 (the default, = BatchSize); ``--batch-size`` and
``--concurrency`` try others.

The fetching part alone: the 1,000 feeds fetched with HttpFeedFetcher in a thread pool
(the project's way), with aiohttp on one event loop, and with a bare urllib3 pool in the
same thread pool (what threads cost without HttpFeedFetcher's guards), at N = 16, 50, 100.

    .venv/bin/python bench/polling.py                  # everything (~4-5 min on 2 cores)
    .venv/bin/python bench/polling.py --part ticks     # baseline and ticks only
    .venv/bin/python bench/polling.py --part fetch     # threads against asyncio only

Writes bench/polling-calls.json (calls, capacity units, item sizes, log bytes and
per-batch times of each tick), which bench/cost.py turns into a monthly bill.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import io
import json
import math
import os
import random
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "examples" / "feeds"
EXAMPLE = ROOT / "examples" / "watch.yaml"
TEMPLATE = ROOT / "template.yaml"
CALLS_JSON = Path(__file__).resolve().parent / "polling-calls.json"

FEEDS = 1000
HOSTS = 500
SEED = 20261127
LATENCY = (0.100, 0.300)  # seconds, uniform, per response
BASELINE_SAMPLE = 45  # sequential baseline on feeds 0-44: three of each of the 15 captures, scaled to 1,000
CHANGED_SHARE = 0.05  # tick 3: this share of the feeds has one new item
TICK_CONCURRENCIES = (16, 50)
FETCH_CONCURRENCIES = (16, 50, 100, 200)
TICK = timedelta(minutes=5)
MAX_BYTES = 10 * 1024 * 1024
# Lambda gives a function CPU in proportion to its memory: one vCPU at 1,769 MB.
VCPU_MB = 1769


def lambda_seconds(measured: dict[str, float], memory_mb: int) -> float:
    """A local invocation's time as it would run in Lambda with ``memory_mb``: the CPU the
    function itself used (not moto's) stretched by the fraction of a vCPU it gets there.

    Conservative: waiting and CPU are added, though threads overlap them. moto's time
    stays in, a stand-in for the network latency of the real calls.
    """
    own_cpu = max(measured["cpu_s"] - measured["aws_cpu_s"], 0.0)
    return measured["wall_s"] + own_cpu * (max(VCPU_MB / memory_mb, 1.0) - 1.0)


def projected_tick(tick: dict[str, Any], memory_mb: dict[str, int], workers: int) -> float:
    """The tick in AWS: the scheduler, then the batches spread over ``workers`` functions."""
    batches = sorted((lambda_seconds(b, memory_mb["PollFunction"]) for b in tick["batches"]), reverse=True)
    finish = [0.0] * workers
    for seconds in batches:  # each batch to the worker free first
        finish[finish.index(min(finish))] += seconds
    return lambda_seconds(tick["scheduler"], memory_mb["ScheduleFunction"]) + max(finish)


_CONTENT_TYPES = {
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".rdf": "application/rdf+xml",
}


# --- the feeds: bundled captures, rewritten per feed -------------------------------------------

# URLs where feeds name their items: <link>, <guid>, <id> text, href= and rdf:about= attributes
# (namespace URIs are left alone: they sit in xmlns= attributes).
_URL_PLACES = re.compile(
    rb"""(<(?:\w+:)?(?:link|origLink|guid|id)\b[^>]*>\s*(?:<!\[CDATA\[\s*)?|\s(?:href|rdf:about)=["'])(https?://)"""
)
_PLAIN_ID = re.compile(rb"(<(?:guid|id)\b[^>]*>\s*(?:<!\[CDATA\[\s*)?)(?!https?://)(?=[^\s<])")
_ENTRY = re.compile(rb"<(item|entry)\b[^>]*>.*?</\1>", re.S)


def host_address(host: int) -> str:
    return f"127.1.{host // 250}.{host % 250 + 1}"


def _relabel(body: bytes, label: str) -> bytes:
    tag = label.encode()
    body = _PLAIN_ID.sub(rb"\1" + tag + b"-", body)
    return _URL_PLACES.sub(rb"\1\2" + tag + b".", body)


class Catalogue:
    """Feed n is capture n % 15 with its own labels; version v adds v new entries on top."""

    def __init__(self, folder: Path) -> None:
        self.captures = [
            (path.stem, path.read_bytes(), _CONTENT_TYPES[path.suffix])
            for path in sorted(folder.iterdir())
            if path.suffix in _CONTENT_TYPES
        ]

    def capture(self, n: int) -> tuple[str, bytes, str]:
        return self.captures[n % len(self.captures)]

    def body(self, n: int, version: int) -> bytes:
        _, raw, _ = self.capture(n)
        body = _relabel(raw, f"w{n:04d}")
        if version:
            first = _ENTRY.search(body)
            assert first is not None
            added = b"".join(_new_entry(first.group(0), n, v) for v in range(version, 0, -1))
            body = body[: first.start()] + added + body[first.start() :]
        return body


# A new entry no rule matches (a copy of a capture's entry would carry its matches), with a
# summary of the length of a typical one, in the format of the feed it goes into.
_NEW_SUMMARY = (
    "The municipal council approved the budget for the new library after a long debate on Tuesday evening; "
    "works start in the spring and the reading rooms should open to the public within two years, "
    "the mayor's office said in a statement that also lists the opening hours planned."
)
_NEW_DATE = "2024-06-26T06:08:00+00:00"  # between ticks 2 and 3 of the replay clock


def _new_entry(first: bytes, n: int, version: int) -> bytes:
    title = f"Bench feed {n} item {version}: council approves the library budget"
    link = f"https://w{n:04d}n{version}.news.example/{n}/{version}.html"
    if first.startswith(b"<entry"):
        text = (
            f'<entry><id>{link}</id><title>{title}</title><link rel="alternate" href="{link}"/>'
            f"<updated>{_NEW_DATE}</updated><summary>{_NEW_SUMMARY}</summary></entry>"
        )
    elif b"rdf:about" in first[:200]:
        text = (
            f'<item rdf:about="{link}"><title>{title}</title><link>{link}</link>'
            f"<description>{_NEW_SUMMARY}</description><dc:date>{_NEW_DATE}</dc:date></item>"
        )
    else:
        text = (
            f"<item><title>{title}</title><link>{link}</link><guid>{link}</guid>"
            f"<description>{_NEW_SUMMARY}</description><pubDate>Wed, 26 Jun 2024 06:08:00 GMT</pubDate></item>"
        )
    return text.encode("ascii")


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 16384)), hard))


def serve(feeds: int, hosts: int, seed: int) -> None:
    """The feed server (``--serve``): prints {"port": N} once listening; stops when stdin closes."""
    from aiohttp import web

    _raise_fd_limit()
    catalogue = Catalogue(CAPTURES)
    versions: Counter[int] = Counter()
    ranks: Counter[int] = Counter()
    served: Counter[str] = Counter()
    bodies: dict[tuple[int, int], bytes] = {}

    async def feed(request: web.Request) -> web.StreamResponse:
        n = int(request.match_info["n"])
        if not 0 <= n < feeds:
            raise web.HTTPNotFound
        rank = ranks[n]
        ranks[n] += 1
        await asyncio.sleep(random.Random(f"{seed}/{n}/{rank}").uniform(*LATENCY))
        version = versions[n]
        etag = f'"w{n}-{version}"'
        if request.headers.get("If-None-Match") == etag:
            served["304"] += 1
            return web.Response(status=304, headers={"ETag": etag})
        if (n, version) not in bodies:
            bodies[n, version] = catalogue.body(n, version)
        served["200"] += 1
        return web.Response(body=bodies[n, version], headers={"ETag": etag, "Content-Type": catalogue.capture(n)[2]})

    async def change(request: web.Request) -> web.StreamResponse:
        for n in (await request.json())["feeds"]:
            versions[n] += 1
        return web.json_response({"changed": len(versions)})

    async def report(request: web.Request) -> web.StreamResponse:
        counts = dict(served)
        served.clear()
        return web.json_response(counts)

    async def reset(request: web.Request) -> web.StreamResponse:
        versions.clear()
        served.clear()
        return web.json_response({})

    async def run() -> None:
        app = web.Application()
        app.add_routes(
            [
                web.get("/feed/{n}", feed),
                web.post("/control/change", change),
                web.post("/control/served", report),
                web.post("/control/reset", reset),
            ]
        )
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        first = socket.create_server((host_address(0), 0), backlog=512)
        port = first.getsockname()[1]
        sockets = [first] + [socket.create_server((host_address(h), port), backlog=512) for h in range(1, hosts)]
        for sock in sockets:
            await web.SockSite(runner, sock).start()
        print(json.dumps({"port": port}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes it
        await runner.cleanup()

    asyncio.run(run())


class FeedServer:
    """The parent's handle on the feed server subprocess."""

    def __enter__(self) -> FeedServer:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(FEEDS), str(HOSTS), str(SEED)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.port = json.loads(self.process.stdout.readline())["port"]
        return self

    def __exit__(self, *_: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def url(self, n: int) -> str:
        return f"http://{host_address(n % HOSTS)}:{self.port}/feed/{n}"

    def control(self, action: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        connection = http.client.HTTPConnection(host_address(0), self.port, timeout=10)
        try:
            connection.request("POST", f"/control/{action}", body=json.dumps(payload or {}))
            result: dict[str, Any] = json.loads(connection.getresponse().read())
            return result
        finally:
            connection.close()


def write_watch(folder: Path, server: FeedServer, catalogue: Catalogue) -> Path:
    """examples/watch.yaml with 1,000 feeds; each takes the tags and lang of its capture's feed."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    originals = {feed["id"]: feed for feed in data["feeds"]}
    feeds = []
    for n in range(FEEDS):
        original = originals.get(catalogue.capture(n)[0], {})
        entry = {"id": f"feed-{n:04d}", "url": server.url(n), "tags": original.get("tags", [])}
        if "lang" in original:
            entry["lang"] = original["lang"]
        feeds.append(entry)
    data["feeds"] = feeds
    path = folder / "watch.bench.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def check_catalogue(catalogue: Catalogue, config: Any) -> None:
    """Two feeds of one capture share no item key; version 1 adds exactly one new item."""
    from wirewatch.core.dedupe import item_key
    from wirewatch.core.feeds import parse_feed
    from wirewatch.local.demo import SEED_MORNING

    count = len(catalogue.captures)
    for n in range(count):
        keys = []
        for feed_n, version in ((n, 0), (n + count, 0), (n, 1)):
            # Both bodies parsed as the same feed: item keys hash the feed id, the check is about the bodies.
            parsed = parse_feed(catalogue.body(feed_n, version), config.feeds[n], now=SEED_MORNING)
            keys.append({item_key(item) for item in parsed.items})
        name = catalogue.capture(n)[0]
        assert keys[0] and not keys[0] & keys[1], f"{name}: two feeds share items"
        assert len(keys[2] - keys[0]) == 1 and keys[0] <= keys[2], f"{name}: version 1 is not one new item"


# --- measuring: AWS calls and capacity, parses, log bytes ---------------------------------------


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size (names + values), for capacity units and storage."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = len(inner.lstrip("-").replace(".", "").lstrip("0")) or 1
        return (digits + 1) // 2 + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: element}) for element in inner)
    if kind == "L":
        return 3 + sum(1 + _value_size(element) for element in inner)
    return 3 + sum(len(key.encode()) + 1 + _value_size(element) for key, element in inner.items())


@dataclass
class Meter:
    """AWS calls by operation, DynamoDB capacity units by table, CPU spent inside calls.

    Capacity as on-demand bills it: a read is ceil(size / 4 KB) units per item (half for
    eventually consistent reads; a key not found costs the minimum), a write ceil(size /
    1 KB) per item, conditional writes refused included, plus the same again for each GSI
    the item appears in (ALL projection). UpdateItem counts 1 unit (alerts only, a few).
    """

    prefix: str
    indexes: dict[str, list[set[str]]]  # logical table id → key attributes of each GSI
    calls: Counter[str] = field(default_factory=Counter)
    units: Counter[str] = field(default_factory=Counter)  # "<Table>.<read|write|gsi-write>"
    items: Counter[str] = field(default_factory=Counter)  # "<Table>.<Operation>" → items in the calls
    sqs_bytes: Counter[str] = field(default_factory=Counter)
    aws_cpu: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _local: threading.local = field(default_factory=threading.local)

    def install(self, events: Any) -> None:
        events.register("before-parameter-build.*.*", self._params)
        events.register("before-call.*.*", self._before)
        events.register("after-call.*.*", self._after)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.units.clear()
            self.items.clear()
            self.sqs_bytes.clear()
            self.aws_cpu = 0.0

    def _params(self, params: dict[str, Any], **_: Any) -> None:
        self._local.params = params

    def _before(self, event_name: str, **_: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        with self._lock:
            self.calls[f"{service}.{operation}"] += 1
        self._local.started = time.thread_time()

    def _after(self, event_name: str, parsed: dict[str, Any], **_: Any) -> None:
        spent = time.thread_time() - getattr(self._local, "started", time.thread_time())
        _, service, operation = event_name.split(".", 2)
        params = getattr(self._local, "params", {})
        with self._lock:
            self.aws_cpu += spent
            if service == "dynamodb":
                self._dynamodb(operation, params, parsed)
            elif service == "sqs" and operation == "SendMessageBatch":
                self.sqs_bytes["SendMessageBatch"] += sum(len(e["MessageBody"].encode()) for e in params["Entries"])
                self.sqs_bytes["messages"] += len(params["Entries"])

    def _table(self, name: str) -> str:
        return name.removeprefix(f"{self.prefix}-")

    def _write(self, table: str, item: dict[str, Any]) -> None:
        units = math.ceil(item_size(item) / 1024)
        self.units[f"{table}.write"] += units
        for keys in self.indexes.get(table, []):
            if keys <= item.keys():
                self.units[f"{table}.gsi-write"] += units

    def _dynamodb(self, operation: str, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        if operation == "BatchGetItem":
            for name, spec in params["RequestItems"].items():
                table, factor = self._table(name), (1.0 if spec.get("ConsistentRead") else 0.5)
                returned = parsed.get("Responses", {}).get(name, [])
                found = sum(math.ceil(item_size(item) / 4096) for item in returned)
                self.units[f"{table}.read"] += factor * (found + len(spec["Keys"]) - len(returned))
                self.items[f"{table}.BatchGetItem"] += len(spec["Keys"])
        elif operation == "BatchWriteItem":
            for name, requests in params["RequestItems"].items():
                table = self._table(name)
                for request in requests:
                    self._write(table, request["PutRequest"]["Item"])
                self.items[f"{table}.BatchWriteItem"] += len(requests)
        elif operation == "PutItem":
            self._write(self._table(params["TableName"]), params["Item"])
            self.items[f"{self._table(params['TableName'])}.PutItem"] += 1
        elif operation == "UpdateItem":
            self.units[f"{self._table(params['TableName'])}.write"] += 1
        elif operation == "Query":
            size = sum(item_size(item) for item in parsed.get("Items", []))
            self.units[f"{self._table(params['TableName'])}.read"] += 0.5 * max(1, math.ceil(size / 4096))
            self.items[f"{self._table(params['TableName'])}.Query"] += len(parsed.get("Items", []))
            if parsed.get("Items"):
                self.items["queries returning items"] += 1


class ParseMeter:
    """Stands in for wirewatch.service.parse_feed: counts calls and their CPU time."""

    def __init__(self, original: Callable[..., Any]) -> None:
        self.original = original
        self.count = 0
        self.cpu = 0.0
        self._lock = threading.Lock()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return self.original(*args, **kwargs)
        finally:
            with self._lock:
                self.count += 1
                self.cpu += time.thread_time() - started

    def reset(self) -> None:
        self.count, self.cpu = 0, 0.0


class LogSink(io.TextIOBase):
    """Where the handlers' stdout goes during a tick: counts bytes, lines and EMF metrics."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._partial = ""
        self.reset()

    def reset(self) -> None:
        self.bytes = self.lines = self.emf_bytes = self.emf_lines = 0
        self.metrics: set[str] = set()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            self._partial += text
            while "\n" in self._partial:
                line, self._partial = self._partial.split("\n", 1)
                self._line(line)
        return len(text)

    def _line(self, line: str) -> None:
        size = len(line.encode()) + 1
        self.bytes += size
        self.lines += 1
        if line.startswith("{") and '"_aws"' in line:
            self.emf_bytes += size
            self.emf_lines += 1
            for directive in json.loads(line)["_aws"]["CloudWatchMetrics"]:
                self.metrics.update(metric["Name"] for metric in directive["Metrics"])


@contextlib.contextmanager
def captured(sink: LogSink) -> Iterator[None]:
    from wirewatch.observability import logger

    handler = logger.logger_handler
    previous = handler.setStream(sink)  # type: ignore[attr-defined]
    try:
        with contextlib.redirect_stdout(sink):
            yield
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]


# --- the ticks ----------------------------------------------------------------------------------


@contextlib.contextmanager
def linear_moto_sqs() -> Iterator[None]:
    """moto's SQS made linear, with the same behaviour.

    For every message it sends or receives, moto 5 works out every queue attribute, and
    each of the approximate counts looks at every message in the queue with a clock read
    that builds two datetimes (~10 us): O(n^2) for the 1,000 jobs of a tick, ~60 s of a
    76 s tick in a first run, none of which is the functions' work or exists in AWS.
    Here the clock is read with time.time() (the same epoch milliseconds moto computes)
    and the retention check reads the retention period instead of every attribute.
    """
    from moto.sqs import models

    def epoch(dt: Any = None) -> float:
        return time.time() if dt is None else original_time(dt)

    def epoch_ms(dt: Any = None) -> float:
        return time.time() * 1000.0 if dt is None else original_ms(dt)

    def retained(self: Any, queue_name: str, message: Any) -> bool:
        period = int(self.get_queue(queue_name).message_retention_period)
        return bool(period + message.sent_timestamp / 1000 > time.time())

    original_time, original_ms = models.unix_time, models.unix_time_millis
    original_retained = models.SQSBackend.is_message_valid_based_on_retention_period
    models.unix_time, models.unix_time_millis = epoch, epoch_ms
    models.SQSBackend.is_message_valid_based_on_retention_period = retained  # type: ignore[method-assign]
    try:
        yield
    finally:
        models.unix_time, models.unix_time_millis = original_time, original_ms
        models.SQSBackend.is_message_valid_based_on_retention_period = original_retained  # type: ignore[method-assign]


@dataclass
class Probe:
    """Wall, CPU and AWS-call CPU since it was made."""

    meter: Meter
    wall: float = field(default_factory=time.perf_counter)
    cpu: float = field(default_factory=time.process_time)
    aws: float = 0.0

    def __post_init__(self) -> None:
        self.aws = self.meter.aws_cpu

    def read(self) -> dict[str, float]:
        return {
            "wall_s": round(time.perf_counter() - self.wall, 4),
            "cpu_s": round(time.process_time() - self.cpu, 4),
            "aws_cpu_s": round(self.meter.aws_cpu - self.aws, 4),
        }


def run_tick(
    label: str, now: Any, *, batch_size: int, meter: Meter, parses: ParseMeter, sink: LogSink, server: FeedServer
) -> dict[str, Any]:
    """One tick as AWS runs it: the scheduler's handler, then the poll handler on SQS batches."""
    from wirewatch.handlers import schedule_feeds
    from wirewatch.runner import LocalContext, drain_poll_queue

    meter.reset()
    parses.reset()
    sink.reset()
    server.control("served")
    payload = {"source": "wirewatch.schedule", "scheduled_time": now.isoformat(timespec="seconds"), "poll_all": True}
    whole = Probe(meter)
    batches = []
    totals: Counter[str] = Counter()
    with captured(sink):
        probe = Probe(meter)
        context = LocalContext(function_name="wirewatch-schedule-local", memory_limit_in_mb=256)
        scheduled = schedule_feeds.lambda_handler(payload, context)
        schedule = probe.read()
        batch_iterator = drain_poll_queue(batch_size=batch_size)
        while True:
            probe = Probe(meter)
            batch_totals = next(batch_iterator, None)
            if batch_totals is None:
                break
            batches.append({**probe.read(), "feeds": batch_totals.get("feeds_polled", 0)})
            totals.update(batch_totals)
    return {
        "label": label,
        **whole.read(),
        "parses": parses.count,
        "parse_cpu_s": round(parses.cpu, 4),
        "served": server.control("served"),
        "calls": dict(sorted(meter.calls.items())),
        "dynamodb_units": {name: round(value, 1) for name, value in sorted(meter.units.items())},
        "dynamodb_items": dict(sorted(meter.items.items())),
        "sqs_bytes": dict(meter.sqs_bytes),
        "logs": {
            "bytes": sink.bytes,
            "lines": sink.lines,
            "emf_bytes": sink.emf_bytes,
            "emf_lines": sink.emf_lines,
            "metrics": sorted(sink.metrics),
        },
        "scheduler": {**schedule, "queued": scheduled.get("feeds_queued", 0)},
        "batches": batches,
        "totals": dict(totals),
    }


def table_report(settings: Any) -> dict[str, Any]:
    """Items and their average size per table and kind (pk prefix), read with an unmetered client."""
    import boto3

    client = boto3.session.Session().client("dynamodb")
    tables = {
        "StateTable": settings.state_table,
        "SeenTable": settings.seen_table,
        "AlertsTable": settings.alerts_table,
        "ItemsTable": settings.items_table,
    }
    report: dict[str, Any] = {}
    for logical, name in tables.items():
        sizes: dict[str, list[int]] = {}
        for page in client.get_paginator("scan").paginate(TableName=name):
            for item in page["Items"]:
                # Told apart by the pk's prefix: feed and rule states, item and story keys,
                # alerts and their deliveries.
                split = logical in ("StateTable", "SeenTable", "AlertsTable")
                kind = item["pk"]["S"].split("#", 1)[0] if split else "item"
                kind = {"feeds": "feed", "rules": "rule"}.get(kind, kind)  # the state table's partitions
                sizes.setdefault(kind, []).append(item_size(item))
        report[logical] = {
            kind: {"items": len(values), "avg_bytes": round(statistics.fmean(values)), "max_bytes": max(values)}
            for kind, values in sizes.items()
        }
    return report


def due_next(settings: Any, config: Any, now: Any) -> int:
    """How many feeds the tick at ``now`` would queue without poll_all (unmetered reads)."""
    import boto3

    from wirewatch.adapters.dynamodb import DynamoDBStateStore
    from wirewatch.core.ports import FeedState
    from wirewatch.core.schedule import PollPolicy, is_due

    store = DynamoDBStateStore(boto3.session.Session().client("dynamodb"), settings.state_table)
    states = store.all_feeds()
    policy = PollPolicy(tick=TICK)
    return sum(is_due(feed, states.get(feed.id) or FeedState(feed.id), now, policy) for feed in config.feeds)


def gsi_keys(template: dict[str, Any]) -> dict[str, list[set[str]]]:
    from wirewatch.local.template import resources_of_type

    return {
        logical: [
            {key["AttributeName"] for key in index["KeySchema"]} for index in properties["GlobalSecondaryIndexes"]
        ]
        for logical, properties in resources_of_type(template, "AWS::DynamoDB::Table").items()
        if properties.get("GlobalSecondaryIndexes")
    }


def run_ticks(
    server: FeedServer, catalogue: Catalogue, concurrency: int, template: dict[str, Any], *, tables: bool
) -> dict[str, Any]:
    import boto3
    from moto import mock_aws

    from wirewatch import service
    from wirewatch.core.watchfile import load_watch
    from wirewatch.local.demo import SEED_MORNING
    from wirewatch.local.template import create_stack_resources
    from wirewatch.runner import reset_handlers

    batch_size = template["Resources"]["PollFunction"]["Properties"]["Events"]["Jobs"]["Properties"]["BatchSize"]
    server.control("reset")
    parses = ParseMeter(service.parse_feed)
    sink = LogSink()
    with mock_aws(), linear_moto_sqs(), tempfile.TemporaryDirectory(prefix="wirewatch-bench-") as scratch:
        config_path = write_watch(Path(scratch), server, catalogue)
        config = load_watch(config_path.read_text(encoding="utf-8"), str(config_path))
        settings = replace(create_stack_resources(template, config_path, "bench"), poll_concurrency=concurrency)
        os.environ.update(settings.as_env())
        boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        meter = Meter("bench", gsi_keys(template))
        meter.install(boto3.DEFAULT_SESSION.events)
        reset_handlers()
        service.parse_feed = parses  # type: ignore[assignment]
        ticks, due = [], []
        try:
            common = {"batch_size": batch_size, "meter": meter, "parses": parses, "sink": sink, "server": server}
            ticks.append(run_tick("1: first poll of every feed", SEED_MORNING, **common))
            due.append(due_next(settings, config, SEED_MORNING + TICK))
            ticks.append(run_tick("2: nothing changed (all 304)", SEED_MORNING + TICK, **common))
            due.append(due_next(settings, config, SEED_MORNING + 2 * TICK))
            changed = sorted(random.Random(SEED).sample(range(FEEDS), round(FEEDS * CHANGED_SHARE)))
            server.control("change", {"feeds": changed})
            ticks.append(run_tick(f"3: {len(changed)} feeds, one new item each", SEED_MORNING + 2 * TICK, **common))
            sizes = table_report(settings) if tables else None  # the same for every concurrency
        finally:
            service.parse_feed = parses.original  # type: ignore[assignment]
            reset_handlers()
    return {
        "poll_concurrency": concurrency,
        "batch_size": batch_size,
        "changed_feeds": len(changed),
        "due_without_poll_all": {"tick 2": due[0], "tick 3": due[1]},
        "ticks": ticks,
        **({"tables": sizes} if sizes else {}),
    }


# --- the sequential baseline and the fetch comparison -------------------------------------------


def sequential_baseline(config: Any) -> dict[str, Any]:
    """Fetch + parse of feeds 0-44 one after another with one HttpFeedFetcher, then the
    same conditional GETs again (all 304); scaled to 1,000 feeds."""
    from wirewatch.adapters.http_fetcher import HttpFeedFetcher
    from wirewatch.core.feeds import parse_feed
    from wirewatch.core.ports import Validators
    from wirewatch.local.demo import SEED_MORNING
    from wirewatch.local.template import LOCAL_NETWORKS

    sample = config.feeds[:BASELINE_SAMPLE]
    validators = {}
    parse_cpu = 0.0
    with HttpFeedFetcher(allowed_networks=LOCAL_NETWORKS) as fetcher:
        start = time.perf_counter()
        for feed in sample:
            result = fetcher.fetch(feed.url, Validators())
            parsing = time.thread_time()
            parse_feed(result.body, feed, content_type=result.content_type, now=SEED_MORNING)
            parse_cpu += time.thread_time() - parsing
            validators[feed.id] = result.validators
        full = time.perf_counter() - start
        start = time.perf_counter()
        for feed in sample:
            assert fetcher.fetch(feed.url, validators[feed.id]).not_modified
        not_modified = time.perf_counter() - start
    scale = FEEDS / len(sample)
    return {
        "sample": len(sample),
        "sample_full_s": round(full, 3),
        "sample_304_s": round(not_modified, 3),
        "sample_parse_cpu_s": round(parse_cpu, 3),
        "full_s": round(full * scale, 2),
        "not_modified_s": round(not_modified * scale, 2),
    }


_HEADERS = {
    "User-Agent": "wirewatch-bench",
    "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.8, */*;q=0.1",
    "Accept-Encoding": "gzip, deflate",
}


def fetch_threads(urls: list[str], workers: int) -> dict[str, float]:
    """The project's way: one HttpFeedFetcher (urllib3) shared by a ThreadPoolExecutor."""
    from wirewatch.adapters.http_fetcher import HttpFeedFetcher
    from wirewatch.core.ports import Validators
    from wirewatch.local.template import LOCAL_NETWORKS

    with HttpFeedFetcher(allowed_networks=LOCAL_NETWORKS) as fetcher, ThreadPoolExecutor(workers) as pool:
        start, cpu = time.perf_counter(), time.process_time()
        sizes = [len(result.body) for result in pool.map(lambda url: fetcher.fetch(url, Validators()), urls)]
        return {"wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu, "bytes": sum(sizes)}


def fetch_bare_threads(urls: list[str], workers: int) -> dict[str, float]:
    """A plain urllib3 PoolManager (same pool sizes) in a ThreadPoolExecutor: the thread pool's
    own cost, without HttpFeedFetcher's guards (address check, watchdog timer, size limit)."""
    import urllib3

    pool = urllib3.PoolManager(num_pools=32, maxsize=4)

    def one(url: str) -> int:
        response = pool.request("GET", url, headers=_HEADERS, retries=False, redirect=False, preload_content=False)
        size = len(response.read())
        response.release_conn()
        return size

    with ThreadPoolExecutor(workers) as executor:
        start, cpu = time.perf_counter(), time.process_time()
        sizes = list(executor.map(one, urls))
        return {"wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu, "bytes": sum(sizes)}


async def _fetch_aiohttp(urls: list[str], workers: int) -> list[int]:
    import aiohttp

    limit = asyncio.Semaphore(workers)
    timeout = aiohttp.ClientTimeout(total=30, connect=5, sock_read=15)
    connector = aiohttp.TCPConnector(limit=workers, limit_per_host=0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=_HEADERS) as session:

        async def one(url: str) -> int:
            async with limit, session.get(url, allow_redirects=False) as response:
                size = 0
                async for chunk in response.content.iter_chunked(64 * 1024):
                    size += len(chunk)
                    if size > MAX_BYTES:
                        raise ValueError("too large")
                assert response.status == 200
                return size

        return await asyncio.gather(*(one(url) for url in urls))


def fetch_asyncio(urls: list[str], workers: int) -> dict[str, float]:
    """aiohttp on one event loop, at most ``workers`` requests in flight (a semaphore)."""
    start, cpu = time.perf_counter(), time.process_time()
    sizes = asyncio.run(_fetch_aiohttp(urls, workers))
    return {"wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu, "bytes": sum(sizes)}


def compare_fetching(server: FeedServer) -> list[dict[str, Any]]:
    urls = [server.url(n) for n in range(FEEDS)]
    rows = []
    for turn, workers in enumerate(FETCH_CONCURRENCIES):
        runs: dict[str, dict[str, float]] = {}
        order = [("threads", fetch_threads), ("asyncio", fetch_asyncio), ("urllib3", fetch_bare_threads)]
        for name, fetch in order if turn % 2 == 0 else order[::-1]:  # alternate who goes first
            runs[name] = fetch(urls, workers)
        assert runs["threads"]["bytes"] == runs["asyncio"]["bytes"] == runs["urllib3"]["bytes"]
        rows.append({"concurrency": workers, **runs})
    return rows


# --- printing -----------------------------------------------------------------------------------


def _calls_line(calls: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in calls.items())


def _writes(tick: dict[str, Any]) -> int:
    return sum(
        n
        for name, n in tick["calls"].items()
        if name.split(".")[1] in {"PutItem", "UpdateItem", "BatchWriteItem", "DeleteItem"} and name[:8] == "dynamodb"
    )


def _same_work(one: dict[str, Any], other: dict[str, Any]) -> bool:
    def work(run: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [(t["calls"], t["dynamodb_units"], t["parses"], t["logs"]["lines"]) for t in run["ticks"]]

    return work(one) == work(other)


def print_baseline(baseline: dict[str, Any]) -> None:
    print(
        f"sequential baseline (one HttpFeedFetcher, one feed after another), measured on feeds 0-"
        f"{baseline['sample'] - 1} and scaled x{FEEDS / baseline['sample']:.2f} to {FEEDS}:"
    )
    print(
        f"  fetch + parse: {baseline['sample_full_s']:.1f} s for {baseline['sample']} "
        f"(parse CPU {baseline['sample_parse_cpu_s']:.2f} s) -> {baseline['full_s']:.1f} s for {FEEDS}"
    )
    print(f"  conditional GET, all 304: {baseline['sample_304_s']:.1f} s -> {baseline['not_modified_s']:.1f} s")


def print_ticks(run: dict[str, Any], baseline: dict[str, Any], memory_mb: dict[str, int], workers: int) -> None:
    share = run["changed_feeds"] / FEEDS
    references = [
        baseline["full_s"],
        baseline["not_modified_s"],
        baseline["not_modified_s"] * (1 - share) + baseline["full_s"] * share,
    ]
    print(
        f"\nPOLL_CONCURRENCY {run['poll_concurrency']}, BatchSize {run['batch_size']} (template), "
        f"batches run one after another (one worker)"
    )
    print(
        f"{'tick':<34} {'wall':>7} {'baseline':>9} {'faster':>7} {'cpu':>6} {'in AWS':>7} {'parse':>6}"
        f" {'batches':>7} {'batch med/max':>13} {'AWS proj':>9} {'faster':>7}"
    )
    for tick, reference in zip(run["ticks"], references, strict=True):
        walls = [batch["wall_s"] for batch in tick["batches"]]
        projected = projected_tick(tick, memory_mb, workers)
        print(
            f"{tick['label']:<34} {tick['wall_s']:6.1f}s {reference:8.1f}s {reference / tick['wall_s']:6.1f}x "
            f"{tick['cpu_s']:5.1f}s {tick['aws_cpu_s']:6.1f}s {tick['parse_cpu_s']:5.1f}s {len(walls):>7} "
            f"{statistics.median(walls):5.2f}/{max(walls):5.2f}s {projected:8.1f}s {reference / projected:6.1f}x"
        )
    print(
        "  baseline of tick 3 = 95 % of the 304 baseline + 5 % of the full one; cpu = this process's CPU, in AWS =\n"
        "  CPU inside boto3 calls (moto), parse = CPU in parse_feed. AWS proj (a projection, not a measurement):\n"
        f"  the batches spread over MaxPollWorkers = {workers} functions, each batch's own CPU (cpu - in AWS)\n"
        f"  stretched x{VCPU_MB / memory_mb['PollFunction']:.2f} for {memory_mb['PollFunction']} MB (1 vCPU at "
        f"{VCPU_MB} MB), the scheduler's x{VCPU_MB / memory_mb['ScheduleFunction']:.2f} for "
        f"{memory_mb['ScheduleFunction']} MB, moto's time kept as a stand-in for AWS latency."
    )


def print_work(run: dict[str, Any]) -> None:
    print(f"\nAPI calls per tick (POLL_CONCURRENCY {run['poll_concurrency']}):")
    for tick in run["ticks"]:
        print(f"  {tick['label']}")
        print(f"    {_calls_line(tick['calls'])}")
        units = ", ".join(f"{name} {value:g}" for name, value in tick["dynamodb_units"].items())
        print(f"    DynamoDB capacity units: {units or 'none'}")
        print(
            f"    parses {tick['parses']}; HTTP {tick['served']}; logs {tick['logs']['lines']} lines, "
            f"{tick['logs']['bytes']} bytes ({tick['logs']['emf_bytes']} of EMF metrics)"
        )
    second = run["ticks"][1]
    read_operations = {"BatchGetItem", "GetItem", "Query"}
    reads = {name: n for name, n in second["calls"].items() if name.split(".")[1] in read_operations}
    read_items = sum(n for name, n in second["dynamodb_items"].items() if name.endswith(("BatchGetItem", ".Query")))
    keyed = reads.get("dynamodb.BatchGetItem", 0)
    queried = second["dynamodb_items"].get("queries returning items", 0)
    others = sum(reads.values()) - keyed - queried
    print(
        f"  tick 2 against its targets: {second['parses']} parses (target 0), {_writes(second)} DynamoDB writes "
        f"(target 0), {keyed} BatchGetItem + {queried} Query for {read_items} items (at most "
        f"{math.ceil(read_items / 100)} calls allowed at one per 100), other reads {others}"
    )
    print(f"  feeds due without poll_all: {run['due_without_poll_all']} of {FEEDS}")


def print_fetching(rows: list[dict[str, Any]]) -> None:
    floor = FEEDS * sum(LATENCY) / 2
    print(
        f"\nfetching {FEEDS} feeds (full bodies): threads = HttpFeedFetcher in a ThreadPoolExecutor (the project's"
        "\nway), asyncio = aiohttp with a semaphore; urllib3 = a bare PoolManager in the same thread pool"
    )
    print(
        f"{'N':>5} {'floor':>6} {'threads':>8} {'asyncio':>8} {'faster':>8} {'by':>6} {'urllib3':>8}"
        f"   CPU ms per fetch: {'threads':>7} {'asyncio':>7} {'urllib3':>7}"
    )
    for row in rows:
        threads, aio, bare = row["threads"], row["asyncio"], row["urllib3"]
        winner = "threads" if threads["wall_s"] < aio["wall_s"] else "asyncio"
        ratio = max(threads["wall_s"], aio["wall_s"]) / min(threads["wall_s"], aio["wall_s"])
        cpu = " ".join(f"{run['cpu_s'] / FEEDS * 1000:7.2f}" for run in (threads, aio, bare))
        print(
            f"{row['concurrency']:>5} {floor / row['concurrency']:5.1f}s {threads['wall_s']:7.2f}s "
            f"{aio['wall_s']:7.2f}s {winner:>8} {ratio:5.2f}x {bare['wall_s']:7.2f}s   {'':>17} {cpu}"
        )
    print("  floor = mean latency x feeds / N (no client overhead); CPU = this process's CPU time / 1,000 fetches")


def environment_like_aws() -> None:
    from wirewatch.local.stack import EMULATOR_ENV

    os.environ.update(EMULATOR_ENV)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    # Metrics on (they are on in AWS): their EMF lines are part of the log bytes measured.
    os.environ.pop("POWERTOOLS_METRICS_DISABLED", None)
    os.environ.update({"POWERTOOLS_SERVICE_NAME": "wirewatch", "POWERTOOLS_METRICS_NAMESPACE": "Wirewatch"})
    os.environ["LOG_LEVEL"] = "INFO"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--part", choices=("all", "ticks", "fetch"), default="all")
    parser.add_argument("--concurrency", type=int, nargs="+", default=list(TICK_CONCURRENCIES))
    parser.add_argument("--no-json", action="store_true", help=f"do not write {CALLS_JSON.name}")
    parser.add_argument("--batch-size", type=int, help="the SQS trigger's BatchSize instead of the template's")
    args = parser.parse_args()
    environment_like_aws()
    _raise_fd_limit()

    from wirewatch.core.watchfile import load_watch
    from wirewatch.local.template import read_template

    template = read_template(TEMPLATE)
    if args.batch_size:
        trigger = template["Resources"]["PollFunction"]["Properties"]["Events"]["Jobs"]["Properties"]
        trigger["BatchSize"] = args.batch_size
    catalogue = Catalogue(CAPTURES)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "feeds": FEEDS,
        "hosts": HOSTS,
        "latency_s": list(LATENCY),
        "seed": SEED,
        "memory_mb": {
            name: template["Resources"][name]["Properties"]["MemorySize"]
            for name in ("ScheduleFunction", "PollFunction")
        },
    }
    with FeedServer() as server:
        with tempfile.TemporaryDirectory(prefix="wirewatch-bench-") as scratch:
            path = write_watch(Path(scratch), server, catalogue)
            config = load_watch(path.read_text(encoding="utf-8"), str(path))
        check_catalogue(catalogue, config)
        print(
            f"{FEEDS} feeds ({len(catalogue.captures)} captures rewritten per feed) on {HOSTS} loopback addresses, "
            f"{LATENCY[0] * 1000:.0f}-{LATENCY[1] * 1000:.0f} ms per response, seed {SEED}; moto in-process\n"
        )
        if args.part in ("all", "ticks"):
            baseline = sequential_baseline(config)
            results["baseline"] = baseline
            print_baseline(baseline)
            results["runs"] = [
                run_ticks(server, catalogue, n, template, tables=i == 0) for i, n in enumerate(args.concurrency)
            ]
            workers = int(template["Parameters"]["MaxPollWorkers"]["Default"])
            results["max_poll_workers"] = workers
            for run in results["runs"]:
                print_ticks(run, baseline, results["memory_mb"], workers)
            for run in results["runs"]:
                if run is not results["runs"][0] and _same_work(run, results["runs"][0]):
                    print(
                        f"\nPOLL_CONCURRENCY {run['poll_concurrency']}: the same calls, capacity units, parses and "
                        "log lines in every tick"
                    )
                else:
                    print_work(run)
        if args.part in ("all", "fetch"):
            results["fetching"] = compare_fetching(server)
            print_fetching(results["fetching"])
    print(f"\n(whole run {time.perf_counter() - started:.0f} s)")
    if not args.no_json and "runs" in results:
        CALLS_JSON.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {CALLS_JSON.relative_to(ROOT)}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
