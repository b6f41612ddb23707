"""Build the deployable CloudFormation (SAM) package for a stage: ``make package STAGE=dev``.

``chalice package`` writes the functions, the API, the schedule and the SQS event source,
and gives each function its own role from ``.chalice/policy-{api,tick,worker}.json``. The
merge template built here adds what Chalice does not manage: the DynamoDB table
(on-demand, TTL, point-in-time recovery, the indexes the code queries, declared from the
same definition the code and tests use), the work queue with its dead-letter queue, a log
group per function with a retention period, the right to write to it, partial batch
responses for the worker's event source, and the template's parameters.

Nothing in ``.chalice/`` names a stage, so any valid stage name packages. The stage
reaches the template only here: the queues are named after it and it is the default table
name. The policies name what they grant through CloudFormation (``${AWS::Partition}``,
``${TableName}``, ``${WorkQueue.QueueName}``), so one set serves every stage, account and
partition (``aws``, ``aws-cn``, ``aws-us-gov``).

It also tells operators: CloudWatch alarms on keepwarm's own metrics (EMF, from the
functions' logs: chalicelib/telemetry.py) and on the dead-letter queue, an SNS topic they
notify (with an optional e-mail subscription), and a dashboard of the fleet.

Every setting the service reads (chalicelib/settings.py) is a parameter of the same name in
CamelCase (``CmuPrices``, ``KeepaliveMinutes``), empty for the service's default, except the
few the stack sets itself (``SET_BY_STACK``): a new setting is a parameter with no change here.

Where an addition goes: a permission, in its function's policy file in ``.chalice/``; a
parameter, ``parameters()``; an alarm, ``alarms()``; a dashboard widget,
``dashboard_widgets()``; another resource or an output, ``merge_template()``.

``expand`` runs the SAM transform offline, so cfn-lint checks what CloudFormation creates
too. Works offline with no AWS credentials.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib import telemetry  # noqa: E402
from chalicelib.dynamo import TABLE_KEYS, TTL_ATTRIBUTE  # noqa: E402
from chalicelib.settings import Settings  # noqa: E402

# Chalice's logical ids: each function and its role.
ROLES = {"APIHandler": "ApiHandlerRole", "Tick": "TickRole", "Worker": "WorkerRole",
         "FleetWidget": "FleetWidgetRole"}
# AWS's advice for a Lambda event source: visibility at least 6x the function's timeout.
WORKER_TIMEOUT_SECONDS = 120
MAX_RECEIVES = Settings.max_receives  # the queue's redrive count when MaxReceives is empty
# The roles models in other accounts are reached through, named by the AssumeRoleNames
# parameter: the policies grant sts:AssumeRole on this, and KEEPWARM_ASSUME_ROLE_PATTERN is it.
ASSUME_ROLE_ARNS = "arn:${AWS::Partition}:iam::*:role/${AssumeRoleNames}"
# What CloudWatch Logs accepts as a retention period.
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                  2192, 2557, 2922, 3288, 3653)
# The longest name made from a stage is the queue's, keepwarm-<stage>-work, and SQS takes
# 80 characters of letters, digits, hyphens and underscores; CloudFormation stack names
# (keepwarm-<stage>) take letters, digits and hyphens and start with a letter; DynamoDB
# and Lambda accept all of these.
STAGE_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,65}")
STAGE_RULE = "a letter, then letters, digits or hyphens, 66 characters at most"


def check_stage(stage: str) -> str:
    """The stage name, if every resource named after it can be; ValueError saying the rule if not."""
    if not STAGE_PATTERN.fullmatch(stage):
        raise ValueError(f"stage {stage!r} is not a valid name: use {STAGE_RULE} "
                         "(the stack, table and queues are named keepwarm-<stage>...)")
    return stage


def names(stage: str) -> dict[str, str]:
    check_stage(stage)
    return {"table": f"keepwarm-{stage}", "queue": f"keepwarm-{stage}-work",
            "dead": f"keepwarm-{stage}-dead"}


# The settings (chalicelib/settings.py) the stack gives itself rather than take as
# parameters: its own table and queue, the roles AssumeRoleNames names, and the worker
# Lambda's timeout, which the setting must equal.
SET_BY_STACK = {"table_name": "the table", "queue_url": "the work queue",
                "assume_role_pattern": "AssumeRoleNames", "worker_timeout_seconds": "the worker's timeout"}
NUMBER_PATTERNS = {"int": "|[0-9]+", "float": r"|[0-9]+(\.[0-9]+)?"}


def setting_parameter(field: str) -> str:
    """The parameter for a setting: its name in CamelCase, without ``default_``
    (``default_keepalive_minutes`` is ``KeepaliveMinutes``, ``cmu_prices`` ``CmuPrices``)."""
    return "".join(part.title() for part in field.removeprefix("default_").split("_"))


def setting_parameters() -> dict[str, Any]:
    """A parameter for every setting but those in SET_BY_STACK, empty by default: empty
    leaves the service's own default, which a later version may improve."""
    found = {}
    for f in dataclasses.fields(Settings):
        if f.name in SET_BY_STACK:
            continue
        found[setting_parameter(f.name)] = {
            "Type": "String", "Default": "",
            **({"AllowedPattern": NUMBER_PATTERNS[f.type]} if f.type in NUMBER_PATTERNS else {}),
            "Description": f"{Settings.env_name(f.name)} (empty: the service's default, "
                           f"{f.default if f.default != '' else 'none'}); docs/deploy.md, Parameters.",
        }
    return found


