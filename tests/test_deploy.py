"""``make deploy``, end to end against moto's CloudFormation (in process): the package
built as ``make package`` builds it, uploaded, the stack created and updated by change
set, and what the stack holds read back from each service as an operator would.

moto cannot create everything (docs/deploy.md says what): it skips CloudWatch alarms,
SNS subscriptions, API Gateway stages and the tick's EventInvokeConfig with a warning, and two gaps are closed here
the way CloudFormation behaves (``moto_as_cloudformation``)."""
from __future__ import annotations

import ast
import json
import re
import warnings
from datetime import datetime
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from chalicelib.settings import Settings
from deploy.deploy import PARAM_SPLIT, Deployer, DeployError, check_settings, main, parse_params
from deploy.package import main as package_main

# The package build is costly and shares Chalice's cache with test_package's.
pytestmark = pytest.mark.xdist_group("package")

ROOT = Path(__file__).resolve().parent.parent
STAGE, REGION, BUCKET = "prod", "us-west-2", "kw-deploy-code"
STACK = f"keepwarm-{STAGE}"
PRICES = '{"us-west-2": 0.0971}'


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("deploy") / STAGE
    assert package_main(["--stage", STAGE, "--out", str(out)]) == 0
    return out


@pytest.fixture
def moto_as_cloudformation(monkeypatch):
    """Two things moto's CloudFormation does not do and CloudFormation does: make a REST
    API's methods from its ``Body`` (moto ignores it, and then refuses the deployment of an
    API with no methods; its importer takes the same paths once labelled OpenAPI 3), and
    work out a stack's outputs after a change set runs (moto only does so for CreateStack
    and UpdateStack)."""
    from moto.apigateway import models as apigateway
    from moto.cloudformation.models import CloudFormationBackend

    create_api = apigateway.RestAPI.create_from_cloudformation_json.__func__

    def api_with_body(cls, name, cloudformation_json, account_id, region_name, **kwargs):
        api = create_api(cls, name, cloudformation_json, account_id, region_name, **kwargs)
        body = {**cloudformation_json["Properties"].get("Body", {}), "openapi": "3.0.1"}
        body.pop("swagger", None)
        apigateway.apigateway_backends[account_id][region_name].put_rest_api(api.id, body, fail_on_warnings=False)
        return api

    execute = CloudFormationBackend.execute_change_set

    def execute_and_output(self, change_set_name, stack_name=None):
        change_set = next(c for c in self.change_sets.values()
                          if change_set_name in (c.change_set_id, c.change_set_name))
        execute(self, change_set_name, stack_name)
        stack = self.stacks[change_set.stack_id]
        stack._parse_template()
        stack.parameters = change_set.parameters
        stack.output_map = stack._create_output_map()

    monkeypatch.setattr(apigateway.RestAPI, "create_from_cloudformation_json", classmethod(api_with_body))
    monkeypatch.setattr(CloudFormationBackend, "execute_change_set", execute_and_output)


def policies() -> dict[str, dict]:
    """docs/deploy.md's policies, each parsed, by what it is for."""
    found = {}
    for block in re.findall(r"```json\n(.*?)```", (ROOT / "docs" / "deploy.md").read_text(), re.S):
        doc = json.loads(block)
        assert doc["Version"] == "2012-10-17"
        found[doc["Statement"][0]["Sid"]] = doc
    return found


def allows(policy: dict, action: str, resource: str = "") -> bool:
    """Whether an Allow statement names the action (and, when given, a resource matching
    ``resource``: ``*`` matches anything, across ``/`` too, as IAM matches it)."""
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if statement["Effect"] == "Allow" and action in actions and (not resource or any(
                re.fullmatch(re.escape(r).replace(r"\*", ".*").replace(r"\?", "."), resource) for r in resources)):
            return True
    return False


# IAM's action for each S3 call the upload makes (a large file goes in parts).
S3_ACTIONS = {"CreateMultipartUpload": "PutObject", "UploadPart": "PutObject", "CompleteMultipartUpload": "PutObject",
              "HeadObject": "GetObject"}
