"""The ``wirewatch`` command: validate and try watch files, run cycles, manage subscribers.

Never imported by Lambda handlers; errors from the core become ``file:line: problem``
messages and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wirewatch.cli_status import add_status_command
from wirewatch.core.errors import FeedError, RulesError, WirewatchError
from wirewatch.core.model import FeedSource

if TYPE_CHECKING:
    from collections.abc import Sequence

    from wirewatch.core.model import Item, Match, WatchConfig

# template.yaml's default RetentionDays: how long the deployed stores keep items, alerts and fold bands.
RETENTION = timedelta(days=30)


def _load(path: str) -> WatchConfig:
    from wirewatch.core.watchfile import load_watch_bytes

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise WirewatchError(f"{path}: cannot read: {exc.strerror}") from exc
    return load_watch_bytes(data, path)


def cmd_validate(args: argparse.Namespace) -> int:
    """Check watch files against the schema and each other; print every problem.

    Example: wirewatch validate examples/watch.yaml
    """
    failed = False
    for path in args.config:
        try:
            config = _load(path)
        except WirewatchError as exc:  # every file's problems, not only the first file's
            print(exc if isinstance(exc, RulesError) else f"error: {exc}", file=sys.stderr)
            failed = True
            continue
        print(
            f"{path}: ok ({len(config.feeds)} feeds, {len(config.rules)} rules, "
            f"{len({s.id for s in config.subscribers})} subscribers)"
        )
    return 1 if failed else 0


def _read_feed(source: str) -> tuple[bytes, str | None]:
    if source.startswith(("http://", "https://")):
        from wirewatch.adapters.http_fetcher import HttpFeedFetcher
        from wirewatch.core.ports import Validators
        from wirewatch.local.template import LOCAL_NETWORKS

        # On your own machine a feed served on localhost is yours to try; the rest of the
        # private ranges (and cloud metadata) stay refused, as in the deployed functions.
        result = HttpFeedFetcher(allowed_networks=LOCAL_NETWORKS).fetch(source, Validators())
        return result.body, result.content_type
    try:
        return Path(source).read_bytes(), None
    except OSError as exc:
        raise FeedError("unreadable", f"{source}: {exc.strerror}") from exc


def _configured_feed(config: WatchConfig, feed_id: str, path: str) -> FeedSource:
    try:
        return config.feed(feed_id)
    except KeyError:
        known = ", ".join(feed.id for feed in config.feeds)
        raise WirewatchError(f"{path}: no feed {feed_id!r} (feeds: {known})") from None


def cmd_test(args: argparse.Namespace) -> int:
    """Run the rules over a feed (file or URL) without AWS; show what matches and why.

    Example: wirewatch test examples/watch.yaml --feed examples/feeds/boursorama-reuters.xml
    """
    from wirewatch.core.explain import explain
    from wirewatch.core.feeds import parse_feed
    from wirewatch.core.matching import match_item

    config = _load(args.config)
    if args.rule:
        config = _only_rules(config, args.rule, args.config)
    # An ad-hoc feed belongs to no configured feed or tag: rules are tried unrestricted.
    feed = _configured_feed(config, args.as_feed, args.config) if args.as_feed else FeedSource("(test)", args.feed)
    rules = (
        config.rules if args.as_feed else tuple(replace(r, feeds=frozenset(), tags=frozenset()) for r in config.rules)
    )
    body, content_type = _read_feed(args.feed)
    parsed = parse_feed(body, feed, content_type=content_type, now=datetime.now(UTC))
    matched_items = 0
    for item in parsed.items:
        matches = match_item(item, feed, rules)
        if args.json:
            for match in matches:
                print(json.dumps(_match_json(match, explain_it=args.explain), ensure_ascii=False))
            matched_items += bool(matches)
            continue
        if not matches and not args.all:
            continue
        matched_items += bool(matches)
        print(f"- {item.title}\n  {item.link}")
        for match in matches:
            print(f"    => {match.rule.id} [{match.rule.severity.label}] matched: {', '.join(match.matched)}")
            if args.explain:
                for line in explain(match):
                    print(f"         {line}")
        if not matches:
            print("    (no rule)")
    if not args.json:
        print(f"{len(parsed.items)} items, {matched_items} matching", file=sys.stderr)
        for problem in parsed.problems:
            print(f"feed problem: {problem}", file=sys.stderr)
    return 0


def _match_json(match: Match, *, explain_it: bool) -> dict[str, Any]:
    from wirewatch.core.explain import explain

    item = match.item
    found: dict[str, Any] = {
        "rule": match.rule.id,
        "title": item.title,
        "link": item.link,
        "matched": list(match.matched),
        "severity": match.rule.severity.label,
        "published": item.published.isoformat() if item.published else None,
        "lang": item.lang,
    }
    if explain_it:
        found["explanation"] = explain(match)
    return found


def _repo_file(name: str) -> Path:
    for folder in [Path.cwd(), *Path.cwd().parents]:
        if (folder / name).exists():
            return folder / name
    raise WirewatchError(f"cannot find {name} in this folder or above; run from the wirewatch checkout")


def cmd_run(args: argparse.Namespace) -> int:
    """Run polling cycles through the real handler: on the local emulator, or on AWS.

    Example: wirewatch run --local          (moto + bundled feeds, two cycles on 26/06/2024)
             wirewatch run --once --stack wirewatch   (the deployed stack)
    """
    if args.local:
        from wirewatch.local.demo import SEED_MORNING, run_demo

        config = Path(args.config) if args.config else _repo_file("examples/watch.yaml")
        samples = Path(args.samples) if args.samples else _repo_file("examples/feeds")
        start = _parse_time(args.at) if args.at else SEED_MORNING
        return run_demo(_repo_file("template.yaml"), config, samples, cycles=args.cycles, start=start)
    from wirewatch.runner import run_on_aws

    named = Path(args.config) if args.config else None
    bundled = _repo_file("functions/watch.yaml")
    return run_on_aws(stack=args.stack, poll_all=args.all_feeds, bundled=bundled, config=named)


def _parse_time(text: str) -> datetime:
    try:
        return _iso_time(text)
    except ValueError as exc:
        raise WirewatchError(f"--at: not an ISO-8601 time: {text!r}") from exc


def _iso_time(text: str) -> datetime:
    """An ISO-8601 date or time, UTC unless it says otherwise.

    Raises:
        ValueError: not such a time.
    """
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _since(text: str, now: datetime) -> datetime:
    from wirewatch.core.watchfile import parse_duration

    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        return _iso_time(text)
    except ValueError:
        raise WirewatchError(
            f"--since: {text!r} is neither a duration back from now (30m, 24h, 7d) "
            "nor an ISO-8601 date or time (2024-06-01, 2024-06-01T08:00Z)"
        ) from None


def _feed_items(config: WatchConfig, sources: Sequence[str], now: datetime) -> list[tuple[FeedSource, Item]]:
    """Items of feed files or URLs; a file named after a configured feed (``<id>.xml``) is that feed."""
    from wirewatch.core.feeds import parse_feed

    known = {feed.id: feed for feed in config.feeds}
    items: list[tuple[FeedSource, Item]] = []
    for source in sources:
        feed = known.get(Path(source).name.split(".", 1)[0]) or FeedSource(id=Path(source).stem, url=source)
        body, content_type = _read_feed(source)
        items.extend((feed, item) for item in parse_feed(body, feed, content_type=content_type, now=now).items)
    return items


def _archived_items(
    config: WatchConfig, stack: str, since: datetime, now: datetime
) -> tuple[list[tuple[FeedSource, Item]], timedelta]:
    """The items the stack archived since ``since``, and how long its stores remember (RetentionDays)."""
    from wirewatch.adapters import aws
    from wirewatch.adapters.dynamodb import DynamoDBItemArchive
    from wirewatch.runner import stack_outputs

    outputs = stack_outputs(stack)  # first: it words a missing region or stack
    retention = timedelta(days=int(outputs.get("RetentionDays") or RETENTION.days))
    if since < now - retention:
        print(f"the archive keeps {retention.days} days: nothing older than that is read")
    archive = DynamoDBItemArchive(aws.dynamodb_client(), outputs["ItemsTableName"], retention)
    known = {feed.id: feed for feed in config.feeds}
    items = [
        (known.get(item.feed_id) or FeedSource(id=item.feed_id, url=""), item)
        for item in archive.items_since(since, now)
    ]
    return items, retention


def cmd_backtest(args: argparse.Namespace) -> int:
    """Count the alerts each rule would have sent per day, with sample matches.

    Stories and rewritten reports of one event are folded as the pipeline folds them
    (the watch file's story_window and fold_window); folded reports are counted apart.
    Runs over the items the deployed pipeline archived (--stack), or over feed files
    or URLs (--feed, repeatable; a file named <feed-id>.xml counts as that feed).

    Example: wirewatch backtest examples/watch.yaml --since 2024-06-01 --feed examples/feeds/boursorama-reuters.xml
    """
    from wirewatch.core.arming import remembered
    from wirewatch.core.backtest import backtest

    config = _load(args.config)
    if args.rule:
        config = _only_rules(config, args.rule, args.config)
    now = datetime.now(UTC)
    since = _since(args.since, now)
    if args.feed:
        items, retention = _feed_items(config, args.feed, now), RETENTION
    else:
        items, retention = _archived_items(config, args.stack, since, now)
    settings = config.settings
    report = backtest(
        items,
        config.rules,
        since=since,
        story_window=settings.story_window,
        # As the poller caps it: past what the stores remember, no fold can be promised.
        fold_window=min(settings.fold_window, remembered(retention)),
        # Bands live as long as the alerts they name (bootstrap); an archive backtest spans
        # less than that, a long run over feed files sees old bands expire as they would.
        band_retention=retention,
    )
    print(f"{report.items} items since {since.date().isoformat()} ({report.undated} undated, left out)")
    for result in report.rules:
        days = len(result.per_day)
        print(f"\n{result.rule.id}: {result.total} alert(s) on {days} day(s), {result.folded} folded report(s)")
        for day, count in sorted(result.per_day.items()):
            print(f"  {day.isoformat()}  {count:4d}  {'#' * min(count, 60)}")
        for sample in result.samples:
            when = sample.item.published.strftime("%Y-%m-%d %H:%M") if sample.item.published else "undated"
            print(f"  e.g. {when}  {sample.item.title[:90]}\n       {sample.item.link}")
            print(f"       matched: {', '.join(sample.matched)}")
    return 0


def _only_rules(config: WatchConfig, wanted: Sequence[str], source: str) -> WatchConfig:
    ids = {rule.id for rule in config.rules}
    unknown = sorted(set(wanted) - ids)
    if unknown:
        raise WirewatchError(f"{source}: no rule {', '.join(unknown)} (rules: {', '.join(sorted(ids))})")
    return replace(config, rules=tuple(rule for rule in config.rules if rule.id in wanted))


def cmd_push(args: argparse.Namespace) -> int:
    """Validate a watch file and upload it as the deployed stack's live rules (no redeploy).

    The next cycle loads it; a file that does not validate is never uploaded.

    Example: wirewatch push examples/watch.yaml --stack wirewatch
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from wirewatch.adapters import aws
    from wirewatch.runner import stack_outputs

    config = _load(args.config)
    bucket = stack_outputs(args.stack)["ConfigBucketName"]
    body = Path(args.config).read_bytes()
    try:
        response = aws.s3_client().put_object(
            Bucket=bucket, Key="watch.yaml", Body=body, ContentType="application/yaml"
        )
    except (ClientError, BotoCoreError) as exc:
        raise WirewatchError(f"cannot upload to s3://{bucket}/watch.yaml: {exc}") from exc
    version = response.get("VersionId", "unversioned")
    print(f"{args.config}: valid ({len(config.rules)} rules); uploaded to s3://{bucket}/watch.yaml (version {version})")
    return 0


def cmd_subscribe(args: argparse.Namespace) -> int:
    """Create, update and remove the topic's email/SMS subscriptions to match the watch file.

    Example: wirewatch subscribe examples/watch.yaml --stack wirewatch [--dry-run]
    """
    from wirewatch.adapters import aws
    from wirewatch.adapters.sns import SNSSubscriptionManager
    from wirewatch.runner import stack_outputs

    config = _load(args.config)
    topic_arn = args.topic_arn or stack_outputs(args.stack)["AlertsTopicArn"]
    changes = SNSSubscriptionManager(aws.sns_client(), topic_arn).sync(config, dry_run=args.dry_run)
    for change in changes:
        print(change.describe())
    if any(change.action == "create" and change.protocol == "email" for change in changes) and not args.dry_run:
        print("Email subscribers receive a confirmation link from AWS; alerts start once they click it.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wirewatch", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser("validate", help="check watch files", description=cmd_validate.__doc__)
    validate.add_argument("config", nargs="+", help="watch file(s)")
    validate.set_defaults(handler=cmd_validate)

    test = commands.add_parser("test", help="try rules on a feed without AWS", description=cmd_test.__doc__)
    test.add_argument("config", help="watch file")
    test.add_argument("--feed", required=True, help="feed file path or http(s) URL")
    test.add_argument("--as", dest="as_feed", metavar="FEED_ID", help="treat the feed as this configured feed")
    test.add_argument("--json", action="store_true", help="one JSON object per matching (rule, item)")
    test.add_argument("--all", action="store_true", help="also list items no rule matched")
    test.add_argument("--rule", action="append", metavar="ID", help="only this rule (repeatable)")
    test.add_argument("--explain", action="store_true", help="show each clause that fired, with the words")
    test.set_defaults(handler=cmd_test)

    run = commands.add_parser("run", help="run polling cycles", description=cmd_run.__doc__)
    where = run.add_mutually_exclusive_group(required=True)
    where.add_argument("--local", action="store_true", help="embedded moto emulator with the bundled feeds")
    where.add_argument("--once", action="store_true", help="one cycle against the AWS account in the environment")
    run.add_argument("--cycles", type=int, default=2, help="cycles to run locally (default 2)")
    run.add_argument(
        "--at", help="--local: time of the first cycle (default 2024-06-26T06:00Z, the morning of the seed wire)"
    )
    run.add_argument(
        "--config",
        help="watch file (with --local: examples/watch.yaml; with --stack: the stack's, pushed to its bucket, "
        "else functions/watch.yaml)",
    )
    run.add_argument("--samples", help="folder of <feed-id>.* captures for --local (default examples/feeds)")
    run.add_argument("--stack", default="wirewatch", help="deployed stack for --once (default wirewatch)")
    run.add_argument("--all-feeds", action="store_true", help="poll every feed, due or not")
    run.set_defaults(handler=cmd_run)

    back = commands.add_parser("backtest", help="alerts rules would have sent", description=cmd_backtest.__doc__)
    back.add_argument("config", help="watch file")
    back.add_argument("--rule", action="append", metavar="ID", help="only this rule (repeatable)")
    back.add_argument(
        "--since",
        default="30d",
        help="a duration back from now (30m, 24h, 7d) or an ISO-8601 date or time (default 30d)",
    )
    source = back.add_mutually_exclusive_group()
    source.add_argument("--feed", action="extend", nargs="+", help="feed files or URLs instead of the archive")
    source.add_argument("--stack", default="wirewatch", help="deployed stack whose archive to read (default wirewatch)")
    back.set_defaults(handler=cmd_backtest)

    push = commands.add_parser("push", help="validate and upload the live watch file", description=cmd_push.__doc__)
    push.add_argument("config", help="watch file")
    push.add_argument("--stack", default="wirewatch", help="deployed stack (default wirewatch)")
    push.set_defaults(handler=cmd_push)

    subscribe = commands.add_parser("subscribe", help="sync SNS subscriptions", description=cmd_subscribe.__doc__)
    subscribe.add_argument("config", help="watch file")
    target = subscribe.add_mutually_exclusive_group()
    target.add_argument("--stack", default="wirewatch", help="deployed stack (default wirewatch)")
    target.add_argument("--topic-arn", help="SNS topic ARN instead of the stack's")
    subscribe.add_argument("--dry-run", action="store_true", help="show the changes, make none")
    subscribe.set_defaults(handler=cmd_subscribe)
    add_status_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: Any = args.handler(args)
    except RulesError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    except WirewatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
