"""Proof under faults at scale: the generator of tests/integration/test_faults.py, for many schedules.

Each schedule runs through the real Lambda handlers on moto in-process (one stack, emptied
between schedules) with the faults it draws; then clean ticks until nothing waits; then
the oracle of tests/integration/faults.py. Prints the schedules, the faults that fired by
kind and where the crashes hit, the deliveries, the losses (must be 0) and the duplicates
(each must lie in the window between SNS accepting a message and its SENT write, opened
by an injected fault). Exits 1 if any schedule fails the oracle.

    .venv/bin/python bench/faults.py [--schedules 1000] [--seed 20240626] [--markdown]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from tests.integration.faults import FaultStack, Schedule, Totals, judge, schedules  # noqa: E402


def run(count: int, random_seed: int) -> tuple[Totals, list[str], float]:
    totals = Totals()
    failures: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as workdir, FaultStack(Path(workdir)) as stack:

        @seed(random_seed)
        @settings(
            max_examples=count,
            deadline=None,
            database=None,
            phases=[Phase.generate],  # every schedule counted once; a failure is printed, not shrunk
            suppress_health_check=list(HealthCheck),
        )
        @given(schedule=schedules())
        def one(schedule: Schedule) -> None:
            outcome = stack.run(schedule)
            verdict = judge(outcome)
            totals.add(outcome, verdict)
            if not verdict.ok or outcome.stuck:
                failures.append(
                    f"{schedule}\n  fired: {[str(f) for f in outcome.fired]}\n"
                    f"  never sent: {outcome.stuck}\n"
                    f"  losses: {verdict.losses}\n  unexpected: {verdict.unexpected}\n"
                    f"  unexplained: {verdict.unexplained}\n  unfaulted windows: {verdict.unfaulted_windows}\n"
                    f"  retellings not folded, no fault: {verdict.unfolded_unexplained}"
                )
            if totals.schedules % 50 == 0:
                print(f"  {totals.schedules} schedules, {time.perf_counter() - started:.0f} s", file=sys.stderr)

        one()
        totals.stats.update(stack.stats)
    return totals, failures, time.perf_counter() - started


def report(totals: Totals, failures: list[str], seconds: float, *, markdown: bool) -> str:
    fired = sum(totals.faults.values())
    explained = sum(totals.explained.values())
    lines = [
        f"schedules: {totals.schedules} ({totals.steps} ticks with faults, then clean ticks until nothing waits; "
        f"at most {totals.convergence_ticks} clean ticks) in {seconds:.0f} s",
        f"faults injected: {fired}",
        *(f"  {kind:14s} {n}" for kind, n in sorted(totals.faults.items())),
        f"  jobs delivered twice by SQS: {totals.stats['jobs duplicated']}, poll batches re-run by a second worker: "
        f"{totals.stats['batches re-run']}",
        "crashes by where they hit:",
        *(f"  {point:40s} {n}" for point, n in sorted(totals.crash_points.items())),
        f"tick errors (the invocation failed, Lambda retries): {dict(sorted(totals.errors.items()))}",
        f"expected (rule, event, recipient): {totals.expected} (a story retold by another outlet is one event)",
        f"deliveries: {totals.deliveries} in {totals.messages} messages (digests carry several)",
        f"losses: {totals.losses}",
        f"duplicates: {totals.duplicates}",
        f"  explained by a fault after SNS accepted and before SENT: {explained}",
        *(f"    {cause:38s} {n}" for cause, n in sorted(totals.explained.items())),
        f"  unexplained: {totals.unexplained}",
        f"windows left open (SNS accepted, never marked sent): {totals.open_windows}, "
        f"of which without an injected fault: {totals.unfaulted_windows}",
        f"retellings: {totals.retellings} (rule, retelling, recipient), each to be folded into its story's alert; "
        f"alerted beside their story within the fold window: {totals.unfolded}; alerts withdrawn into another "
        f"worker's on the same event: {totals.withdrawn}",
        f"failing schedules: {len(failures)}",
    ]
    text = "\n".join(lines)
    if failures:
        text += "\n\n" + "\n\n".join(failures[:5])
    if markdown:
        return f"```\n{text}\n```"
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20240626)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    totals, failures, seconds = run(args.schedules, args.seed)
    print(report(totals, failures, seconds, markdown=args.markdown))
    return 1 if failures or totals.losses else 0


if __name__ == "__main__":
    raise SystemExit(main())
