"""The deployable package: built offline as an operator would build it for any stage,
checked by cfn-lint before and after the SAM transform in each AWS partition, and its
policies held to least privilege in the stack's own partition."""
from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.delivery import WORKER_BATCH
from chalicelib.settings import Settings
from chalicelib.store import TABLE_KEYS
from deploy.package import ROLES, STAGE_RULE, main, names, package, setting_parameter

# Its module-scoped fixture is costly: all its tests run on one worker.
pytestmark = pytest.mark.xdist_group("package")

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("dev", "prod", "staging")
# A region of each partition: aws, aws-cn, aws-us-gov.
REGIONS = ("us-east-1", "cn-north-1", "us-gov-west-1")


@pytest.fixture(scope="module", params=STAGES)
def built(request, tmp_path_factory) -> tuple[str, Path]:
    """The stage and its template, built as ``make package STAGE=<stage>`` builds them."""
    stage, out = request.param, tmp_path_factory.mktemp(request.param)
    assert main(["--stage", stage, "--out", str(out)]) == 0
    return stage, out / "sam.json"


def expanded(template: Path) -> Path:
    return template.with_name("expanded.json")


def load(template: Path) -> dict:
    return json.loads(template.read_text())


def resources(template: Path) -> dict:
    return load(template)["Resources"]