def setting_variables() -> dict[str, Any]:
    """Each setting's environment variable, from its parameter or from the stack."""
    return {Settings.env_name(f.name): {"Ref": setting_parameter(f.name)}
            for f in dataclasses.fields(Settings) if f.name not in SET_BY_STACK}


def parameters(stage: str) -> dict[str, Any]:
    return {
        "TableName": {
            "Type": "String", "Default": names(stage)["table"], "AllowedPattern": "[A-Za-z0-9_.-]{3,255}",
            "Description": "The DynamoDB table holding models, state and events.",
        },
        "CreateTable": {
            "Type": "String", "Default": "true", "AllowedValues": ["true", "false"],
            "Description": "false: use the existing table TableName (e.g. the one a deleted stack "
                           "left behind) instead of creating it.",
        },
        "LogRetentionDays": {
            "Type": "Number", "Default": 30, "AllowedValues": list(RETENTION_DAYS),
            "Description": "How long the functions' logs are kept.",
        },
        "AlarmEmail": {
            "Type": "String", "Default": "", "AllowedPattern": r"|[^\s@]+@[^\s@]+",
            "Description": "An address the alarm topic e-mails (it must confirm the subscription); "
                           "empty: no e-mail, subscribe to the topic (AlarmTopicArn) yourself.",
        },
        "AssumeRoleNames": {
            "Type": "String", "Default": "keepwarm-*", "AllowedPattern": r"[\w+=,.@*?/-]+",
            "Description": "The names (* and ? allowed) of the roles, in any account of the stack's "
                           "partition, that models in other accounts may give as role_arn: the API and "
                           "the worker may assume them, and only them.",
        },
        "AssumeRoleOrgId": {
            "Type": "String", "Default": "", "AllowedPattern": r"|o-[a-z0-9]{10,32}",
            "Description": "An AWS Organizations id (o-...): the API and the worker may assume roles "
                           "(AssumeRoleNames) only in that organization's accounts (aws:ResourceOrgID); "
                           "empty: in any account whose role trusts them.",
        },
        **setting_parameters(),
    }


def log_group(function: str) -> dict[str, Any]:
    """The function's log group, with retention, and a policy letting its role write there.

    The policy is a resource of its own, not part of the role: the group is named after the
    function, which needs the role first. The role has no ``logs:CreateLogGroup``, so Lambda
    cannot create the group early with no retention."""
    group = f"{function}LogGroup"
    arn = f"arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:${{{group}}}"
    return {
        group: {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": {"Fn::Sub": f"/aws/lambda/${{{function}}}"},
                           "RetentionInDays": {"Ref": "LogRetentionDays"}},
        },
        f"{function}Logs": {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": "Logs",
                "Roles": [{"Ref": ROLES[function]}],
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Sid": "Logs", "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": [{"Fn::Sub": arn}, {"Fn::Sub": f"{arn}:*"}],
                }]},
            },
        },
    }


