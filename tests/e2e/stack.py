"""Deploy ``template.yaml`` into moto's CloudFormation, the way ``sam deploy`` deploys it into AWS.

The SAM translator (the library behind ``sam validate`` and ``sam deploy``) turns the
template into plain CloudFormation; moto creates the stack from it; what the stack
created (tables, queues, topics, functions, roles) is then read back through the
services' APIs, as the functions would see it in Lambda.

moto (5.x) cannot create every resource type of the template through CloudFormation.
Those, and only those, are created here by hand, through their service's API, with
their properties resolved against the stack moto created (see ``HAND_MADE``).
"""

from __future__ import annotations

import ast
import copy
import hashlib
import io
import json
import re
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import boto3

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"

# Where the functions' code "is": an artifact bucket, as `sam deploy --resolve-s3` uploads
# to. The handlers run in-process; Lambda in moto only needs a zip to create the function.
ARTIFACT_BUCKET = "wirewatch-e2e-artifacts"
ARTIFACT_KEY = "wirewatch.zip"

# Resource types moto's CloudFormation does not implement (moto 5.2: it warns and skips
# them, and anything that names them fails to resolve). Created by hand below.
UNSUPPORTED_BY_MOTO = frozenset(
    {
        "AWS::CloudWatch::Alarm",
        "AWS::S3::BucketPolicy",
        "AWS::Scheduler::Schedule",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::SNS::Subscription",
    }
)

_INTRINSICS = frozenset(
    {
        "Ref",
        "Condition",
        "Fn::GetAtt",
        "Fn::Sub",
        "Fn::If",
        "Fn::Join",
        "Fn::Select",
        "Fn::Split",
        "Fn::Equals",
        "Fn::Not",
        "Fn::And",
        "Fn::Or",
        "Fn::FindInMap",
        "Fn::Base64",
        "Fn::GetAZs",
    }
)
_SUB_TOKEN = re.compile(r"\$\{(?!!)([^}]+)\}")


class _StaticPolicyLoader:
    """The translator asks IAM for managed policy ARNs only for policies given by name;
    the template names none, so no AWS call is needed."""

    def load(self) -> dict[str, str]:
        return {}


def transform(template_path: Path = TEMPLATE, *, code_uri: str | None = None) -> dict[str, Any]:
    """The template as CloudFormation, as `sam deploy` sends it (needs AWS_DEFAULT_REGION set).

    ``code_uri`` replaces every function's local CodeUri, as the upload of `sam deploy` does.
    """
    from samtranslator.translator.transform import transform as sam_transform
    from samtranslator.yaml_helper import yaml_parse

    sam = yaml_parse(template_path.read_text(encoding="utf-8"))
    if code_uri:
        for resource in sam["Resources"].values():
            if resource["Type"] == "AWS::Serverless::Function":
                resource.setdefault("Properties", {})["CodeUri"] = code_uri
    transformed: dict[str, Any] = sam_transform(sam, {}, _StaticPolicyLoader())  # type: ignore[arg-type]
    return transformed


