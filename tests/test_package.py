"""The deployable package: built offline as an operator would build it, checked by cfn-lint
before and after the SAM transform, and its policies held to least privilege."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.store import TABLE_KEYS
from deploy.package import expand, names, package

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("dev", "prod")


@pytest.fixture(scope="module", params=STAGES)
def built(request, tmp_path_factory) -> tuple[str, Path]:
    stage = request.param
    return stage, package(stage, tmp_path_factory.mktemp(stage))


def resources(template: Path) -> dict:
    return json.loads(template.read_text())["Resources"]


def test_cfn_lint_passes_before_and_after_the_sam_transform(built):
    _, template = built
    expanded = expand(template)
    assert {r["Type"] for r in resources(expanded).values()} >= {
        "AWS::Lambda::Function", "AWS::Lambda::EventSourceMapping", "AWS::Events::Rule"}
    lint = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), str(template), str(expanded)],
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_table_matches_what_the_code_queries(built):
    stage, template = built
    table = resources(template)["ModelsTable"]["Properties"]
    assert table["TableName"] == names(stage)["table"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    for key in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes"):
        assert table[key] == TABLE_KEYS[key]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_queue_has_a_dead_letter_queue_and_outlasts_the_worker(built):
    stage, template = built
    res = resources(template)
    queue = res["WorkQueue"]["Properties"]
    assert queue["QueueName"] == names(stage)["queue"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert queue["VisibilityTimeout"] >= 6 * res["Worker"]["Properties"]["Timeout"]
    source = res["Worker"]["Properties"]["Events"]["WorkerSqsEventSource"]["Properties"]
    assert names(stage)["queue"] in source["Queue"]["Fn::Sub"]


def test_every_function_is_told_where_the_table_and_queue_are(built):
    _, template = built
    res = resources(template)
    for fn in ("APIHandler", "Tick", "Worker"):
        env = res[fn]["Properties"]["Environment"]["Variables"]
        assert env["KEEPWARM_TABLE"] == {"Ref": "ModelsTable"}
        assert env["KEEPWARM_QUEUE_URL"] == {"Ref": "WorkQueue"}
    assert res["Tick"]["Properties"]["Events"]["TickEvent"]["Properties"]["Schedule"] == "rate(1 minute)"


def statements(template: Path) -> dict[str, list[dict]]:
    res = resources(template)
    return {name: [s for p in r["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]
            for name, r in res.items() if r["Type"] == "AWS::IAM::Role"}


# What each function calls, and nothing more.
EXPECTED_ACTIONS = {
    # The API also queues a call that is due at once (a lease, a registration inside a
    # window) and reads a model's units for the cost estimate.
    "ApiHandlerRole": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query",
                       "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem", "sqs:SendMessage",
                       "bedrock:GetImportedModel",
                       "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"},
    "TickRole": {"dynamodb:Query", "dynamodb:PutItem", "sqs:SendMessage",
                 "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"},
    "WorkerRole": {"dynamodb:GetItem", "dynamodb:PutItem", "sqs:SendMessage", "sqs:ReceiveMessage",
                   "sqs:DeleteMessage", "sqs:GetQueueAttributes", "bedrock:InvokeModel",
                   "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"},
}


def test_each_role_grants_only_what_its_function_calls(built):
    stage, template = built
    n = names(stage)
    for role, stmts in statements(template).items():
        actions = {a for s in stmts for a in s["Action"]}
        assert actions == EXPECTED_ACTIONS[role], role
        for s in stmts:
            assert s["Effect"] == "Allow"
            assert not any("*" in a for a in s["Action"]), (role, s["Action"])
            for arn in s["Resource"]:
                assert arn != "*"
                service = arn.split(":")[2]
                allowed = {
                    "dynamodb": (f"table/{n['table']}",),
                    "sqs": (n["queue"],),
                    "logs": (f"log-group:/aws/lambda/keepwarm-{stage}-",),
                    "bedrock": ("imported-model/",),
                }[service]
                assert arn.split(":", 5)[5].startswith(allowed), (role, arn)


def test_policy_files_are_the_ones_packaged():
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    for stage in STAGES:
        stage_cfg = config["stages"][stage]
        assert stage_cfg["autogen_policy"] is False
        files = [stage_cfg["iam_policy_file"]] + [f["iam_policy_file"]
                                                  for f in stage_cfg["lambda_functions"].values()]
        for name in files:
            doc = json.loads((ROOT / ".chalice" / name).read_text())
            assert doc["Version"] == "2012-10-17"


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