# Where the functions' metrics are: keepwarm's namespace, and the stack's name as the
# ``service`` dimension (POWERTOOLS_SERVICE_NAME), so two stages in one account keep
# their figures apart.
FLEET = [{"Name": "service", "Value": {"Ref": "AWS::StackName"}}]
TICK_TIMEOUT_SECONDS = json.loads((ROOT / ".chalice" / "config.json").read_text())[
    "lambda_functions"]["tick"]["lambda_timeout"]
# A tick this long is near its timeout: it stops claiming at tick_claim_seconds (45 s of
# its 55) and leaves the rest to the next one.
TICK_DURATION_ALARM_SECONDS = 40
# A tick this late sends the calls due in the first part of its minute late.
TICK_LAG_ALARM_SECONDS = 30
# A window verified warm for less of its time than this (WindowReadyShare, 0..1).
WINDOW_READY_SHARE_ALARM = 0.99
# A tick invocation not started by then is dropped, not run late (the least Lambda takes).
TICK_MAX_EVENT_AGE_SECONDS = 60


def alarm(description: str, metric: dict[str, Any], threshold: float, *, periods: int = 1,
          datapoints: int = 1, missing: str = "notBreaching",
          comparison: str = "GreaterThanOrEqualToThreshold") -> dict[str, Any]:
    """A CloudWatch alarm on one metric that notifies the alarm topic when it goes into
    alarm and when it is back to OK."""
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            **metric,
            "Threshold": threshold,
            "ComparisonOperator": comparison,
            "EvaluationPeriods": periods,
            "DatapointsToAlarm": datapoints,
            "TreatMissingData": missing,
            "AlarmActions": [{"Ref": "AlarmTopic"}],
            "OKActions": [{"Ref": "AlarmTopic"}],
        },
    }


def metric(namespace: str, name: str, dimension: str, value: Any, statistic: str,
           period: int = 300) -> dict[str, Any]:
    return {"Namespace": namespace, "MetricName": name, "Dimensions": [{"Name": dimension, "Value": value}],
            "Statistic": statistic, "Period": period}


def fleet_metric(name: str, statistic: str, period: int = 300) -> dict[str, Any]:
    return metric(telemetry.NAMESPACE, name, FLEET[0]["Name"], FLEET[0]["Value"], statistic, period)


def alarms() -> dict[str, Any]:
    """The alarms, by logical id; docs/operations.md says what each means and what to do."""
    return {
        "ModelInErrorAlarm": alarm(
            "A model is in status error: keepwarm stopped calling it (denied, gone, planning "
            "failed, or calls failing). GET /models?status=error says which and why.",
            fleet_metric(telemetry.MODELS_IN_ERROR, "Maximum"), 1),
        "DeadLetterAlarm": alarm(
            "A queued call failed on every delivery and is in the dead-letter queue.",
            metric("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName",
                   {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}, "Maximum"), 1),
        "TickLagAlarm": alarm(
            f"The tick started {TICK_LAG_ALARM_SECONDS} s or more after its minute in 3 of 5 "
            "minutes, or did not run: calls go out late.",
            fleet_metric(telemetry.TICK_LAG, "Maximum", 60), TICK_LAG_ALARM_SECONDS,
            periods=5, datapoints=3, missing="breaching"),
        "TickDurationAlarm": alarm(
            f"A tick ran {TICK_DURATION_ALARM_SECONDS} s or more of its {TICK_TIMEOUT_SECONDS} s "
            "in 3 of 5 minutes: it is near its limit and leaves due models to the next tick.",
            fleet_metric(telemetry.TICK_DURATION, "Maximum", 60), TICK_DURATION_ALARM_SECONDS,
            periods=5, datapoints=3),
        "TickFailuresAlarm": alarm(
            "The tick failed to claim or queue calls for some models (see tick_failed in the "
            "tick's log).",
            fleet_metric(telemetry.TICK_FAILURES, "Sum"), 1),
        "TickErrorsAlarm": alarm(
            "The tick function itself failed (an error or a timeout): no calls were queued by it.",
            metric("AWS/Lambda", "Errors", "FunctionName", {"Ref": "Tick"}, "Sum"), 1),
        "NotReadyAlarm": alarm(
            "A window (or lease) was open while its model was not ready: users met a cold model. "
            "The metric NotReadySeconds by model says which.",
            fleet_metric(telemetry.NOT_READY_SECONDS, "Sum"), 0, comparison="GreaterThanThreshold"),
        "WindowReadyAlarm": alarm(
            f"A schedule window closed verified warm for less than {WINDOW_READY_SHARE_ALARM:.0%} of its time: "
            "calls found the model cold, or it was late at the open. GET /models/{model} (readiness) "
            "and the window_not_ready event say which window and how late.",
            fleet_metric(telemetry.WINDOW_READY_SHARE, "Minimum"), WINDOW_READY_SHARE_ALARM,
            comparison="LessThanThreshold"),
    }


