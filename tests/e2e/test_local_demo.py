"""The README's main command, run as a user runs it: moto server, template resources,
bundled feeds, two ticks through the real handlers (scheduler, then poll workers on the
queue it fills), alerts read back from SQS inboxes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_local(*options: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    completed = subprocess.run(
        [sys.executable, "-m", "wirewatch.cli", "run", "--local", *options],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_local_run_prints_both_seed_alerts_once_then_nothing_new() -> None:
    out = run_local()
    cycle_one, cycle_two = out.split("tick 2:", 1)

    subjects = re.findall(r"\[email to security-desk\] Subject: (.*)", cycle_one)
    assert len(subjects) == 2
    assert any(s.startswith("[CRITICAL] Strike or attack on Crimea") for s in subjects)
    assert any(s.startswith("[HIGH] US and Russian defence ministers in contact") for s in subjects)
    assert cycle_one.count("[SMS to duty-phone]") == 1
    assert "0 messages published, 0 delivered to the inboxes" in cycle_two
    assert "[email to" not in cycle_two
    # 08:00 in Paris on the replayed morning, whatever the hour the demo is run at: the
    # duty officer's quiet hours (22:00-07:00) are over.
    assert cycle_one.count("[email to duty-officer]") == 1


def test_a_replay_at_night_holds_the_duty_officers_alert_until_seven() -> None:
    out = run_local("--at", "2024-06-26T21:30:00Z")  # 23:30 in Paris
    assert "[email to duty-officer]" not in out
    assert "[held for duty-officer/email] 1 alert(s) until the end of quiet hours: 2024-06-27 07:00 CEST" in out