# What CloudFormation calls, with the deployer's credentials, to create each type the stack holds.
CREATES = {"AWS::IAM::Role": "iam:CreateRole", "AWS::IAM::Policy": "iam:PutRolePolicy",
           "AWS::Lambda::Function": "lambda:CreateFunction", "AWS::Lambda::Permission": "lambda:AddPermission",
           "AWS::Lambda::EventSourceMapping": "lambda:CreateEventSourceMapping",
           "AWS::Lambda::EventInvokeConfig": "lambda:PutFunctionEventInvokeConfig",
           "AWS::DynamoDB::Table": "dynamodb:CreateTable", "AWS::SQS::Queue": "sqs:CreateQueue",
           "AWS::Events::Rule": "events:PutRule", "AWS::SNS::Topic": "sns:CreateTopic",
           "AWS::SNS::Subscription": "sns:Subscribe", "AWS::CloudWatch::Alarm": "cloudwatch:PutMetricAlarm",
           "AWS::CloudWatch::Dashboard": "cloudwatch:PutDashboard", "AWS::Logs::LogGroup": "logs:CreateLogGroup",
           "AWS::ApiGateway::RestApi": "apigateway:POST", "AWS::ApiGateway::Deployment": "apigateway:POST",
           "AWS::ApiGateway::Stage": "apigateway:POST"}


@pytest.fixture
def aws(moto_as_cloudformation, monkeypatch):
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_CLOUDFORMATION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with warnings.catch_warnings(), mock_aws():
        warnings.simplefilter("ignore")  # moto's "not supported by moto's CloudFormation"
        session = boto3.Session(region_name=REGION)
        # Every call the deploy makes, as IAM actions, for the deployer's policy.
        session.called, session.recording = set(), False

        def record(model, **_) -> None:  # returns None: anything else would stand for the answer
            if session.recording:
                session.called.add(f"{model.service_model.signing_name}:{S3_ACTIONS.get(model.name, model.name)}")

        session.events.register("before-call", record)
        session.client("s3").create_bucket(Bucket=BUCKET,
                                           CreateBucketConfiguration={"LocationConstraint": REGION})
        yield session


def deploy(build: Path, session, params: str = "", capsys=None) -> tuple[int, str, str]:
    session.recording = True
    try:
        code = main(["--stage", STAGE, "--bucket", BUCKET, "--region", REGION, "--build", str(build),
                     "--params", params], session=session, sleep=lambda _: None)
    finally:
        session.recording = False
    out = capsys.readouterr() if capsys else None
    return code, out.out if out else "", out.err if out else ""


def environment(session, function: str) -> dict[str, str]:
    name = physical(session, function)
    return session.client("lambda").get_function_configuration(FunctionName=name)["Environment"]["Variables"]


def physical(session, logical: str) -> str:
    # Not describe_stack_resource: moto fails it on a stack holding a type it skipped.
    listed = session.client("cloudformation").describe_stack_resources(StackName=STACK)["StackResources"]
    found, = [r["PhysicalResourceId"] for r in listed if r.get("LogicalResourceId") == logical]
    return found


