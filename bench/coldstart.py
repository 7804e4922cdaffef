"""Cold start: the import time of each Lambda handler module against ``import boto3`` alone.

Each measurement is a fresh interpreter (``python -c``) timing the import with
``time.perf_counter``, in an environment like Lambda's: the template's POWERTOOLS_*
variables and the runtime's own (LAMBDA_TASK_ROOT, AWS_LAMBDA_FUNCTION_NAME, X-Ray
daemon address, ...), so Powertools' Tracer is enabled and loads the X-Ray SDK as it
does in AWS. No network is used. Runs are interleaved and repeated; medians reported.

Then, in the same fresh interpreters, what the first invocation adds before any feed
is polled: building the scheduler or the poller (boto3 clients, the bundled watch file),
what-ifs for the lead (the X-Ray SDK patching botocore only, Powertools' batch utility
left out, wirewatch's own modules precompiled, all three), one ``python -X importtime``
run per handler for the heaviest imports, and the cost of reading a 1,000-feed watch file.

wirewatch's modules are compiled at every import here (PYTHONDONTWRITEBYTECODE is set on
this machine), as they are in Lambda, where /var/task is read-only and a SAM build ships
no .pyc for the function's own code; boto3 and the other dependencies have theirs.

    .venv/bin/python bench/coldstart.py            # 11 rounds (~1.5 min)
    .venv/bin/python bench/coldstart.py --rounds 3
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ROOT / "functions"
TEMPLATE = ROOT / "template.yaml"
HANDLERS = ("wirewatch.handlers.schedule_feeds", "wirewatch.handlers.poll_feeds")
BUILDERS = {
    "wirewatch.handlers.schedule_feeds": "get_scheduler",
    "wirewatch.handlers.poll_feeds": "get_poller",
}
TARGET = 1.5  # each handler's import at most this many times `import boto3`

# One script for every measurement: import, optionally build, print JSON timings. What-ifs for
# the lead: "botocore-only", Powertools' Tracer patches botocore alone instead of every library
# the X-Ray SDK knows (what Tracer(patch_modules=["botocore"]) would do); "no-batch-utility",
# Powertools' batch utility (which imports asyncio and every data class) replaced by a stub,
# as if poll_feeds built its partial batch response ({"batchItemFailures": [...]}) itself.
_PROBE = """
import json, os, sys, time
start = time.perf_counter()
if "botocore-only" in os.environ.get("BENCH_VARIANT", ""):
    from aws_lambda_powertools.tracing import tracer as _tracer
    _init = _tracer.Tracer.__init__
    def _botocore_only(self, *args, **kwargs):
        kwargs.setdefault("patch_modules", ["botocore"])
        _init(self, *args, **kwargs)
    _tracer.Tracer.__init__ = _botocore_only
if "no-batch-utility" in os.environ.get("BENCH_VARIANT", ""):
    import types
    _stub = types.ModuleType("aws_lambda_powertools.utilities.batch")
    _stub.BatchProcessor = _stub.EventType = _stub.process_partial_response = None
    sys.modules[_stub.__name__] = _stub
module = __import__(sys.argv[1], fromlist=["_"])
imported = time.perf_counter() - start
built = None
if len(sys.argv) > 2:
    start = time.perf_counter()
    getattr(module, sys.argv[2])()
    built = time.perf_counter() - start
