"""Deploy a stage in one command: ``make deploy STAGE=prod BUCKET=... REGION=...``.

Packages the stage (``deploy.package``: ``build/<stage>/``), uploads the code and the
template to the bucket, creates or updates the stack ``keepwarm-<stage>`` through a
change set, waits for it, and prints the stack's outputs and the commands to use it.
boto3 only: no AWS CLI, no SAM CLI. Credentials and the account are boto3's usual
(``AWS_PROFILE``, environment variables, an instance or SSO role).

What is deployed is ``expanded.json``, the template after the SAM transform, with the
code's S3 location filled in: plain CloudFormation, the very template cfn-lint checked
(``make package``), needing ``CAPABILITY_IAM`` only.

On an update, a parameter not given keeps the stack's current value (so a deploy does not
undo ``CmuPrices=...`` given last time); a new parameter takes its default. Parameter
values are checked before anything is uploaded: names against the template, the
service's settings as the functions will read them (chalicelib/settings.py).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib.settings import Settings, SettingsError  # noqa: E402
from deploy.package import check_stage, expand, package, setting_variables  # noqa: E402

# What the deploy needs of the template: it creates unnamed IAM roles.
CAPABILITIES = ["CAPABILITY_IAM"]
# CloudFormation's message for a change set that would change nothing.
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
# A stack in one of these can take a change set of this type.
CREATABLE = {"REVIEW_IN_PROGRESS"}
UPDATABLE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE",
             "IMPORT_ROLLBACK_COMPLETE"}


# Where one Name=value ends: white space before the next parameter's name.
PARAM_SPLIT = re.compile(r"\s+(?=[A-Za-z][A-Za-z0-9]*=)")


class DeployError(Exception):
    """The deploy cannot go on; the message says why and what to do."""


def stack_name(stage: str) -> str:
    return f"keepwarm-{check_stage(stage)}"


def parse_params(text: str, template: dict[str, Any]) -> dict[str, str]:
    """``Name=value Name=value`` as a dict, every name a parameter of ``template``;
    DeployError naming what is wrong. A value runs up to the next `` Name=``, so JSON
    (``CmuPrices={"us-east-1": 0.05}``) needs no quoting of its own."""
    known = template.get("Parameters", {})
    values: dict[str, str] = {}
    for item in PARAM_SPLIT.split(text.strip()) if text.strip() else []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise DeployError(f"PARAMS: {item!r} is not Name=value")
        if name not in known:
            raise DeployError(f"PARAMS: {name} is not a parameter of the template; "
                              f"it takes {', '.join(sorted(known))}")
        values[name] = value
    return values


def check_settings(values: dict[str, str]) -> None:
    """The settings the functions will read from these parameters, checked as they will
    check them at start-up: a bad value stops the deploy here, not every function later."""
    env = {"KEEPWARM_TABLE": "table", "KEEPWARM_QUEUE_URL": "queue"}
    for variable, ref in setting_variables().items():
        env[variable] = values.get(ref["Ref"], "")
    try:
        Settings.from_env(env)
    except SettingsError as err:
        # The parameter whose variable the message names first.
        first = re.search(r"KEEPWARM_[A-Z_]+", str(err))
        parameter = setting_variables().get(first.group(0) if first else "", {}).get("Ref")
        prefix = f"{parameter}: " if parameter else ""
        raise DeployError(f"PARAMS: {prefix}{err}") from None


def bucket_region(s3: Any, bucket: str) -> str:
    location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    # S3 answers nothing for us-east-1 and "EU" for the oldest eu-west-1 buckets.
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)


def upload(s3: Any, bucket: str, stage: str, build: Path) -> tuple[str, str]:
    """Upload the code and the template; their S3 keys. Keys are named by content, so a
    changed package is new code to CloudFormation and an unchanged one is no change."""
    zip_path = build / "deployment.zip"
    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()[:16]
    code_key = f"keepwarm/{stage}/deployment-{digest}.zip"
    try:
        s3.head_object(Bucket=bucket, Key=code_key)  # uploaded by an earlier deploy: tens of MB saved
    except s3.exceptions.ClientError:
        s3.upload_file(str(zip_path), bucket, code_key)
    template = json.loads((build / "expanded.json").read_text())
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            resource["Properties"]["Code"] = {"S3Bucket": bucket, "S3Key": code_key}
    body = json.dumps(template, indent=1).encode()
    template_key = f"keepwarm/{stage}/template-{hashlib.sha256(body).hexdigest()[:16]}.json"
    s3.put_object(Bucket=bucket, Key=template_key, Body=body)
    return code_key, template_key


def describe(cfn: Any, name: str) -> Optional[dict[str, Any]]:
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]
    except cfn.exceptions.ClientError as err:
        if "does not exist" in str(err):
            return None
        raise


def change_set_parameters(given: dict[str, str], template: dict[str, Any],
                          stack: Optional[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parameters given; on an update, every other one the stack has keeps its value."""
    previous = {p["ParameterKey"] for p in (stack or {}).get("Parameters", [])}
    found = [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(given.items())]
    if stack and stack["StackStatus"] not in CREATABLE:
        found += [{"ParameterKey": k, "UsePreviousValue": True}
                  for k in sorted(template.get("Parameters", {})) if k in previous and k not in given]
    return found