def test_make_deploy_creates_the_stack_and_an_update_keeps_the_settings_not_given(build, aws, capsys):
    code, out, err = deploy(build, aws, f"CmuPrices={PRICES} KeepaliveMinutes=10 AssumeRoleOrgId=o-a1b2c3d4e5",
                            capsys)
    assert code == 0, err
    cfn = aws.client("cloudformation")
    stack = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    # The outputs and the next commands are printed.
    assert f"export KEEPWARM_URL={outputs['EndpointURL']}" in out and ".venv/bin/keepwarm list" in out
    assert f"FleetDashboardName: {STACK}-fleet" in out

    # The table, as the code queries it, kept if the stack goes.
    table = aws.client("dynamodb").describe_table(TableName=outputs["ModelsTableName"])["Table"]
    assert table["TableName"] == STACK and table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {i["IndexName"] for i in table["GlobalSecondaryIndexes"]} >= {"due_sharded", "model_names"}
    # The queues: the work queue hands a message to the dead-letter queue after five deliveries.
    sqs = aws.client("sqs")
    work = sqs.get_queue_attributes(QueueUrl=outputs["WorkQueueUrl"], AttributeNames=["All"])["Attributes"]
    redrive = json.loads(work["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(f":{STACK}-dead") and int(redrive["maxReceiveCount"]) == 5
    # Four functions, each with its own role and log group, told the settings given.
    lam, iam = aws.client("lambda"), aws.client("iam")
    for function, role in (("APIHandler", "ApiHandlerRole"), ("Tick", "TickRole"), ("Worker", "WorkerRole"),
                           ("FleetWidget", "FleetWidgetRole")):
        config = lam.get_function_configuration(FunctionName=physical(aws, function))
        assert config["Role"] == iam.get_role(RoleName=physical(aws, role))["Role"]["Arn"]
        env = config["Environment"]["Variables"]
        assert (env["KEEPWARM_CMU_PRICES"], env["KEEPWARM_DEFAULT_KEEPALIVE_MINUTES"]) == (PRICES, "10")
        assert env["KEEPWARM_TABLE"] == STACK and env["POWERTOOLS_SERVICE_NAME"] == STACK
        assert Settings.from_env(env).default_keepalive_minutes == 10  # what the function will read
        group = f"/aws/lambda/{config['FunctionName']}"
        groups = aws.client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
        assert [(g["logGroupName"], g["retentionInDays"]) for g in groups] == [(group, 30)]
    # The organization condition on sts:AssumeRole, in the worker's own policy.
    worker_role = physical(aws, "WorkerRole")
    documents = [iam.get_role_policy(RoleName=worker_role, PolicyName=policy)["PolicyDocument"]
                 for policy in iam.list_role_policies(RoleName=worker_role)["PolicyNames"]]
    # moto answers a role's own (not attached) policy as Python's text of it.
    documents = [ast.literal_eval(d) if isinstance(d, str) else d for d in documents]
    assume, = [s for document in documents for s in document["Statement"] if s["Action"] == ["sts:AssumeRole"]]
    assert assume["Condition"] == {"StringEquals": {"aws:ResourceOrgID": "o-a1b2c3d4e5"}}
    # The tick every minute (moto skips its EventInvokeConfig: test_package checks it); the
    # worker on the queue.
    events = aws.client("events")
    rule, = events.list_rules()["Rules"]
    assert rule["ScheduleExpression"] == "rate(1 minute)"
    target, = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    tick = lam.get_function(FunctionName=physical(aws, "Tick"))["Configuration"]["FunctionArn"]
    assert target["Arn"] == tick
    mapping, = lam.list_event_source_mappings(FunctionName=physical(aws, "Worker"))["EventSourceMappings"]
    assert mapping["EventSourceArn"].endswith(f":{STACK}-work")
    # The API with every route; the alarm topic; the dashboard with the fleet widget.
    api = aws.client("apigateway").get_rest_api(restApiId=outputs["RestAPIId"])
    # (moto answers no endpoint type for an API made from a template: test_package checks REGIONAL.)
    assert api["name"] == STACK
    paths = {r["path"] for r in aws.client("apigateway").get_resources(restApiId=api["id"], limit=500)["items"]}
    assert {"/models", "/models/{model}", "/fleet"} <= paths
    assert aws.client("sns").get_topic_attributes(TopicArn=outputs["AlarmTopicArn"])["Attributes"]
    board = aws.client("cloudwatch").get_dashboard(DashboardName=outputs["FleetDashboardName"])
    assert config["FunctionArn"].rsplit(":", 1)[1] in board["DashboardBody"]  # the widget's function

    # An update: one setting changed, the others as they were (not back to defaults).
    code, out, err = deploy(build, aws, "KeepaliveMinutes=12", capsys)
    assert code == 0, err
    assert cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    env = environment(aws, "Worker")
    assert (env["KEEPWARM_DEFAULT_KEEPALIVE_MINUTES"], env["KEEPWARM_CMU_PRICES"]) == ("12", PRICES)
    # The same again changes nothing, and says so.
    code, out, err = deploy(build, aws, "", capsys)
    assert code == 0 and f"{STACK} is already up to date" in out, err

    # docs/deploy.md's policy for the deployer allows every call the deploy made, and
    # what CloudFormation calls to create each type of resource in the template.
    deployer = policies()["Package"]
    made = aws.called
    assert {"s3:PutObject", "s3:GetBucketLocation", "cloudformation:CreateChangeSet",
            "cloudformation:ExecuteChangeSet"} <= made
    assert [action for action in sorted(made) if not allows(deployer, action)] == []
    types = {r["Type"] for r in json.loads((build / "expanded.json").read_text())["Resources"].values()}
    assert types <= set(CREATES), types - set(CREATES)
    assert [t for t in sorted(types) if not allows(deployer, CREATES[t])] == []


@pytest.mark.parametrize("params, message", [
    ("KeepaliveMinutes=15", "KeepaliveMinutes: KEEPWARM_DEFAULT_KEEPALIVE_MINUTES must be below "
                            "KEEPWARM_DEFAULT_RELEASE_MINUTES"),
    ("CmuPrices=cheap", "CmuPrices: KEEPWARM_CMU_PRICES"),
    ("PollSeconds=0", "PollSeconds: KEEPWARM_POLL_SECONDS must be at least 1"),
    ("KeepAlive=10", "KeepAlive is not a parameter of the template"),
    ("KeepaliveMinutes", "'KeepaliveMinutes' is not Name=value"),
])
def test_a_bad_parameter_stops_the_deploy_before_anything_is_uploaded(build, aws, capsys, params, message):
    code, _, err = deploy(build, aws, params, capsys)
    assert code == 1 and message in err
    assert "Contents" not in aws.client("s3").list_objects_v2(Bucket=BUCKET)
    assert aws.client("cloudformation").list_stacks()["StackSummaries"] == []


def test_a_bucket_in_another_region_is_refused_naming_both(build, aws, capsys):
    aws.client("s3", region_name="eu-west-1").create_bucket(
        Bucket="kw-elsewhere", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    code = main(["--stage", STAGE, "--bucket", "kw-elsewhere", "--region", REGION, "--build", str(build)],
                session=aws, sleep=lambda _: None)
    err = capsys.readouterr().err
    assert code == 1 and "kw-elsewhere is in eu-west-1, the stack would be in us-west-2" in err
    assert aws.client("cloudformation").list_stacks()["StackSummaries"] == []


def test_params_take_json_with_spaces_and_name_the_unknown():
    template = {"Parameters": {"CmuPrices": {}, "KeepaliveMinutes": {}, "AlarmEmail": {}}}
    given = 'CmuPrices={"us-west-2": 0.0971, "eu-west-1": 0.1} KeepaliveMinutes=10  AlarmEmail=ops@example.com'
    assert parse_params(given, template) == {"CmuPrices": '{"us-west-2": 0.0971, "eu-west-1": 0.1}',
                                             "KeepaliveMinutes": "10", "AlarmEmail": "ops@example.com"}
    assert parse_params("  ", template) == {}
    assert PARAM_SPLIT.split("A=1 B=x y") == ["A=1", "B=x y"]
    with pytest.raises(DeployError, match="TableNme is not a parameter"):
        parse_params("TableNme=x", template)
    check_settings({"CmuPrices": '{"us-west-2": 0.0971}', "KeepaliveMinutes": "10"})


def request(method: str, path: str) -> str:
    """The ARN IAM checks a signed request to the API against."""
    return f"arn:aws:execute-api:us-west-2:111122223333:abc123/api/{method}{path}"


def test_a_batch_jobs_policy_lets_it_lease_its_models_and_nothing_else():
    batch = policies()["LeaseNightlyModels"]
    for method, path in (("POST", "/models/nightly-llm/leases"), ("GET", "/models/nightly-llm/leases/l-1"),
                         ("DELETE", "/models/nightly-llm/leases/l-1")):
        assert allows(batch, "execute-api:Invoke", request(method, path)), (method, path)
    for method, path in (("PUT", "/models/nightly-llm"), ("DELETE", "/models/nightly-llm"), ("POST", "/models"),
                         ("POST", "/models/daily-llm/leases"), ("PUT", "/models/nightly-llm/override")):
        assert not allows(batch, "execute-api:Invoke", request(method, path)), (method, path)


def test_a_teams_policy_covers_every_route_of_its_own_models_and_no_others():
    from app import app

    team = policies()["OwnModels"]
    for route, methods in app.routes.items():
        for method in methods:
            mine = route.replace("{model}", "team-a-chat").replace("{lease}", "l-1")
            theirs = route.replace("{model}", "team-b-chat").replace("{lease}", "l-1")
            if "{model}" in route:
                assert allows(team, "execute-api:Invoke", request(method, mine)), (method, route)
                assert not allows(team, "execute-api:Invoke", request(method, theirs)), (method, route)
                by_arn = route.replace("{model}", "arn:aws:bedrock:us-west-2:111122223333:imported-model/x")
                assert not allows(team, "execute-api:Invoke", request(method, by_arn)), (method, route)
    for method, path in (("GET", "/models"), ("GET", "/fleet"), ("GET", "/status")):
        assert allows(team, "execute-api:Invoke", request(method, path))
    # Registration names the model in its body, which IAM does not see (the docs say so).
    assert not allows(team, "execute-api:Invoke", request("POST", "/models"))


def test_the_docs_list_every_setting_parameter():
    from deploy.package import setting_parameters

    text = (ROOT / "docs" / "deploy.md").read_text()
    assert [name for name in setting_parameters() if f"| `{name}` |" not in text] == []


def stack(status: str) -> dict:
    return {"Stacks": [{"StackName": STACK, "StackId": "arn:stack", "CreationTime": datetime(2026, 1, 1),
                        "StackStatus": status, "Parameters": [{"ParameterKey": "CmuPrices", "ParameterValue": ""}]}]}


def event(event_id: str, logical: str, status: str, reason: str = "") -> dict:
    return {"StackId": "arn:stack", "EventId": event_id, "StackName": STACK, "Timestamp": datetime(2026, 1, 1),
            "LogicalResourceId": logical, "ResourceStatus": status, "ResourceStatusReason": reason}


def test_a_failed_update_names_the_resources_that_failed_and_why(build, aws):
    """moto neither fails nor rolls back a stack: CloudFormation's answers for one that
    does are given here (botocore checks them against the service's model)."""
    said: list[str] = []
    deployer = Deployer(aws, STAGE, BUCKET, say=said.append, sleep=lambda _: None)
    deployer.cfn = aws.client("cloudformation")
    with Stubber(deployer.cfn) as cfn:
        cfn.add_response("describe_stacks", stack("UPDATE_COMPLETE"))
        cfn.add_response("create_change_set", {"Id": "arn:change", "StackId": "arn:stack"})
        cfn.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "Changes": []})
        cfn.add_response("describe_stack_events", {"StackEvents": [event("old", STACK, "UPDATE_COMPLETE")]})
        cfn.add_response("execute_change_set", {})
        failed = event("e2", "Worker", "UPDATE_FAILED", "Memory size 99 is below the minimum")
        later = [event("e3", STACK, "UPDATE_ROLLBACK_COMPLETE"), failed, event("old", STACK, "UPDATE_COMPLETE")]
        cfn.add_response("describe_stack_events", {"StackEvents": later})
        cfn.add_response("describe_stacks", stack("UPDATE_ROLLBACK_COMPLETE"))
        cfn.add_response("describe_stack_events", {"StackEvents": later})
        with pytest.raises(DeployError) as err:
            deployer.deploy(build, {"KeepaliveMinutes": "10"})
    assert str(err.value) == f"{STACK} is UPDATE_ROLLBACK_COMPLETE\n  Worker: Memory size 99 is below the minimum"
    assert "  Worker UPDATE_FAILED (Memory size 99 is below the minimum)" in said


def test_a_stack_whose_create_was_rolled_back_is_not_updated_and_the_deploy_says_what_to_do(build, aws):
    deployer = Deployer(aws, STAGE, BUCKET, say=lambda _: None, sleep=lambda _: None)
    deployer.cfn = aws.client("cloudformation")
    with Stubber(deployer.cfn) as cfn:
        cfn.add_response("describe_stacks", stack("ROLLBACK_COMPLETE"))
        with pytest.raises(DeployError, match="failed to create and was rolled back; .* delete it"):
            deployer.deploy(build, {})
    assert "Contents" not in aws.client("s3").list_objects_v2(Bucket=BUCKET)
