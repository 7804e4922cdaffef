"""What a polling cycle costs: AWS calls by operation and wall time, cycle after cycle.

Runs the real handler on moto (in-process) over the bundled sample feeds served by
the local sample server, and prints, for each kind of cycle, the DynamoDB and SNS
calls and the time relative to a baseline measured in the same run: fetching and
parsing the same feeds with no AWS at all.

    .venv/bin/python bench/cycle.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REPEATS = 5


def main() -> None:
    import boto3
    from moto import mock_aws

    from wirewatch.adapters.http_fetcher import HttpFeedFetcher
    from wirewatch.core.feeds import parse_feed
    from wirewatch.core.ports import Validators
    from wirewatch.core.watchfile import load_watch
    from wirewatch.handlers import poll_feeds
    from wirewatch.local.demo import SEED_MORNING
    from wirewatch.local.samples import SampleFeedServer
    from wirewatch.local.stack import EMULATOR_ENV, localised_config
    from wirewatch.local.template import create_stack_resources, read_template
    from wirewatch.runner import invoke_poll

    os.environ.update(EMULATOR_ENV)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    samples = ROOT / "examples" / "feeds"
    rows: list[tuple[str, float, Counter[str], dict[str, Any]]] = []
    with SampleFeedServer(samples) as server, mock_aws():
        scratch = Path(os.environ.get("TMPDIR", "/tmp")) / "wirewatch-bench"
        scratch.mkdir(exist_ok=True)
        config_path, _ = localised_config(ROOT / "examples" / "watch.yaml", server, scratch)
        config = load_watch(config_path.read_text(encoding="utf-8"), str(config_path))

        fetcher = HttpFeedFetcher()
        baseline_times = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            for feed in config.feeds:
                result = fetcher.fetch(feed.url, Validators())
                parse_feed(result.body, feed, content_type=result.content_type, now=datetime.now(UTC))
            baseline_times.append(time.perf_counter() - start)
        baseline = statistics.median(baseline_times)

        settings = create_stack_resources(read_template(ROOT / "template.yaml"), config_path, "bench")
        os.environ.update(settings.as_env())
        calls: Counter[str] = Counter()

        def count(event_name: str, **_: Any) -> None:
            calls[event_name.split(".", 1)[1]] += 1

        boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register("before-call.*.*", count)
        poll_feeds.reset()

        def cycle(label: str, **event: Any) -> None:
            calls.clear()
            start = time.perf_counter()
            # The demo's replay clock: the seed wire is news, the older captures arm silently.
            result = invoke_poll(event, now=SEED_MORNING + len(rows) * timedelta(minutes=5))
            rows.append((label, time.perf_counter() - start, Counter(calls), result))

        cycle("1: first poll, 315 new items", poll_all=True)
        cycle("2: nothing changed (304s)", poll_all=True)
        # Erase the stored validators: every body comes back whole, every item is found
        # seen. The 15 PutItem are the validators being learned again, one per feed.
        poller = poll_feeds._get_poller()
        states = poller.ports.state.load_feeds([f.id for f in config.feeds])
        for state in states.values():
            poller.ports.state.save_feed(replace(state, validators=Validators()))
        cycle("3: bodies re-sent, all items seen", poll_all=True)

    feeds = len(config.feeds)
    print(f"baseline: fetch + parse of {feeds} feeds, no AWS: {baseline * 1000:.1f} ms (median of {REPEATS})")
    print(f"{'cycle':<38} {'time':>9} {'x base':>7}  AWS calls")
    for label, seconds, counted, result in rows:
        described = ", ".join(f"{name} {n}" for name, n in sorted(counted.items()))
        print(f"{label:<38} {seconds * 1000:7.1f}ms {seconds / baseline:6.2f}x  {described}")
        print(f"{'':<38} {'':>9} {'':>7}  result: {result}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "functions"))
    main()