def graph(title: str, metrics: list[list[Any]], *, stat: str = "Sum", period: int = 300,
          view: str = "timeSeries", stacked: bool = False) -> dict[str, Any]:
    """A metric widget (full width is 24 units; each is placed by ``dashboard_body``)."""
    return {"type": "metric", "width": 12, "height": 6, "properties": {
        "title": title, "region": "${AWS::Region}", "view": view, "stacked": stacked,
        "stat": stat, "period": period, "metrics": metrics}}


def dashboard_widgets() -> list[dict[str, Any]]:
    """The fleet dashboard's widgets, in the order they are laid out, two to a row.
    Add a widget here (a custom widget's Lambda included): nothing else needs to change."""
    ns, service = telemetry.NAMESPACE, "${AWS::StackName}"

    def fleet(name: str, **options: Any) -> list[Any]:
        return [ns, name, "service", service, *([options] if options else [])]

    alarm_arns = [f"arn:${{AWS::Partition}}:cloudwatch:${{AWS::Region}}:${{AWS::AccountId}}:alarm:${{{logical}}}"
                  for logical in alarms()]
    return [
        {"type": "alarm", "width": 24, "height": 3, "properties": {
            "title": "keepwarm alarms", "alarms": alarm_arns}},
        *custom_widgets(),
        graph("Calls by outcome (every model)", [
            [{"expression": f"SEARCH('{{{ns},outcome,service}} MetricName=\"{telemetry.CALLS}\" "
                            f"service=\"{service}\"', 'Sum', 300)", "id": "calls", "label": ""}]],
            stacked=True),
        graph("Models in error", [fleet(telemetry.MODELS_IN_ERROR)], stat="Maximum", period=60),
        graph("Cold starts and unexpected colds", [
            fleet(telemetry.COLD_STARTS), fleet(telemetry.UNEXPECTED_COLDS),
            fleet(telemetry.ERRORS), fleet(telemetry.DEAD_LETTERS)]),
        graph("Cold start seconds (p50, p95) and window seconds not ready", [
            fleet(telemetry.COLD_START_SECONDS, stat="p50", label="cold start p50"),
            fleet(telemetry.COLD_START_SECONDS, stat="p95", label="cold start p95"),
            fleet(telemetry.NOT_READY_SECONDS, stat="Sum", label="window open, not ready")]),
        graph("Windows: share verified warm (lowest) and seconds late (highest)", [
            fleet(telemetry.WINDOW_READY_SHARE, stat="Minimum", label="share verified warm"),
            fleet(telemetry.WINDOW_LATE_SECONDS, stat="Maximum", label="seconds late", yAxis="right")],
            period=3600),
        graph("Not-ready seconds by model", [
            [{"expression": f"SEARCH('{{{ns},model,service}} MetricName=\"{telemetry.NOT_READY_SECONDS}\" "
                            f"service=\"{service}\"', 'Sum', 3600)", "id": "waited", "label": ""}]],
            period=3600, view="bar"),
        graph("Tick: due, enqueued, conflicts, failures", [
            fleet(telemetry.TICK_DUE), fleet(telemetry.TICK_ENQUEUED),
            fleet(telemetry.TICK_CONFLICTS), fleet(telemetry.TICK_FAILURES)], period=60),
        graph("Tick: seconds late and seconds taken", [
            fleet(telemetry.TICK_LAG, label="lag"), fleet(telemetry.TICK_DURATION, label="duration")],
            stat="Maximum", period=60),
        graph("Dead-letter queue", [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "${DeadLetterQueue.QueueName}"]],
            stat="Maximum"),
    ]


