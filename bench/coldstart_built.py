"""Import time of each handler in the built Lambda artifact, against `import boto3` there.

`bench/coldstart.py` measures the repository's modules under the development Python;
this measures what Lambda loads: the `sam build` output (functions/Makefile ships
wirewatch's .pyc files), under the runtime's Python (3.13), in fresh interpreters,
with the environment Powertools' Tracer sees in Lambda. Median of ROUNDS, interleaved.

    make build   # or: PYENV_VERSION=3.11.7:3.13.0 sam build
    PYENV_VERSION=3.13.0 python bench/coldstart_built.py [.aws-sam/build/PollFunction]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

ROUNDS = 9
MODULES = ("boto3", "wirewatch.handlers.schedule_feeds", "wirewatch.handlers.poll_feeds")
LAMBDA_ENV = {
    "PYTHONDONTWRITEBYTECODE": "1",  # /var/task is read-only: nothing is cached between cold starts
    "POWERTOOLS_SERVICE_NAME": "wirewatch",
    "POWERTOOLS_METRICS_NAMESPACE": "Wirewatch",
    "AWS_LAMBDA_FUNCTION_NAME": "wirewatch-poll",
    "AWS_REGION": "us-east-1",
    "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
}


def import_ms(module: str, artifact: Path) -> float:
    code = f"import time; s = time.perf_counter(); import {module}; print((time.perf_counter() - s) * 1000)"
    env = {**os.environ, **LAMBDA_ENV, "LAMBDA_TASK_ROOT": str(artifact)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=artifact, env=env, capture_output=True, text=True, check=True
    )
    return float(done.stdout.split()[-1])


def main() -> None:
    artifact = Path(sys.argv[1] if len(sys.argv) > 1 else ".aws-sam/build/PollFunction").resolve()
    times: dict[str, list[float]] = {module: [] for module in MODULES}
    for _ in range(ROUNDS):
        for module in MODULES:
            times[module].append(import_ms(module, artifact))
    base = statistics.median(times["boto3"])
    print(f"built artifact {artifact}, Python {sys.version.split()[0]}, median of {ROUNDS} fresh interpreters")
    for module, values in times.items():
        ratio = statistics.median(values) / base
        verdict = (
            "" if module == "boto3" else ("  target <= 1.5x: met" if ratio <= 1.5 else "  target <= 1.5x: NOT met")
        )
        print(f"  import {module:<38} {statistics.median(values):6.0f} ms  {ratio:4.2f}x boto3{verdict}")


if __name__ == "__main__":
    main()