print(json.dumps({"import": imported, "build": built}))
"""


def lambda_environment() -> dict[str, str]:
    """The variables Lambda and the template give the functions (placeholders for resources)."""
    from wirewatch.local.template import read_template

    template = read_template(TEMPLATE)
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    env = {name: value for name, value in variables.items() if isinstance(value, str)}  # POWERTOOLS_*, LOG_LEVEL, …
    env.update(
        {
            "STATE_TABLE": "wirewatch-StateTable",
            "SEEN_TABLE": "wirewatch-SeenTable",
            "ALERTS_TABLE": "wirewatch-AlertsTable",
            "ITEMS_TABLE": "wirewatch-ItemsTable",
            "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:wirewatch-AlertsTopic",
            "POLL_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/wirewatch-PollQueue",
            "RETENTION_DAYS": "30",
            "CYCLE_MINUTES": "5",
            # What the Lambda runtime sets; LAMBDA_TASK_ROOT turns Powertools' Tracer on.
            "LAMBDA_TASK_ROOT": str(FUNCTIONS),
            "AWS_LAMBDA_FUNCTION_NAME": "wirewatch-PollFunction",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    # No WIREWATCH_CONFIG_S3: the bundled functions/watch.yaml is loaded, as before the first push.
    env.pop("WIREWATCH_CONFIG_S3", None)
    base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    return {**base, **env}


def probe(module: str, env: dict[str, str], build: str | None = None, *, cwd: Path = FUNCTIONS) -> dict[str, float]:
    """Run _PROBE in a fresh interpreter; ``cwd`` comes first on sys.path (``-c``)."""
    args = [sys.executable, "-c", _PROBE, module] + ([build] if build else [])
    output = subprocess.run(args, env=env, capture_output=True, text=True, check=True, cwd=cwd).stdout
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return result


def importtime(module: str, env: dict[str, str]) -> list[tuple[int, int, int, str]]:
    """(depth, self µs, cumulative µs, name) for every module ``-X importtime`` reports."""
    args = [sys.executable, "-X", "importtime", "-c", f"import {module}"]
    stderr = subprocess.run(args, env=env, capture_output=True, text=True, check=True, cwd=FUNCTIONS).stderr
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        name = name.removeprefix(" ")  # then two spaces per level of nesting
        depth = (len(name) - len(name.lstrip(" "))) // 2
        rows.append((depth, int(own), int(cumulative), name.strip()))
    return rows


def heaviest(rows: list[tuple[int, int, int, str]], count: int = 10) -> list[tuple[str, int, int, str]]:
    """The heaviest packages (self time of all their modules), what importing them cost
    (cumulative time of their outermost imports) and the wirewatch module that imported them.

    ``-X importtime`` lists a module after the modules it imports, which are indented one
    step more: read backwards, every line comes after its importer.
    """
    own_total: dict[str, int] = defaultdict(int)
    cumulative_total: dict[str, int] = defaultdict(int)
    importer: dict[str, str] = {}
    ancestors: list[str] = []
    for depth, own, cumulative, name in reversed(rows):
        del ancestors[depth:]
        package = name.split(".")[0]
        own_total[package] += own
        if package != "wirewatch" and all(a.split(".")[0] != package for a in ancestors):
            cumulative_total[package] += cumulative  # an outermost import of this package
            ours = [a for a in ancestors if a.startswith("wirewatch")]
            importer.setdefault(package, ours[-1] if ours else "-")
        ancestors.append(name)
    ranked = sorted((package for package in own_total if package != "wirewatch"), key=own_total.__getitem__)
    return [
        (package, own_total[package], cumulative_total[package], importer.get(package, "-"))
        for package in reversed(ranked[-count:])
    ]


def yaml_load_times() -> dict[str, float]:
    """The watch file with 1,000 feeds, read as wirewatch.core.watchfile does (compose, then load)
    with PyYAML's pure-Python SafeLoader, and with the libyaml-backed CSafeLoader."""
    data = yaml.safe_load((ROOT / "examples" / "watch.yaml").read_text(encoding="utf-8"))
    data["feeds"] = [
        {"id": f"feed-{n:04d}", "url": f"https://feeds{n % 500}.example/{n}.xml", "tags": ["wire", "fr"]}
        for n in range(1000)
    ]
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    times = {}
    loaders = {"SafeLoader": yaml.SafeLoader, "CSafeLoader": getattr(yaml, "CSafeLoader", None)}
    for name, loader in loaders.items():
        if loader is None:
            continue
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            yaml.compose(text, Loader=loader)
            yaml.load(text, Loader=loader)
            runs.append(time.perf_counter() - start)
        times[name] = min(runs)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "watch.yaml"
        path.write_text(text, encoding="utf-8")
        from wirewatch.core.watchfile import load_watch

        start = time.perf_counter()
        load_watch(path.read_text(encoding="utf-8"), str(path))
        times["load_watch"] = time.perf_counter() - start
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args()
    env = lambda_environment()
    imports: dict[str, list[float]] = defaultdict(list)
    builds: dict[str, list[float]] = defaultdict(list)
    started = time.perf_counter()
    variants: dict[str, list[float]] = defaultdict(list)
    # wirewatch's own modules have no .pyc here (PYTHONDONTWRITEBYTECODE) nor in a SAM build
    # (a read-only /var/task): each cold start compiles them. A copy with its bytecode shows
    # what shipping the .pyc files would save.
    compiled = Path(tempfile.mkdtemp(prefix="wirewatch-pyc-"))
    shutil.copytree(FUNCTIONS / "wirewatch", compiled / "wirewatch", ignore=shutil.ignore_patterns("__pycache__"))
    compileall.compile_dir(compiled, quiet=1)
    what_if = {
        "Tracer patching botocore only": {**env, "BENCH_VARIANT": "botocore-only"},
        "Tracer off (POWERTOOLS_TRACE_DISABLED=true)": {**env, "POWERTOOLS_TRACE_DISABLED": "true"},
        "no Powertools batch utility": {**env, "BENCH_VARIANT": "no-batch-utility"},
    }
    for _ in range(args.rounds):
        # Interleaved, so drift on the machine touches every module alike.
        imports["boto3"].append(probe("boto3", env)["import"])
        for module in HANDLERS:
            imports[module].append(probe(module, env)["import"])
            result = probe(module, env, BUILDERS[module])
            builds[module].append(result["build"] or 0.0)
            for label, variant_env in what_if.items():
                if "batch" in label and module != "wirewatch.handlers.poll_feeds":
                    continue
                variants[f"import {module.rsplit('.', 1)[1]}, {label}"].append(probe(module, variant_env)["import"])
            name = module.rsplit(".", 1)[1]
            variants[f"import {name}, wirewatch precompiled (.pyc shipped)"].append(
                probe(module, env, cwd=compiled)["import"]
            )
            combined = {**env, "BENCH_VARIANT": "botocore-only,no-batch-utility"}
            variants[f"import {name}, all three: .pyc, botocore only, no batch utility"].append(
                probe(module, combined, cwd=compiled)["import"]
            )
    shutil.rmtree(compiled)
    boto3 = statistics.median(imports["boto3"])
    print(
        f"import time in a fresh interpreter, Lambda-like environment (Tracer on), median of {args.rounds} "
        f"(Python {sys.version.split()[0]}):"
    )
    print(f"{'module':<42} {'median':>7} {'min':>7} {'max':>7} {'x boto3':>8} {'(mins)':>7}  target <= {TARGET}x")
    for module, times in imports.items():
        ratio = statistics.median(times) / boto3
        verdict = "" if module == "boto3" else ("met" if ratio <= TARGET else "NOT met")
        print(
            f"{'import ' + module:<42} {statistics.median(times) * 1000:5.0f}ms {min(times) * 1000:5.0f}ms "
            f"{max(times) * 1000:5.0f}ms {ratio:7.2f}x {min(times) / min(imports['boto3']):6.2f}x  {verdict}"
        )
    print("\nfirst invocation, after the import: building the scheduler / poller (boto3 clients, bundled watch.yaml)")
    for module, times in builds.items():
        total = statistics.median(imports[module]) + statistics.median(times)
        print(
            f"  {module.rsplit('.', 1)[1] + '.' + BUILDERS[module] + '()':<34} {statistics.median(times) * 1000:5.0f}ms"
            f"  (import + build {total * 1000:.0f}ms = {total / boto3:.2f}x import boto3)"
        )
    print("\nwhat if (same rounds, same environment):")
    for label, times in sorted(variants.items()):
        print(
            f"  {label:<70} {statistics.median(times) * 1000:5.0f}ms  {statistics.median(times) / boto3:5.2f}x boto3"
            f"  (mins {min(times) / min(imports['boto3']):.2f}x)"
        )
    for module in HANDLERS:
        rows = importtime(module, env)
        total = sum(own for _, own, _, _ in rows)
        print(
            f"\n10 heaviest packages under `import {module}` "
            f"(-X importtime, one run; all modules {total / 1000:.0f}ms):"
        )
        print(f"  {'package':<24} {'self ms':>8} {'cum ms':>8}  first imported by")
        for package, own, cumulative, importer in heaviest(rows):
            print(f"  {package:<24} {own / 1000:8.1f} {cumulative / 1000:8.1f}  {importer}")
    loads = yaml_load_times()
    print(
        "\nthe watch file with 1,000 feeds, read once per cold start (and per change): "
        f"load_watch {loads['load_watch'] * 1000:.0f}ms; its YAML alone (compose + load) "
        f"{loads['SafeLoader'] * 1000:.0f}ms with SafeLoader"
        + (f", {loads['CSafeLoader'] * 1000:.0f}ms with CSafeLoader (libyaml)" if "CSafeLoader" in loads else "")
    )
    print(f"\n(whole run {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
