"""``wirewatch status``: feed health and recent alerts per rule, from a deployed stack's tables.

Kept apart from ``cli.py`` so the command can be registered with one call; it is
imported by the CLI only (heavy imports wait for the command to run).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from wirewatch.core.model import WatchConfig
    from wirewatch.status import StatusReport


def cmd_status(args: argparse.Namespace) -> int:
    """Each feed's health (ok, failing, paused, gone, moved; last new item; last error) and
    each rule's alerts in the last 24 hours and 7 days, read from the stack's tables.

    The feeds and rules listed are those of the watch file in force (the stack's live
    one in S3, else the bundled functions/watch.yaml; --config to name one), plus any
    the tables still hold that it no longer names.

    Example: wirewatch status --stack wirewatch
             wirewatch status --local      (the demo's two ticks on the embedded emulator)
    """
    report = _local_report(args.config) if args.local else _stack_report(args.stack, args.config)
    if args.json:
        from wirewatch.status import status_json

        print(json.dumps(status_json(report), indent=2, ensure_ascii=False))
    else:
        from wirewatch.status import format_status

        print(format_status(report))
    return 0


def _stack_report(stack: str, config_path: str | None) -> StatusReport:
    from wirewatch.adapters import aws
    from wirewatch.runner import stack_outputs
    from wirewatch.status import gather_status

    outputs = stack_outputs(stack)
    config = _load(config_path) if config_path else _config_in_force(outputs)
    return gather_status(
        aws.dynamodb_client(),
        state_table=outputs["StateTableName"],
        alerts_table=outputs["AlertsTableName"],
        config=config,
        now=datetime.now(UTC),
    )


def _load(path: str) -> WatchConfig:
    # Imported here: the CLI module imports this one to register the command.
    from wirewatch.cli import _load as load

    return load(path)


def _config_in_force(outputs: dict[str, str]) -> WatchConfig | None:
    """The watch file the functions use: the bucket's, as they read it (an invalid upload
    never replaces the last good one), else the bundled file; None if neither is at hand."""
    from wirewatch.adapters import aws
    from wirewatch.adapters.s3_config import S3ConfigSource
    from wirewatch.core.errors import RulesError

    bundled = _find_upwards("functions/watch.yaml")
    uri = f"s3://{outputs['ConfigBucketName']}/watch.yaml"
    source = S3ConfigSource(aws.s3_client(), uri, fallback=bundled or Path("functions/watch.yaml"))
    try:
        config = source.current()
    except (RulesError, OSError):
        # Nothing pushed and no checkout here: the tables alone still say a lot.
        print("no watch file at hand (none in the bucket, no functions/watch.yaml): tables only", file=sys.stderr)
        return None
    if source.rejected:
        print(f"note: {source.rejected.splitlines()[0]}", file=sys.stderr)
    return config


def _find_upwards(name: str) -> Path | None:
    for folder in [Path.cwd(), *Path.cwd().parents]:
        if (folder / name).exists():
            return folder / name
    return None


def _local_report(config_path: str | None) -> StatusReport:
    """There is no lasting local stack (``run --local`` stops its emulator when it ends),
    so ``--local`` replays the demo's two ticks on a fresh one and reports on them, at the
    demo's clock: the command's output, without an AWS account."""
    from wirewatch.adapters import aws
    from wirewatch.core.errors import WirewatchError
    from wirewatch.local.demo import CYCLE, SEED_MORNING
    from wirewatch.local.stack import local_stack
    from wirewatch.runner import invoke_poll, reset_handlers
    from wirewatch.settings import environment
    from wirewatch.status import gather_status

    template, samples = _find_upwards("template.yaml"), _find_upwards("examples/feeds")
    config = Path(config_path) if config_path else _find_upwards("examples/watch.yaml")
    if template is None or config is None or samples is None:
        raise WirewatchError("--local needs the wirewatch checkout (template.yaml, examples/); run it from there")
    ticks = [SEED_MORNING, SEED_MORNING + CYCLE]
    with local_stack(template, config, samples) as stack, environment({"POWERTOOLS_LOG_LEVEL": "ERROR"}):
        print(f"replaying {len(ticks)} demo ticks on the embedded emulator...", file=sys.stderr)
        reset_handlers()
        try:
            for tick in ticks:
                invoke_poll({"poll_all": True}, now=tick)
        finally:
            reset_handlers()
        return gather_status(
            aws.dynamodb_client(),
            state_table=stack.settings.state_table,
            alerts_table=stack.settings.alerts_table,
            config=stack.config,
            now=ticks[-1],
        )


def add_status_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``status`` on the CLI's subcommands."""
    status = commands.add_parser(
        "status", help="feed health and recent alerts per rule", description=cmd_status.__doc__
    )
    where = status.add_mutually_exclusive_group()
    where.add_argument("--stack", default="wirewatch", help="deployed stack whose tables to read (default wirewatch)")
    where.add_argument("--local", action="store_true", help="the demo's ticks on the embedded emulator, then status")
    status.add_argument(
        "--config", help="watch file naming the feeds and rules (default: the stack's live one; --local: the example)"
    )
    status.add_argument("--json", action="store_true", help="one JSON document, for scripts")
    status.set_defaults(handler=cmd_status)