def referenced(node: Any) -> set[str]:
    """Logical ids (resources, parameters, conditions) a template fragment names."""
    if isinstance(node, list):
        return set().union(*(referenced(item) for item in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    if len(node) == 1:
        ((key, value),) = node.items()
        if key == "Ref":
            return set() if value.startswith("AWS::") else {value}
        if key == "Fn::GetAtt":
            return {value.split(".", 1)[0] if isinstance(value, str) else value[0]}
        if key == "Fn::Sub":
            text, variables = (value, {}) if isinstance(value, str) else value
            names = {token.split(".", 1)[0] for token in _SUB_TOKEN.findall(text)}
            return {n for n in names if not n.startswith("AWS::") and n not in variables} | referenced(
                list(variables.values())
            )
    return referenced(list(node.values()))


def _resolve(node: Any, hand_made: Mapping[str, dict[str, str]], stack_value: Callable[[Any], Any]) -> Any:
    """``node`` with its intrinsics replaced: those naming only stack resources by
    ``stack_value`` (moto resolves them), those naming hand-made resources from their record."""
    if isinstance(node, list):
        return [_resolve(item, hand_made, stack_value) for item in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1 and next(iter(node)) in _INTRINSICS:
        ((key, value),) = node.items()
        if not referenced(node) & hand_made.keys():
            return stack_value(node)
        if key == "Ref":
            return hand_made[value]["Ref"]
        if key == "Fn::GetAtt":
            name, attribute = value.split(".", 1) if isinstance(value, str) else value
            return hand_made[name][attribute]
        if key == "Fn::Sub" and isinstance(value, str):

            def token(match: re.Match[str]) -> str:
                name, _, attribute = match.group(1).partition(".")
                if name in hand_made:
                    return hand_made[name][attribute or "Ref"]
                expression = {"Fn::GetAtt": [name, attribute]} if attribute else {"Ref": name}
                return str(stack_value(expression))

            return _SUB_TOKEN.sub(token, value).replace("${!", "${")
        raise NotImplementedError(f"{key} over a hand-made resource: extend tests/e2e/stack.py")
    return {key: _resolve(value, hand_made, stack_value) for key, value in node.items()}


@dataclass
class Deployed:
    """A stack of the template in moto, and what it created, read back."""

    name: str
    template: dict[str, Any]  # the transformed template, as deployed
    resources: dict[str, str]  # logical id -> physical id, hand-made ones included
    outputs: dict[str, str]
    hand_made: dict[str, str] = field(default_factory=dict)  # logical id -> resource type
    patched: dict[str, list[str]] = field(default_factory=dict)  # logical id -> properties set by hand

    def logical_ids(self, kind: str) -> list[str]:
        return [name for name, resource in self.template["Resources"].items() if resource["Type"] == kind]

    def function_configuration(self, logical_id: str) -> dict[str, Any]:
        config: dict[str, Any] = boto3.client("lambda").get_function_configuration(
            FunctionName=self.resources[logical_id]
        )
        return config

    def environment(self, logical_id: str) -> dict[str, str]:
        """A function's environment variables, as Lambda hands them to the code (strings)."""
        variables = self.function_configuration(logical_id).get("Environment", {}).get("Variables", {})
        # moto keeps numbers given by !Ref to Number parameters as numbers; Lambda has strings.
        return {name: str(value) for name, value in variables.items()}

    def role_name(self, function_logical_id: str) -> str:
        """The name of a function's execution role, as Lambda reports it."""
        return str(self.function_configuration(function_logical_id)["Role"].rsplit("/", 1)[1])

    def role_statements(self, function_logical_id: str) -> list[dict[str, Any]]:
        """Every statement of the inline policies of a function's execution role, read from IAM."""
        return role_statements(self.role_name(function_logical_id))

    def arn(self, logical_id: str) -> str:
        """The ARN of a table, queue, bucket, topic or function of the stack."""
        kind, physical = self.template["Resources"][logical_id]["Type"], self.resources[logical_id]
        if kind == "AWS::DynamoDB::Table":
            return str(boto3.client("dynamodb").describe_table(TableName=physical)["Table"]["TableArn"])
        if kind == "AWS::SQS::Queue":
            attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=physical, AttributeNames=["QueueArn"])
            return attributes["Attributes"]["QueueArn"]
        if kind == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{physical}"
        if kind == "AWS::Lambda::Function":
            return str(self.function_configuration(logical_id)["FunctionArn"])
        if kind == "AWS::SNS::Topic":
            return physical
        if kind == "AWS::Logs::LogGroup":
            account, region = _account_and_region()
            return f"arn:aws:logs:{region}:{account}:log-group:{physical}"
        raise ValueError(f"no ARN for {kind}")

    def named(self, resource: str) -> str:
        """``resource`` (an ARN, or an ARN pattern) with the stack's ARNs written as logical ids
        (a log group's streams, ``<log group ARN>:*``, as ``<LogGroup>:*``)."""
        kinds = (
            "AWS::DynamoDB::Table",
            "AWS::SQS::Queue",
            "AWS::S3::Bucket",
            "AWS::SNS::Topic",
            "AWS::Lambda::Function",
            "AWS::Logs::LogGroup",
        )
        for kind in kinds:
            below = ("/", ":") if kind == "AWS::Logs::LogGroup" else ("/",)
            for logical_id in self.logical_ids(kind):
                arn = self.arn(logical_id)
                if resource == arn or any(resource.startswith(arn + s) for s in below):
                    return logical_id + resource[len(arn) :]
        return resource

    def managed_policies(self, function_logical_id: str) -> list[str]:
        """Managed policy ARNs of a function's role: those the template gives it, and those
        attached in IAM (moto loads no AWS managed policy, but records the attachments)."""
        role = self.template["Resources"][function_logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]
        arns: list[str] = list(self.template["Resources"][role]["Properties"].get("ManagedPolicyArns", []))
        attached = boto3.client("iam").list_attached_role_policies(RoleName=self.role_name(function_logical_id))
        return arns + [p["PolicyArn"] for p in attached["AttachedPolicies"]]


def role_statements(role: str) -> list[dict[str, Any]]:
    """Every statement of the inline policies of an IAM role, read from IAM."""
    iam = boto3.client("iam")
    statements: list[dict[str, Any]] = []
    for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
        if isinstance(document, str):
            # moto 5.2 keeps a policy created by CloudFormation as the repr of the dict
            # it was given, where IAM returns (and boto3 decodes) URL-encoded JSON.
            text = unquote(document)
            document = json.loads(text) if text.lstrip().startswith('{"') else ast.literal_eval(text)
        listed = document["Statement"]
        statements += [{**s, "Policy": policy} for s in (listed if isinstance(listed, list) else [listed])]
    return statements


def _dummy_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README", "the e2e tests run the handlers in-process\n")
    return buffer.getvalue()


def _hand_made(template: dict[str, Any]) -> set[str]:
    resources = template["Resources"]
    hand_made = {n for n, r in resources.items() if r["Type"] in UNSUPPORTED_BY_MOTO}
    # A resource moto could create but that names a hand-made one (the dashboard lists
    # the alarms) is made by hand after them: moto's stack cannot see them.
    while more := {n for n, r in resources.items() if n not in hand_made and referenced(r) & hand_made}:
        hand_made |= more
    return hand_made


def _stack_template(
    template: dict[str, Any], hand_made: set[str], hand_outputs: set[str], wanted: list[Any]
) -> dict[str, Any]:
    """The template less what is made by hand, plus one output per expression the
    hand-made resources need resolved (named by the expression's JSON)."""
    stack_template = copy.deepcopy(template)
    for n in hand_made:
        del stack_template["Resources"][n]
    for resource in stack_template["Resources"].values():
        if isinstance(resource.get("DependsOn"), list):
            resource["DependsOn"] = [d for d in resource["DependsOn"] if d not in hand_made]
    outputs = stack_template.setdefault("Outputs", {})
    for output in hand_outputs:
        del outputs[output]
    for expression in wanted:
        outputs[_output_key(expression)] = {"Value": expression}
    return stack_template


def _output_key(expression: Any) -> str:
    digest = hashlib.sha256(json.dumps(expression, sort_keys=True).encode()).hexdigest()[:16]
    return f"HandMadeInput{digest}"


def deploy(name: str, parameters: Mapping[str, str], template_path: Path = TEMPLATE) -> Deployed:
    """Create the stack in the moto the default boto3 session points at (mock_aws or a server)."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=ARTIFACT_BUCKET)
    s3.put_object(Bucket=ARTIFACT_BUCKET, Key=ARTIFACT_KEY, Body=_dummy_zip())
    template = transform(template_path, code_uri=f"s3://{ARTIFACT_BUCKET}/{ARTIFACT_KEY}")
    hand_made = _hand_made(template)
    hand_outputs = {n for n, o in template.get("Outputs", {}).items() if referenced(o) & hand_made}
    pending = {n: copy.deepcopy(template["Resources"][n]) for n in hand_made}

    # What the hand-made resources need from the stack, resolved by moto as extra outputs:
    # collected by resolving them once with placeholders for the hand-made attributes.
    wanted: list[Any] = []
    placeholders = {n: defaultdict(lambda: "<hand-made>") for n in hand_made}
    for resource in pending.values():
        _resolve(resource, placeholders, wanted.append)
        if "Condition" in resource:
            wanted.append({"Fn::If": [resource["Condition"], "true", "false"]})
    for output in hand_outputs:
        _resolve(template["Outputs"][output]["Value"], placeholders, wanted.append)

    cfn = boto3.client("cloudformation")
    cfn.create_stack(
        StackName=name,
        TemplateBody=json.dumps(_stack_template(template, hand_made, hand_outputs, wanted)),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"stack {name}: {stack['StackStatus']} {stack.get('StackStatusReason', '')}")
    values = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]
    }
    patched = _apply_properties_moto_drops(template, physical)

    def stack_value(expression: Any) -> Any:
        return values[_output_key(expression)]

    made: dict[str, dict[str, str]] = {}
    created: dict[str, str] = {}
    while len(made) < len(pending):
        ready = [n for n in sorted(pending) if n not in made and not referenced(pending[n]) & (hand_made - made.keys())]
        if not ready:
            raise RuntimeError(f"hand-made resources depend on each other in a cycle: {sorted(pending)}")
        for n in ready:
            resource = pending[n]
            if "Condition" in resource and stack_value({"Fn::If": [resource["Condition"], "true", "false"]}) != "true":
                made[n] = {"Ref": ""}  # condition false: not created, as in CloudFormation
                continue
            made[n] = HAND_MADE[resource["Type"]](f"{name}-{n}", _resolve(resource["Properties"], made, stack_value))
            created[n] = resource["Type"]
            physical[n] = made[n]["Ref"]

    for output in hand_outputs:
        values[output] = _resolve(template["Outputs"][output]["Value"], made, stack_value)
    return Deployed(
        name=name,
        template=template,
        resources=physical,
        outputs={k: v for k, v in values.items() if not k.startswith("HandMadeInput")},
        hand_made=created,
        patched=patched,
    )


# Properties moto's CloudFormation accepts but does not apply (moto 5.2), set through the
# service's API once the stack exists: resource type -> property -> how.
_DROPPED: dict[str, dict[str, Callable[[str, Any], None]]] = {
    "AWS::DynamoDB::Table": {
        "TimeToLiveSpecification": lambda name, value: boto3.client("dynamodb").update_time_to_live(
            TableName=name, TimeToLiveSpecification=value
        ),
        "PointInTimeRecoverySpecification": lambda name, value: boto3.client("dynamodb").update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification=value
        ),
    },
    "AWS::S3::Bucket": {
        "VersioningConfiguration": lambda name, value: boto3.client("s3").put_bucket_versioning(
            Bucket=name, VersioningConfiguration=value
        ),
        "PublicAccessBlockConfiguration": lambda name, value: boto3.client("s3").put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=value
        ),
        "OwnershipControls": lambda name, value: boto3.client("s3").put_bucket_ownership_controls(
            Bucket=name, OwnershipControls=value
        ),
    },
}


def _apply_properties_moto_drops(template: dict[str, Any], physical: dict[str, str]) -> dict[str, list[str]]:
    patched: dict[str, list[str]] = {}
    for logical_id, resource in template["Resources"].items():
        for name, apply in _DROPPED.get(resource["Type"], {}).items():
            value = resource.get("Properties", {}).get(name)
            if value is None:
                continue
            if referenced(value):
                raise NotImplementedError(f"{logical_id}.{name} uses intrinsics: resolve them in tests/e2e/stack.py")
            apply(physical[logical_id], value)
            patched.setdefault(logical_id, []).append(name)
    return patched


# ─── By hand: one function per type, from the resource's resolved CloudFormation properties ──


def _account_and_region() -> tuple[str, str]:
    session = boto3.DEFAULT_SESSION or boto3.Session()
    account = boto3.client("sts").get_caller_identity()["Account"]
    return account, session.region_name or "us-east-1"


def _alarm(name: str, p: dict[str, Any]) -> dict[str, str]:
    numbers = ("Threshold",)
    integers = ("Period", "EvaluationPeriods", "DatapointsToAlarm")
    arguments = {
        **p,
        **{k: float(p[k]) for k in numbers if k in p},
        **{k: int(p[k]) for k in integers if k in p},
    }
    boto3.client("cloudwatch").put_metric_alarm(AlarmName=name, **arguments)
    account, region = _account_and_region()
    return {"Ref": name, "Arn": f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"}


def _dashboard(name: str, p: dict[str, Any]) -> dict[str, str]:
    json.loads(p["DashboardBody"])  # CloudFormation refuses a body that is not JSON
    boto3.client("cloudwatch").put_dashboard(DashboardName=name, DashboardBody=p["DashboardBody"])
    return {"Ref": name}


def _bucket_policy(name: str, p: dict[str, Any]) -> dict[str, str]:
    # moto enforces bucket policies but ignores their Condition: the TLS-only Deny
    # (aws:SecureTransport false) would refuse every request, where AWS refuses only
    # plain-HTTP ones, and every SDK call is HTTPS. Statements with a condition stay out.
    document = p["PolicyDocument"]
    kept = [s for s in document["Statement"] if "Condition" not in s]
    boto3.client("s3").put_bucket_policy(Bucket=p["Bucket"], Policy=json.dumps({**document, "Statement": kept}))
    return {"Ref": name}


def _schedule(name: str, p: dict[str, Any]) -> dict[str, str]:
    response = boto3.client("scheduler").create_schedule(Name=name, **p)
    return {"Ref": name, "Arn": response["ScheduleArn"]}


def _event_invoke_config(name: str, p: dict[str, Any]) -> dict[str, str]:
    boto3.client("lambda").put_function_event_invoke_config(**p)
    return {"Ref": name}


def _subscription(name: str, p: dict[str, Any]) -> dict[str, str]:
    arguments = {k: p[k] for k in ("TopicArn", "Protocol", "Endpoint")}
    attributes = {k: v if isinstance(v, str) else json.dumps(v) for k, v in p.items() if k not in arguments}
    response = boto3.client("sns").subscribe(**arguments, Attributes=attributes, ReturnSubscriptionArn=True)
    return {"Ref": response["SubscriptionArn"]}


HAND_MADE: dict[str, Callable[[str, dict[str, Any]], dict[str, str]]] = {
    "AWS::CloudWatch::Alarm": _alarm,
    "AWS::CloudWatch::Dashboard": _dashboard,  # moto has it, but the dashboard names the alarms
    "AWS::S3::BucketPolicy": _bucket_policy,
    "AWS::Scheduler::Schedule": _schedule,
    "AWS::Lambda::EventInvokeConfig": _event_invoke_config,
    "AWS::SNS::Subscription": _subscription,
}


def load_event(name: str) -> dict[str, Any]:
    """A sample event of events/, as `sam local invoke -e events/<name>` reads it."""
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return event