class Deployer:
    """One stack's deploy, on one boto3 session; ``say`` prints progress, ``sleep`` waits
    between polls (tests pass their own)."""

    def __init__(self, session: Any, stage: str, bucket: str, *, say: Callable[[str], None] = print,
                 sleep: Callable[[float], None] = time.sleep, poll_seconds: float = 5.0) -> None:
        self.stage, self.bucket, self.name = stage, bucket, stack_name(stage)
        self.region = session.region_name
        self.s3 = session.client("s3")
        self.cfn = session.client("cloudformation")
        self.say, self.sleep, self.poll = say, sleep, poll_seconds

    def check_bucket(self) -> None:
        try:
            where = bucket_region(self.s3, self.bucket)
        except self.s3.exceptions.ClientError as err:
            raise DeployError(f"bucket {self.bucket}: {err}") from None
        if where != self.region:
            raise DeployError(f"bucket {self.bucket} is in {where}, the stack would be in {self.region}: Lambda "
                              "reads code only from a bucket in its own region; use a bucket there")

    def deploy(self, build: Path, given: dict[str, str]) -> dict[str, str]:
        """Upload, change, wait; the stack's outputs. DeployError when it cannot or failed."""
        template = json.loads((build / "expanded.json").read_text())
        check_settings(given)
        self.check_bucket()
        stack = describe(self.cfn, self.name)
        if stack and stack["StackStatus"] == "ROLLBACK_COMPLETE":
            raise DeployError(f"{self.name} failed to create and was rolled back; it cannot be updated. See why "
                              f"in its events, delete it (boto3 delete_stack or the console) and deploy again")
        if stack and stack["StackStatus"] not in CREATABLE | UPDATABLE:
            raise DeployError(f"{self.name} is {stack['StackStatus']}: wait until it is done, then deploy again")
        kind = "UPDATE" if stack and stack["StackStatus"] in UPDATABLE else "CREATE"
        _, template_key = upload(self.s3, self.bucket, self.stage, build)
        self.say(f"uploaded the code and template to s3://{self.bucket}/keepwarm/{self.stage}/")
        change = self.cfn.create_change_set(
            StackName=self.name, ChangeSetName=f"keepwarm-{int(time.time())}", ChangeSetType=kind,
            # Path-style, as CloudFormation reads it with the caller's credentials (the
            # template is too large to pass in the request: 51,200 bytes at most).
            TemplateURL=f"{self.s3.meta.endpoint_url}/{self.bucket}/{template_key}",
            Parameters=change_set_parameters(given, template, stack), Capabilities=CAPABILITIES,
            Tags=[{"Key": "keepwarm:stage", "Value": self.stage}])
        described = self.wait_for_change_set(change["Id"])
        if described["Status"] == "FAILED":
            reason = described.get("StatusReason", "")
            if any(text in reason for text in NO_CHANGES):
                self.cfn.delete_change_set(ChangeSetName=change["Id"])
                self.say(f"{self.name} is already up to date: nothing to change")
                return self.outputs()
            raise DeployError(f"the change set for {self.name} failed: {reason}")
        self.say(f"{kind.lower()} {self.name}: {len(described.get('Changes', []))} resource changes")
        started = time.time()
        before = {e["EventId"] for e in self.events()}
        self.cfn.execute_change_set(ChangeSetName=change["Id"])
        status = self.wait_for_stack(set(before))
        if status != f"{kind}_COMPLETE":
            failed = [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}" for e in self.events()
                      if e["EventId"] not in before and e["ResourceStatus"].endswith("FAILED")]
            raise DeployError(f"{self.name} is {status}" + "".join(f"\n  {line}" for line in failed))
        self.say(f"{self.name} is {status} ({time.time() - started:.0f} s)")
        return self.outputs()

    def events(self) -> list[dict[str, Any]]:
        return self.cfn.describe_stack_events(StackName=self.name).get("StackEvents", [])

    def wait_for_change_set(self, change_id: str) -> dict[str, Any]:
        while True:
            described = self.cfn.describe_change_set(ChangeSetName=change_id)
            if described["Status"] in ("CREATE_COMPLETE", "FAILED"):
                return described
            self.sleep(self.poll)

    def wait_for_stack(self, seen: set[str]) -> str:
        """Wait until the stack is no longer in progress, printing each new event."""
        while True:
            for event in reversed(self.events()):
                if event["EventId"] not in seen:
                    seen.add(event["EventId"])
                    reason = f" ({event['ResourceStatusReason']})" if event.get("ResourceStatusReason") else ""
                    self.say(f"  {event.get('LogicalResourceId', '')} {event.get('ResourceStatus', '')}{reason}")
            status = describe(self.cfn, self.name)["StackStatus"]
            if not status.endswith("_IN_PROGRESS"):
                return status
            self.sleep(self.poll)

    def outputs(self) -> dict[str, str]:
        stack = describe(self.cfn, self.name) or {}
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def next_steps(outputs: dict[str, str]) -> str:
    """What to run next: the CLI pointed at the deployed API (it signs with your AWS
    credentials), and the dashboard."""
    lines = [f"  {key}: {value}" for key, value in sorted(outputs.items())]
    url = outputs.get("EndpointURL", "<EndpointURL>")
    lines += ["", "Next:", f"  export KEEPWARM_URL={url}", "  .venv/bin/keepwarm list",
              "  (callers need execute-api:Invoke on the API: docs/deploy.md)"]
    if "FleetDashboardName" in outputs:
        lines.append(f"  the fleet dashboard: CloudWatch > Dashboards > {outputs['FleetDashboardName']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None, *, session: Any = None,
         sleep: Callable[[float], None] = time.sleep) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", required=True, help="the stage name (the stack is keepwarm-<stage>)")
    parser.add_argument("--bucket", required=True, help="an S3 bucket in --region for the code and template")
    parser.add_argument("--region", required=True, help="the region to deploy to")
    parser.add_argument("--params", default="", help='template parameters, "Name=value Name=value"')
    parser.add_argument("--build", type=Path, help="a package already built for the stage (default: build it "
                                                   "into build/<stage>)")
    args = parser.parse_args(argv)
    try:
        check_stage(args.stage)
    except ValueError as err:
        parser.error(str(err))
    import boto3

    session = session or boto3.Session(region_name=args.region)
    try:
        if args.build is None:
            args.build = ROOT / "build" / args.stage
            expand(package(args.stage, args.build))
        given = parse_params(args.params, json.loads((args.build / "expanded.json").read_text()))
        outputs = Deployer(session, args.stage, args.bucket, sleep=sleep).deploy(args.build, given)
    except DeployError as err:
        print(f"deploy: {err}", file=sys.stderr)
        return 1
    print(next_steps(outputs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