def test_cfn_lint_passes_before_and_after_the_sam_transform_in_every_partition(built):
    _, template = built
    assert {r["Type"] for r in resources(expanded(template)).values()} >= {
        "AWS::Lambda::Function", "AWS::Lambda::EventSourceMapping", "AWS::Events::Rule"}
    lint = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), "--regions", *REGIONS, "--",
                           str(template), str(expanded(template))], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_table_matches_what_the_code_queries(built):
    stage, template = built
    table = resources(template)["ModelsTable"]["Properties"]
    assert table["TableName"] == {"Ref": "TableName"}
    assert load(template)["Parameters"]["TableName"]["Default"] == names(stage)["table"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    for key in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes"):
        assert table[key] == TABLE_KEYS[key]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_a_redeploy_after_deleting_the_stack_takes_back_the_kept_table(built):
    """The table outlives its stack; CreateTable=false makes a new stack use it instead of
    failing to create a table of the same name. (cfn-lint's W1001 checks that nothing
    else refers to the table resource when it is not created.)"""
    _, template = built
    doc = load(template)
    table = doc["Resources"]["ModelsTable"]
    assert table["DeletionPolicy"] == "Retain" and table["Condition"] == "CreateTable"
    assert doc["Parameters"]["CreateTable"]["Default"] == "true"
    assert doc["Conditions"]["CreateTable"] == {"Fn::Equals": [{"Ref": "CreateTable"}, "true"]}
    for fn in ROLES:
        told = doc["Resources"][fn]["Properties"]["Environment"]["Variables"]["KEEPWARM_TABLE"]
        assert told == {"Fn::If": ["CreateTable", {"Ref": "ModelsTable"}, {"Ref": "TableName"}]}
    assert doc["Outputs"]["ModelsTableName"] == {"Value": {"Ref": "TableName"}}


def test_queue_has_a_dead_letter_queue_and_outlasts_the_worker(built):
    stage, template = built
    res = resources(template)
    queue = res["WorkQueue"]["Properties"]
    assert queue["QueueName"] == names(stage)["queue"]
    assert res["DeadLetterQueue"]["Properties"]["QueueName"] == names(stage)["dead"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert queue["VisibilityTimeout"] >= 6 * res["Worker"]["Properties"]["Timeout"]
    source = res["Worker"]["Properties"]["Events"]["WorkerSqsEventSource"]["Properties"]
    assert source["Queue"]["Fn::Sub"].startswith("arn:${AWS::Partition}:sqs:")
    assert source["Queue"]["Fn::Sub"].endswith(f":{names(stage)['queue']}")


def test_the_worker_takes_batches_and_only_its_failures_come_back(built):
    _, template = built
    source = resources(template)["Worker"]["Properties"]["Events"]["WorkerSqsEventSource"]["Properties"]
    assert source["BatchSize"] == WORKER_BATCH and source["MaximumBatchingWindowInSeconds"] == 0
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    mapping, = [r["Properties"] for r in resources(expanded(template)).values()
                if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"] and mapping["BatchSize"] == WORKER_BATCH


def test_each_function_has_the_memory_its_work_needs(built):
    """CPU follows memory: the tick, which claims thousands of models in a minute, gets a
    whole vCPU and stops claiming well before its timeout; so do the API and the widget,
    which read every model's glance for the fleet view."""
    _, template = built
    res = resources(template)
    memory = {fn: res[fn]["Properties"]["MemorySize"] for fn in ROLES}
    assert memory == {"APIHandler": 1769, "Tick": 1769, "Worker": 512, "FleetWidget": 1769}
    defaults = Settings(table_name="t", queue_url="q")
    assert defaults.tick_claim_seconds + 10 <= res["Tick"]["Properties"]["Timeout"]


def test_every_function_is_told_where_the_table_and_queue_are(built):
    _, template = built
    res = resources(template)
    for fn in ROLES:
        env = res[fn]["Properties"]["Environment"]["Variables"]
        assert {"Ref": "TableName"} in env["KEEPWARM_TABLE"]["Fn::If"]
        assert env["KEEPWARM_QUEUE_URL"] == {"Ref": "WorkQueue"}
    assert res["Tick"]["Properties"]["Events"]["TickEvent"]["Properties"]["Schedule"] == "rate(1 minute)"


def statements(template: Path) -> dict[str, list[dict]]:
    """Each role's statements: its own policies and the policies attached to it."""
    res = resources(template)
    found: dict[str, list[dict]] = {name: [] for name, r in res.items() if r["Type"] == "AWS::IAM::Role"}
    for name, r in res.items():
        if r["Type"] == "AWS::IAM::Role":
            found[name] += [s for p in r["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]
        elif r["Type"] == "AWS::IAM::Policy":
            for role in r["Properties"]["Roles"]:
                found[role["Ref"]] += r["Properties"]["PolicyDocument"]["Statement"]
    return found


def arns(stmt: dict) -> list[str]:
    """A statement's resources, each of which must be an ``Fn::Sub`` string; none for the
    one grant that cannot name a resource."""
    if stmt["Action"] == ["cloudwatch:GetMetricData"]:
        # GetMetricData takes no resource-level permissions: "*" is all it can be granted on.
        assert stmt["Resource"] == ["*"], stmt
        return []
    assert all(list(r) == ["Fn::Sub"] for r in stmt["Resource"]), stmt["Resource"]
    return [r["Fn::Sub"] for r in stmt["Resource"]]


def parts(arn: str) -> tuple[str, str, str, str, str]:
    """An ARN's partition, service, region, account and resource, with the pseudo
    parameters (whose ``::`` would split wrongly) as ``{partition}``, ``{region}``, ``{account}``."""
    for pseudo, token in (("Partition", "{partition}"), ("Region", "{region}"), ("AccountId", "{account}")):
        arn = arn.replace(f"${{AWS::{pseudo}}}", token)
    _, partition, service, region, account, resource = arn.split(":", 5)
    return partition, service, region, account, resource


# What each function calls, and nothing more.
LOGS = {"logs:CreateLogStream", "logs:PutLogEvents"}
# State changes are put on the default event bus for operators' rules.
TELL = {"events:PutEvents"}
EXPECTED_ACTIONS = {
    # The API also queues a call that is due at once (a lease, a registration inside a
    # window), reads a model to check it is there and for its units, through a model's own
    # role where it has one. The indexes keep keys only: whoever queries one reads the
    # items with BatchGetItem. (SendMessageBatch is authorised by sqs:SendMessage.)
    "ApiHandlerRole": {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:DeleteItem",
                       "dynamodb:Query", "dynamodb:BatchWriteItem",
                       "sqs:SendMessage", "bedrock:GetImportedModel", "sts:AssumeRole", *LOGS, *TELL,
                       # A model's invocation counts, for GET .../suggestion: the API only.
                       "cloudwatch:GetMetricData"},
    "TickRole": {"dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:PutItem", "sqs:SendMessage", *LOGS, *TELL},
    # The worker reads a model registered unverified before calling it, and adds each exact
    # cold start to the fleet's totals (those items only: see the test below).
    "WorkerRole": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem",
                   "sqs:SendMessage", "sqs:ReceiveMessage",
                   "sqs:DeleteMessage", "sqs:GetQueueAttributes", "bedrock:InvokeModel",
                   "bedrock:GetImportedModel", "sts:AssumeRole", *LOGS, *TELL},
    # The dashboard's fleet widget only reads: the models (listed through the names index)
    # and their events.
    "FleetWidgetRole": {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", *LOGS},
}


def test_the_worker_may_touch_only_the_fleets_items_beyond_its_models(built):
    _, template = built
    fleet = [s for s in statements(template)["WorkerRole"] if "dynamodb:UpdateItem" in s["Action"]]
    assert len(fleet) == 1 and set(fleet[0]["Action"]) == {"dynamodb:Query", "dynamodb:UpdateItem"}
    assert fleet[0]["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["fleet#loads"]}}


def test_each_role_grants_only_what_its_function_calls(built):
    _, template = built
    function_of = {role: fn for fn, role in ROLES.items()}
    indexes = {f"/index/{i['IndexName']}" for i in TABLE_KEYS["GlobalSecondaryIndexes"]}
    here = ("{region}", "{account}")
    for role, stmts in statements(template).items():
        actions = {a for s in stmts for a in s["Action"]}
        assert actions == EXPECTED_ACTIONS[role], role
        for s in stmts:
            assert s["Effect"] == "Allow"
            assert not any("*" in a for a in s["Action"]), (role, s["Action"])
            for arn in arns(s):
                _, service, region, account, what = parts(arn)
                place = (region, account)
                if service == "dynamodb":
                    assert place == here and what.startswith("table/${TableName}"), (role, arn)
                    assert what.removeprefix("table/${TableName}") in {"", *indexes}, (role, arn)
                elif service == "sqs":
                    assert (place, what) == (here, "${WorkQueue.QueueName}"), (role, arn)
                elif service == "logs":
                    group = f"log-group:${{{function_of[role]}LogGroup}}"
                    assert place == here and what in (group, f"{group}:*"), (role, arn)
                elif service == "events":
                    assert (place, what) == (here, "event-bus/default"), (role, arn)
                elif service == "iam":
                    # Roles of the configured names only (in any account: the role's own trust
                    # policy decides whether we may), and the very pattern the API checks.
                    assert (region, account, what) == ("", "*", "role/${AssumeRoleNames}"), (role, arn)
                else:
                    # Any region (a model is called in its own), but this account's models:
                    # another account's are reached only as a role there.
                    assert (service, account, what) == ("bedrock", "{account}", "imported-model/*"), (role, arn)


def test_every_policy_resource_is_in_the_stacks_partition(built):
    """``aws-cn`` and ``aws-us-gov`` models are invoked with grants written for their own
    partition, not ``arn:aws:``."""
    _, template = built
    for role, stmts in statements(template).items():
        for s in stmts:
            for arn in arns(s):
                assert parts(arn)[0] == "{partition}", (role, arn)
    assert "arn:aws:" not in expanded(template).read_text()


def test_log_permissions_follow_each_functions_log_group_not_the_stack_name(built):
    """Whatever the stack is called, each role may write to its own function's log group
    and no other; the group is made by the stack, so the role cannot make one."""
    stage, template = built
    for role, stmts in statements(template).items():
        logs = [arn for s in stmts for arn in arns(s) if ":logs:" in arn]
        assert logs, role
        for arn in logs:
            assert not any(name in arn for name in ("keepwarm", stage, "AWS::StackName")), (role, arn)
    assert not any("logs:CreateLogGroup" in s["Action"] for stmts in statements(template).values()
                   for s in stmts)


def test_the_roles_the_api_accepts_are_the_roles_it_may_assume(built):
    _, template = built
    doc = load(template)
    granted = {arn for stmts in statements(template).values() for s in stmts if s["Action"] == ["sts:AssumeRole"]
               for arn in arns(s)}
    for fn in ROLES:
        told = doc["Resources"][fn]["Properties"]["Environment"]["Variables"]["KEEPWARM_ASSUME_ROLE_PATTERN"]
        assert granted == {told["Fn::Sub"]}
    assert doc["Parameters"]["AssumeRoleNames"]["Default"] == "keepwarm-*"
    assert doc["Outputs"]["ApiHandlerRoleArn"] == {"Value": {"Fn::GetAtt": ["ApiHandlerRole", "Arn"]}}


def test_every_setting_the_service_reads_is_a_parameter(built):
    """``make deploy PARAMS="CmuPrices=... KeepaliveMinutes=..."`` reaches every variable
    chalicelib/settings.py reads, in every function; the few the stack sets itself are
    its own resources, AssumeRoleNames, and the worker's timeout, which must equal it."""
    _, template = built
    doc = load(template)
    read = [Settings.env_name(f.name) for f in dataclasses.fields(Settings)]
    by_stack = {"KEEPWARM_TABLE", "KEEPWARM_QUEUE_URL", "KEEPWARM_ASSUME_ROLE_PATTERN",
                "KEEPWARM_WORKER_TIMEOUT_SECONDS"}
    for fn in ROLES:
        env = doc["Resources"][fn]["Properties"]["Environment"]["Variables"]
        for variable in read:
            value = env[variable]
            if variable not in by_stack:
                parameter = doc["Parameters"][value["Ref"]]
                # Empty leaves the service's own default (Settings.from_env reads "" as unset).
                assert parameter["Default"] == "", variable
        assert env["KEEPWARM_CMU_PRICES"] == {"Ref": "CmuPrices"}
        assert env["KEEPWARM_DEFAULT_KEEPALIVE_MINUTES"] == {"Ref": "KeepaliveMinutes"}
        assert env["KEEPWARM_WORKER_TIMEOUT_SECONDS"] == str(doc["Resources"]["Worker"]["Properties"]["Timeout"])
    for f in dataclasses.fields(Settings):
        pattern = doc["Parameters"].get(setting_parameter(f.name), {}).get("AllowedPattern")
        if pattern and f.type in ("int", "float"):
            assert re.fullmatch(pattern, "") and re.fullmatch(pattern, str(f.default)), f.name
            assert not re.fullmatch(pattern, "ten"), f.name
    # The queue hands a message to the dead-letter queue after the deliveries the worker counts.
    redrive = resources(template)["WorkQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
    assert redrive == {"Fn::If": ["DefaultMaxReceives", Settings.max_receives, {"Ref": "MaxReceives"}]}


def test_roles_may_be_assumed_only_in_the_organization_given(built):
    """AssumeRoleOrgId, when given, keeps the API and the worker from assuming a role of the
    right name in an account outside the organization; empty, the roles' trust decides."""
    _, template = built
    doc = load(template)
    assume = [s for stmts in statements(template).values() for s in stmts if s["Action"] == ["sts:AssumeRole"]]
    assert len(assume) == 2
    for s in assume:
        assert s["Condition"] == {"Fn::If": [
            "AssumeRolesInOrg", {"StringEquals": {"aws:ResourceOrgID": {"Ref": "AssumeRoleOrgId"}}},
            {"Ref": "AWS::NoValue"}]}
    assert doc["Conditions"]["AssumeRolesInOrg"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AssumeRoleOrgId"}, ""]}]}
    parameter = doc["Parameters"]["AssumeRoleOrgId"]
    pattern = re.compile(parameter["AllowedPattern"])
    assert parameter["Default"] == "" and pattern.fullmatch("") and pattern.fullmatch("o-a1b2c3d4e5")
    assert not pattern.fullmatch("123456789012") and not pattern.fullmatch("r-ab12")


def test_the_api_is_regional_as_every_partition_allows(built):
    """API Gateway has no edge-optimized APIs in aws-cn and aws-us-gov: Chalice's default
    (EDGE) would fail to deploy there."""
    _, template = built
    assert resources(template)["RestAPI"]["Properties"]["EndpointConfiguration"] == "REGIONAL"
    api, = [r["Properties"] for r in resources(expanded(template)).values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    assert api["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    assert api["Name"] == {"Ref": "AWS::StackName"}


def test_a_failed_tick_is_not_retried_with_its_old_time(built):
    """A retried tick would plan with its minute's old event time and fire the lag alarm;
    the next minute's tick does the work instead."""
    _, template = built
    config, = [r["Properties"] for r in resources(expanded(template)).values()
               if r["Type"] == "AWS::Lambda::EventInvokeConfig"]
    assert config["FunctionName"] == {"Ref": "Tick"} and config["Qualifier"] == "$LATEST"
    assert (config["MaximumRetryAttempts"], config["MaximumEventAgeInSeconds"]) == (0, 60)


def test_each_function_has_a_log_group_with_retention(built):
    _, template = built
    doc = load(template)
    retention = doc["Parameters"]["LogRetentionDays"]
    assert retention["Default"] == 30 and 30 in retention["AllowedValues"]
    for fn in ROLES:
        group = doc["Resources"][f"{fn}LogGroup"]
        assert group["Type"] == "AWS::Logs::LogGroup"
        assert group["Properties"] == {"LogGroupName": {"Fn::Sub": f"/aws/lambda/${{{fn}}}"},
                                       "RetentionInDays": {"Ref": "LogRetentionDays"}}


def test_one_set_of_policy_files_is_packaged_for_every_stage(built):
    _, template = built
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    assert config["autogen_policy"] is False and "stages" not in config
    files = {"ApiHandlerRole": config["iam_policy_file"],
             "TickRole": config["lambda_functions"]["tick"]["iam_policy_file"],
             "WorkerRole": config["lambda_functions"]["worker"]["iam_policy_file"],
             "FleetWidgetRole": config["lambda_functions"]["fleet_widget"]["iam_policy_file"]}
    res = resources(template)
    for role, name in files.items():
        doc = json.loads((ROOT / ".chalice" / name).read_text())
        assert res[role]["Properties"]["Policies"][0]["PolicyDocument"] == doc


@pytest.mark.parametrize("stage", ["d", "staging", "Team-2", "eu-central-1", "s" * 66])
def test_stage_names_every_resource_accepts(stage):
    assert names(stage)["queue"] == f"keepwarm-{stage}-work"
    assert len(names(stage)["dead"]) <= 80  # SQS's limit, the tightest


@pytest.mark.parametrize("stage", ["", "2dev", "dev_1", "dev.1", "dev stage", "dév", "s" * 67])
def test_a_stage_name_some_resource_refuses_is_rejected_with_the_rule(stage, tmp_path, capsys):
    with pytest.raises(ValueError, match=STAGE_RULE):
        package(stage, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit) as exit_:
        main(["--stage", stage, "--out", str(tmp_path / "out")])
    assert exit_.value.code == 2
    assert STAGE_RULE in capsys.readouterr().err


def test_every_route_requires_iam_authentication(built):
    _, template = built
    api = resources(template)["RestAPI"]["Properties"]["DefinitionBody"]
    methods = [(path, verb, spec) for path, ops in api["paths"].items()
               for verb, spec in ops.items() if verb != "options"]
    from app import app

    assert len(methods) == sum(len(by_method) for by_method in app.routes.values())
    for path, verb, spec in methods:
        assert spec.get("security") == [{"sigv4": []}], (path, verb)
    assert api["securityDefinitions"]["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"


def test_the_dashboard_shows_the_fleet_widget_from_its_own_function(built):
    """The custom widget names the stack's widget Lambda (which the console calls with the
    viewer's credentials); that function has its role, its log group and the table."""
    _, template = built
    doc = load(template)
    board = doc["Resources"]["FleetDashboard"]
    assert board["Type"] == "AWS::CloudWatch::Dashboard"
    body = json.loads(board["Properties"]["DashboardBody"]["Fn::Sub"])
    custom, = [w for w in body["widgets"] if w["type"] == "custom"]
    assert custom["properties"]["endpoint"] == "${FleetWidget.Arn}"
    assert custom["properties"]["updateOn"]["refresh"] is True
    widget = doc["Resources"]["FleetWidget"]["Properties"]
    assert widget["Handler"] == "app.fleet_widget" and widget["Role"] == {"Fn::GetAtt": ["FleetWidgetRole", "Arn"]}
    assert "Events" not in widget  # nothing calls it but the dashboard
    assert doc["Outputs"]["FleetDashboardName"] == {"Value": {"Ref": "FleetDashboard"}}


def published_metrics() -> set[tuple[str, str, frozenset[str]]]:
    """What the functions publish (namespace, metric, dimension names), as CloudWatch reads
    their EMF lines: each kind of model event, and a tick's report."""
    from chalicelib import telemetry
    from chalicelib.loop import TickReport
    from chalicelib.records import Event, Model, ModelConfig, ModelState
    from emf import data
    from helpers import at

    config = ModelConfig(name="m", model_arn="arn:aws:bedrock:us-west-2:123456789012:imported-model/abcdefghijkl",
                         timezone="UTC", windows=[{"start": "09:00", "stop": "18:00"}])
    happened = [Event(at(9, 5), "call", {"outcome": "ready"}), Event(at(9, 5), "cold_start", {"seconds": 400.0}),
                Event(at(9, 5), "unexpected_cold"), Event(at(9, 5), "error"), Event(at(9, 5), "dead_lettered"),
                Event(at(18), "window_not_ready", {"window_open": "2026-03-09T09:00:00Z",
                                                   "window_close": "2026-03-09T18:00:00Z", "late_seconds": None,
                                                   "verified_share": 0.0})]
    documents = telemetry.model_documents(Model(config, ModelState()), happened, Settings("t", "q"))
    documents.append(telemetry.document(telemetry._tick_measures(TickReport(), 1.0, 2.0, lambda: 0)))
    lines = "\n".join(json.dumps(d) for d in documents)
    return {datum.key for datum in data(lines)}


def alarms_of(template: Path) -> dict:
    return {name: r["Properties"] for name, r in resources(template).items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def test_each_alarm_watches_a_metric_the_service_publishes_and_notifies_the_topic(built):
    _, template = built
    watched = alarms_of(template)
    assert set(watched) == {"ModelInErrorAlarm", "DeadLetterAlarm", "TickLagAlarm", "TickDurationAlarm",
                            "TickFailuresAlarm", "TickErrorsAlarm", "NotReadyAlarm", "WindowReadyAlarm"}
    published = published_metrics()
    env = resources(template)["Tick"]["Properties"]["Environment"]["Variables"]
    for name, alarm in watched.items():
        assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "AlarmTopic"}], name
        assert alarm["AlarmDescription"], name
        if alarm["Namespace"] == "keepwarm":
            key = ("keepwarm", alarm["MetricName"], frozenset(d["Name"] for d in alarm["Dimensions"]))
            assert key in published, name
            # The dimension's value is the service name the functions publish under.
            assert alarm["Dimensions"] == [{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}]
    dead = watched["DeadLetterAlarm"]
    assert (dead["Namespace"], dead["MetricName"], dead["Threshold"]) == (
        "AWS/SQS", "ApproximateNumberOfMessagesVisible", 1)
    assert dead["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}
    # A tick that does not run at all is as late as can be.
    assert watched["TickLagAlarm"]["TreatMissingData"] == "breaching"
    timeout = json.loads((ROOT / ".chalice" / "config.json").read_text())["lambda_functions"]["tick"]["lambda_timeout"]
    assert Settings("t", "q").tick_claim_seconds - 10 <= watched["TickDurationAlarm"]["Threshold"] < timeout
    assert watched["TickLagAlarm"]["Threshold"] < 60  # within the tick's minute
    assert (watched["NotReadyAlarm"]["Threshold"], watched["NotReadyAlarm"]["ComparisonOperator"]) == (
        0, "GreaterThanThreshold")
    # Any window verified warm for less than 99% of its time: the lowest share of the period.
    window = watched["WindowReadyAlarm"]
    assert (window["MetricName"], window["Statistic"], window["Threshold"], window["ComparisonOperator"],
            window["TreatMissingData"]) == ("WindowReadyShare", "Minimum", 0.99, "LessThanThreshold", "notBreaching")


def test_the_alarm_topic_e_mails_only_when_an_address_is_given(built):
    _, template = built
    doc = load(template)
    assert doc["Resources"]["AlarmTopic"]["Type"] == "AWS::SNS::Topic"
    subscription = doc["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"] == {"TopicArn": {"Ref": "AlarmTopic"}, "Protocol": "email",
                                          "Endpoint": {"Ref": "AlarmEmail"}}
    assert doc["Parameters"]["AlarmEmail"]["Default"] == ""
    assert doc["Conditions"]["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    pattern = re.compile(doc["Parameters"]["AlarmEmail"]["AllowedPattern"])
    assert pattern.fullmatch("") and pattern.fullmatch("oncall@example.com")
    assert not pattern.fullmatch("not an address")
    assert doc["Outputs"]["AlarmTopicArn"] == {"Value": {"Ref": "AlarmTopic"}}


def test_the_dashboard_graphs_the_fleet_and_shows_every_alarm(built):
    _, template = built
    doc = load(template)
    body_text = doc["Resources"]["FleetDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    names = set(re.findall(r"\$\{([^}]+)\}", body_text))
    # Every name Fn::Sub fills in is a pseudo parameter or a resource of the stack.
    assert all(n.startswith("AWS::") or n.split(".")[0] in doc["Resources"] for n in names), names
    widgets = json.loads(body_text)["widgets"]
    cells = set()
    for w in widgets:
        assert 0 <= w["x"] and w["x"] + w["width"] <= 24
        mine = {(x, y) for x in range(w["x"], w["x"] + w["width"]) for y in range(w["y"], w["y"] + w["height"])}
        assert not cells & mine, w  # no widget covers another
        cells |= mine
    (shown,) = [w["properties"]["alarms"] for w in widgets if w["type"] == "alarm"]
    assert {a.rsplit("${", 1)[1].rstrip("}") for a in shown} == set(alarms_of(template))
    graphed = {m[1] for w in widgets if w["type"] == "metric" for m in w["properties"]["metrics"]
               if isinstance(m[0], str)}
    searched = " ".join(json.dumps(w["properties"]["metrics"]) for w in widgets if w["type"] == "metric")
    for metric in ("ModelsInError", "ColdStarts", "ColdStartSeconds", "NotReadySeconds", "UnexpectedColds",
                   "Errors", "DeadLetters", "TickDue", "TickEnqueued", "TickConflicts", "TickFailures",
                   "TickLag", "TickDuration", "ApproximateNumberOfMessagesVisible", "WindowReadyShare",
                   "WindowLateSeconds"):
        assert metric in graphed, metric
    assert 'MetricName=\\"Calls\\"' in searched  # calls by outcome, every model