def custom_widgets() -> list[dict[str, Any]]:
    """Custom widgets (a Lambda that returns HTML), shown under the alarms."""
    return [
        # The fleet table: the console calls the widget's Lambda with the viewer's own
        # credentials (lambda:InvokeFunction on it) and renders the HTML it returns.
        {"type": "custom", "width": 24, "height": 14, "properties": {
            "title": "keepwarm fleet: status, next action, cold starts, this month's projection, today",
            "endpoint": "${FleetWidget.Arn}",
            "updateOn": {"refresh": True, "resize": False, "timeRange": False},
            "params": {}}},
    ]


def dashboard_body() -> dict[str, Any]:
    """The dashboard's body for ``Fn::Sub``: the widgets placed in rows of 24 units."""
    placed, x, y, row = [], 0, 0, 0
    for widget in dashboard_widgets():
        if x + widget["width"] > 24:
            x, y, row = 0, y + row, 0
        placed.append({**widget, "x": x, "y": y})
        x, row = x + widget["width"], max(row, widget["height"])
    return {"widgets": placed}


def observability() -> dict[str, Any]:
    """The alarm topic (and its e-mail subscription when AlarmEmail is given), the alarms
    and the dashboard."""
    return {
        "AlarmTopic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "keepwarm alarms"}},
        "AlarmEmailSubscription": {
            "Type": "AWS::SNS::Subscription", "Condition": "HasAlarmEmail",
            "Properties": {"TopicArn": {"Ref": "AlarmTopic"}, "Protocol": "email",
                           "Endpoint": {"Ref": "AlarmEmail"}},
        },
        **alarms(),
        "FleetDashboard": {
            "Type": "AWS::CloudWatch::Dashboard",
            "Properties": {"DashboardName": {"Fn::Sub": "${AWS::StackName}-fleet"},
                           "DashboardBody": {"Fn::Sub": json.dumps(dashboard_body())}},
        },
    }


def merge_template(stage: str) -> dict[str, Any]:
    n = names(stage)
    env = {"Properties": {"Environment": {"Variables": {
        # Ref ModelsTable when the stack creates it, so the functions wait for it.
        "KEEPWARM_TABLE": {"Fn::If": ["CreateTable", {"Ref": "ModelsTable"}, {"Ref": "TableName"}]},
        "KEEPWARM_QUEUE_URL": {"Ref": "WorkQueue"},
        "KEEPWARM_QUEUE_NAME": {"Fn::GetAtt": ["WorkQueue", "QueueName"]},
        # The same pattern the roles are granted sts:AssumeRole on (.chalice/policy-*.json).
        "KEEPWARM_ASSUME_ROLE_PATTERN": {"Fn::Sub": ASSUME_ROLE_ARNS},
        # The metrics' service dimension, which the alarms and the dashboard read.
        "POWERTOOLS_SERVICE_NAME": {"Ref": "AWS::StackName"},
        "KEEPWARM_WORKER_TIMEOUT_SECONDS": str(WORKER_TIMEOUT_SECONDS),
        **setting_variables(),
    }}}}
    resources: dict[str, Any] = {
        "ModelsTable": {
            "Type": "AWS::DynamoDB::Table",
            "Condition": "CreateTable",
            # Kept when the stack is deleted: it holds every model's schedule. A new stack
            # takes it back with CreateTable=false.
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "TableName": {"Ref": "TableName"},
                "BillingMode": "PAY_PER_REQUEST",
                **TABLE_KEYS,
                "TimeToLiveSpecification": {"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True},
            },
        },
        "DeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": n["dead"], "MessageRetentionPeriod": 1209600,
                           "SqsManagedSseEnabled": True},
        },
        "WorkQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": n["queue"],
                "VisibilityTimeout": 6 * WORKER_TIMEOUT_SECONDS,
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
                                  # The worker tells the last delivery by this count.
                                  "maxReceiveCount": {"Fn::If": ["DefaultMaxReceives", MAX_RECEIVES,
                                                                 {"Ref": "MaxReceives"}]}},
            },
        },
    }
    for function in ROLES:
        resources[function] = {"Properties": dict(env["Properties"])}
        resources.update(log_group(function))
    # The schedule invokes the tick asynchronously, and Lambda would retry a failed tick
    # twice, up to minutes later: it would plan with its old event time and, through the
    # lag metric, fire TickLagAlarm on top of TickErrorsAlarm. The next minute's tick
    # does the work instead.
    resources["Tick"]["Properties"]["EventInvokeConfig"] = {
        "MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": TICK_MAX_EVENT_AGE_SECONDS}
    # Named after the stack, so two stages' APIs are told apart in the console (and the
    # body's title, "keepwarm", is not the only name).
    resources["RestAPI"] = {"Properties": {"Name": {"Ref": "AWS::StackName"}}}
    # The worker answers which messages of a batch failed (chalicelib/delivery.py); Chalice
    # 1.34 cannot ask its event source to read that answer, so the merge does.
    resources["Worker"]["Properties"]["Events"] = {
        "WorkerSqsEventSource": {"Properties": {"FunctionResponseTypes": ["ReportBatchItemFailures"]}}}
    resources.update(observability())
    return {
        "Parameters": parameters(stage),
        "Conditions": {"CreateTable": {"Fn::Equals": [{"Ref": "CreateTable"}, "true"]},
                       "HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]},
                       # The condition on sts:AssumeRole in .chalice/policy-{api,worker}.json.
                       "AssumeRolesInOrg": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AssumeRoleOrgId"}, ""]}]},
                       "DefaultMaxReceives": {"Fn::Equals": [{"Ref": "MaxReceives"}, ""]}},
        "Resources": resources,
        "Outputs": {
            "ModelsTableName": {"Value": {"Ref": "TableName"}},
            "WorkQueueUrl": {"Value": {"Ref": "WorkQueue"}},
            "DeadLetterQueueUrl": {"Value": {"Ref": "DeadLetterQueue"}},
            "AlarmTopicArn": {"Value": {"Ref": "AlarmTopic"}},
            "FleetDashboardName": {"Value": {"Ref": "FleetDashboard"}},
            # For the key policy of a customer-managed KMS key that encrypts a model, and with
            # the API's, for the trust policy of a role a model in another account gives.
            "WorkerRoleArn": {"Value": {"Fn::GetAtt": ["WorkerRole", "Arn"]}},
            "ApiHandlerRoleArn": {"Value": {"Fn::GetAtt": ["ApiHandlerRole", "Arn"]}},
        },
    }


