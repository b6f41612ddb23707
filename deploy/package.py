"""Build the deployable CloudFormation (SAM) package for a stage: ``make package STAGE=dev``.

``chalice package`` writes the functions, the API, the schedule and the SQS event source;
the merge template built here adds what Chalice does not manage: the DynamoDB table
(on-demand, TTL, point-in-time recovery, the indexes the code queries, declared from the
same definition the code and tests use) and the work queue with its dead-letter queue, and
wires their names into every function's environment. ``expand`` runs the SAM transform
offline, so cfn-lint checks what CloudFormation creates too.

Resource names are fixed per stage (``keepwarm-<stage>``, ``keepwarm-<stage>-work``,
``keepwarm-<stage>-dead``) because the hand-written IAM policies in ``.chalice/`` name
them. Works offline with no AWS credentials.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib.store import TABLE_KEYS, TTL_ATTRIBUTE  # noqa: E402

FUNCTIONS = ("APIHandler", "Tick", "Worker")
# AWS's advice for a Lambda event source: visibility at least 6x the function's timeout.
WORKER_TIMEOUT_SECONDS = 120
MAX_RECEIVES = 5  # as KEEPWARM_MAX_RECEIVES' default


def names(stage: str) -> dict[str, str]:
    return {"table": f"keepwarm-{stage}", "queue": f"keepwarm-{stage}-work",
            "dead": f"keepwarm-{stage}-dead"}


def merge_template(stage: str) -> dict[str, Any]:
    n = names(stage)
    env = {"Properties": {"Environment": {"Variables": {
        "KEEPWARM_TABLE": {"Ref": "ModelsTable"},
        "KEEPWARM_QUEUE_URL": {"Ref": "WorkQueue"},
        "KEEPWARM_QUEUE_NAME": {"Fn::GetAtt": ["WorkQueue", "QueueName"]},
    }}}}
    return {
        "Resources": {
            "ModelsTable": {
                "Type": "AWS::DynamoDB::Table",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "TableName": n["table"],
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
                                      "maxReceiveCount": MAX_RECEIVES},
                },
            },
            **{fn: env for fn in FUNCTIONS},
        },
        "Outputs": {
            "ModelsTableName": {"Value": {"Ref": "ModelsTable"}},
            "WorkQueueUrl": {"Value": {"Ref": "WorkQueue"}},
            "DeadLetterQueueUrl": {"Value": {"Ref": "DeadLetterQueue"}},
        },
    }


def package(stage: str, out: Path) -> Path:
    """Run ``chalice package`` with the merge template; returns the template's path."""
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "KEEPWARM_QUEUE_NAME": names(stage)["queue"]}
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
    parser.add_argument("--stage", default="dev", choices=("dev", "prod"))
    parser.add_argument("--out", type=Path, help="output folder (default build/<stage>)")
    args = parser.parse_args(argv)
    template = package(args.stage, args.out or ROOT / "build" / args.stage)
    expanded = expand(template)
    print(f"wrote {template}, {expanded} (after the SAM transform) and {template.parent / 'deployment.zip'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