def package(stage: str, out: Path) -> Path:
    """Run ``chalice package`` with the merge template; returns the template's path."""
    queue = names(stage)["queue"]  # checks the stage before anything is written
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "KEEPWARM_QUEUE_NAME": queue}
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # chalice wants one; nothing is called
    with tempfile.TemporaryDirectory() as tmp:
        merge = Path(tmp) / "merge.json"
        merge.write_text(json.dumps(merge_template(stage), indent=2))
        chalice = Path(sys.executable).parent / "chalice"
        subprocess.run([str(chalice), "package", "--stage", stage, "--merge-template", str(merge),
                        str(out)], cwd=ROOT, env=env, check=True)
    return out / "sam.json"


def expand(template: Path) -> Path:
    """Write beside ``template`` the plain CloudFormation the SAM transform makes of it
    (``expanded.json``) and return its path.

    cfn-lint checks SAM resources against SAM's own schemas only (it no longer runs the
    transform itself); linting the expanded template too lets its rules see the Lambda
    functions, event source mappings, permissions and API stage CloudFormation creates.
    The code's S3 location, which ``aws cloudformation package`` fills in, is a placeholder.
    """
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    sam = json.loads(template.read_text())
    for resource in sam["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://placeholder/deployment.zip"
    # The transform wants a region; nothing is called.
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name="us-east-1"))
    expanded = template.with_name("expanded.json")
    expanded.write_text(json.dumps(translator.translate(sam, parameter_values={}), indent=2))
    return expanded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", default="dev", help=f"the stage name: {STAGE_RULE} (default dev)")
    parser.add_argument("--out", type=Path, help="output folder (default build/<stage>)")
    args = parser.parse_args(argv)
    try:
        check_stage(args.stage)
    except ValueError as err:
        parser.error(str(err))
    template = package(args.stage, args.out or ROOT / "build" / args.stage)
    expanded = expand(template)
    print(f"wrote {template}, {expanded} (after the SAM transform) and {template.parent / 'deployment.zip'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
