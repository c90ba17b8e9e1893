"""INCIDENT_RESPONSE.md runs as written.

Every ```sh block of the runbook is executed in order by bash (set -euo pipefail) against
moto (started by scripts/moto.sh), with AWS_ENDPOINT_URL pointing at it and the runbook's
shell variables set to resources this test creates, exactly as the runbook's first block
sets them from `terraform output`. Shell state (exported variables) carries from one block
to the next, as it would in the operator's terminal.

Lines that are not run, each with its reason:
- the `terraform output` / `cd` lines of the setup block: there is no deployment here; the
  test provides the same variables (and checks it provides every one the block exports);
- the commands in UNSUPPORTED: moto does not implement those APIs;
- `image-processor probe`, only when the CLI binary has not been built in this checkout.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import struct
import subprocess
import urllib.request
import uuid
import zipfile
import zlib

import boto3
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "INCIDENT_RESPONSE.md"
# awscli v1 replaces the SQS endpoint of the older regions by their legacy queue.* host
# unless --endpoint-url is given on the command line, ignoring AWS_ENDPOINT_URL; a region it
# has no legacy name for keeps the runbook's commands unchanged.
REGION = "eu-central-2"

# Commands moto cannot serve. Keep this short and honest.
UNSUPPORTED = {
    "aws guardduty list-findings": "moto 5.2 implements no GuardDuty findings API (no list_findings/get_findings)",
}


# --- reading the runbook ------------------------------------------------------------------

def sh_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", RUNBOOK.read_text(), flags=re.S)


def logical_lines(block: str) -> list[str]:
    out, cur = [], ""
    for line in block.splitlines():
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        cur += line
        if cur.strip() and not cur.strip().startswith("#"):
            out.append(cur.strip())
        cur = ""
    return out


def is_aws_command(line: str) -> bool:
    return bool(re.search(r"(^|[;|&(]\s*|\bdo\s+|\$\()aws\s+[a-z0-9-]+\s+[a-z0-9-]+", line))


TERRAFORM_EXPORT = re.compile(r'^export ([A-Z_]+)="\$\(terraform output -raw ([a-z0-9_]+)')


def test_runbook_has_the_sections_and_commands():
    text = RUNBOOK.read_text()
    for heading in ["Detect", "Triage", "Contain", "Eradicate", "Recover", "Review"]:
        assert re.search(rf"^## \d\. {heading}", text, flags=re.M), heading
    lines = [l for b in sh_blocks() for l in logical_lines(b)]
    joined = "\n".join(lines)
    for needed in ["put-function-concurrency --function-name \"$FUNCTION\" --reserved-concurrent-executions 0",
                   "put-bucket-notification-configuration", "kms disable-key", "kms enable-key",
                   "dynamodb query", "logs start-query", "image-processor probe", "sqs receive-message",
                   "lambda invoke", "sqs delete-message", "delete-function-concurrency"]:
        assert needed in joined, needed
    assert sum(is_aws_command(l) for l in lines) >= 30


def test_setup_block_exports_only_real_terraform_outputs():
    tf = (ROOT / "terraform" / "outputs.tf").read_text()
    outputs = set(re.findall(r'^output "([a-z0-9_]+)"', tf, flags=re.M))
    exported = [TERRAFORM_EXPORT.match(l) for l in logical_lines(sh_blocks()[0])]
    pairs = {m.group(1): m.group(2) for m in exported if m}
    assert pairs, "the first sh block must set the variables from terraform output"
    for var, out in pairs.items():
        assert out in outputs, f"{var} reads missing output {out}"


# --- the moto world -------------------------------------------------------------------------

def tiny_png() -> bytes:
    """A valid 1x1 grey PNG, made here (fixtures are made by the project)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def world(moto_url, tmp_path_factory):
    # Lambda "invocations" in moto without Docker: the function is stored and accepts calls.
    req = urllib.request.Request(f"{moto_url}/moto-api/config", method="POST",
                                 data=json.dumps({"lambda": {"use_docker": False}}).encode(),
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=5).read()

    kw = dict(endpoint_url=moto_url, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
    c = {s: boto3.client(s, **kw) for s in ["s3", "kms", "dynamodb", "sns", "sqs", "lambda", "logs", "iam",
                                            "securityhub", "cloudwatch"]}
    sfx = uuid.uuid4().hex[:8]
    prefix = f"ir-{sfx}"
    w = {"prefix": prefix}

    key = c["kms"].create_key(Description="runbook test")["KeyMetadata"]
    w["KEY_ARN"] = key["Arn"]

    for var, name in [("BUCKET", f"{prefix}-images"), ("LOGS_BUCKET", f"{prefix}-logs")]:
        c["s3"].create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        c["s3"].put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        w[var] = name
    png = tiny_png()
    c["s3"].put_object(Bucket=w["BUCKET"], Key="uploads/suspicious.jpg", Body=png,
                       ServerSideEncryption="aws:kms", SSEKMSKeyId=w["KEY_ARN"])
    c["s3"].put_object(Bucket=w["BUCKET"], Key="uploads/old.png", Body=png)
    c["s3"].put_object(Bucket=w["LOGS_BUCKET"], Key="s3-access/2025-01-01-00-00-00-ABCDEF", Body=b"log line")

    role = c["iam"].create_role(RoleName=f"{prefix}-lambda", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    w["ROLE_NAME"] = role["Role"]["RoleName"]

    zpath = tmp_path_factory.mktemp("zip") / "bootstrap.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\n")
    fn = c["lambda"].create_function(
        FunctionName=f"{prefix}-lambda", Runtime="provided.al2023", Handler="bootstrap",
        Role=role["Role"]["Arn"], Code={"ZipFile": zpath.read_bytes()}, Architectures=["arm64"],
        KMSKeyArn=w["KEY_ARN"])
    w["FUNCTION"] = fn["FunctionName"]
    c["lambda"].put_function_concurrency(FunctionName=w["FUNCTION"], ReservedConcurrentExecutions=5)

    c["s3"].put_bucket_notification_configuration(Bucket=w["BUCKET"], NotificationConfiguration={
        "LambdaFunctionConfigurations": [{
            "LambdaFunctionArn": fn["FunctionArn"], "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}}}]})

    w["TABLE"] = f"{prefix}-records"
    c["dynamodb"].create_table(
        TableName=w["TABLE"], BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}])
    for i, (k, status, reason) in enumerate([("uploads/suspicious.jpg", "rejected", "too-large-dimensions"),
                                             ("uploads/a.png", "rejected", "corrupt"),
                                             ("uploads/b.webp", "rejected", "corrupt"),
                                             ("uploads/c.jpg", "processed", None)]):
        item = {"pk": {"S": f"{w['BUCKET']}/{k}"}, "sk": {"S": f"v{i}"}, "status": {"S": status},
                "op": {"S": "fit"}, "request_id": {"S": f"req-{i}"}, "expires_at": {"N": "4102444800"},
                "sha256": {"S": "0" * 64}, "sandbox_layers": {"S": "process,env-cleared,fds-closed,rlimits"}}
        if reason:
            item["reason"] = {"S": reason}
        c["dynamodb"].put_item(TableName=w["TABLE"], Item=item)

    w["NOTIFY_TOPIC"] = c["sns"].create_topic(Name=f"{prefix}-notifications")["TopicArn"]
    w["ALERTS_TOPIC"] = c["sns"].create_topic(Name=f"{prefix}-security-alerts")["TopicArn"]

    w["DLQ_URL"] = c["sqs"].create_queue(QueueName=f"{prefix}-dlq")["QueueUrl"]
    s3_event = {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION,
                             "eventName": "ObjectCreated:Put",
                             "s3": {"bucket": {"name": w["BUCKET"], "arn": f"arn:aws:s3:::{w['BUCKET']}"},
                                    "object": {"key": "uploads/old.png", "size": len(png), "sequencer": "0A1B2C"}}}]}
    c["sqs"].send_message(QueueUrl=w["DLQ_URL"], MessageBody=json.dumps({
        "version": "1.0", "timestamp": "2025-01-01T00:00:00.000Z",
        "requestContext": {"requestId": "req-dlq", "functionArn": fn["FunctionArn"], "condition": "RetriesExhausted",
                           "approximateInvokeCount": 3},
        "requestPayload": s3_event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "Dependency", "errorMessage": "DynamoDB throttled"}}))
    w["s3_event"] = s3_event

    w["LOG_GROUP"] = f"/aws/lambda/{w['FUNCTION']}"
    c["logs"].create_log_group(logGroupName=w["LOG_GROUP"])
    c["logs"].create_log_stream(logGroupName=w["LOG_GROUP"], logStreamName="2025/01/01/[$LATEST]abc")
    import time
    now = int(time.time() * 1000)
    c["logs"].put_log_events(logGroupName=w["LOG_GROUP"], logStreamName="2025/01/01/[$LATEST]abc", logEvents=[
        {"timestamp": now - 60000 + i, "message": json.dumps({"level": "WARN", "message": "rejected", "status": "rejected",
                                                              "reason": r, "key": "uploads/suspicious.jpg", "request_id": f"req-{i}"})}
        for i, r in enumerate(["too-large-dimensions", "sandbox-violation", "corrupt"])])

    c["securityhub"].enable_security_hub()
    c["cloudwatch"].put_metric_alarm(AlarmName=f"{prefix}-rejection-spike", Namespace="AWS/SNS",
                                     MetricName="NumberOfMessagesPublished", Statistic="Sum", Period=300,
                                     EvaluationPeriods=1, Threshold=20, ComparisonOperator="GreaterThanOrEqualToThreshold",
                                     AlarmActions=[w["ALERTS_TOPIC"]])
    c["cloudwatch"].set_alarm_state(AlarmName=f"{prefix}-rejection-spike", StateValue="ALARM", StateReason="test")
    w["clients"] = c
    w["png"] = png
    return w


# --- running it -----------------------------------------------------------------------------

def cli_binary() -> pathlib.Path | None:
    for p in [ROOT / "target" / "release" / "image-processor", ROOT / "target" / "debug" / "image-processor"]:
        if p.is_file() and os.access(p, os.X_OK):
            return p
    return None


def test_every_runbook_command_runs_against_moto(world, moto_url, tmp_path):
    c = world["clients"]
    shim = tmp_path / "bin"
    shim.mkdir()
    cli = cli_binary()
    if cli:
        (shim / "image-processor").symlink_to(cli)
    provided = {k: world[k] for k in ["BUCKET", "LOGS_BUCKET", "TABLE", "FUNCTION", "LOG_GROUP", "DLQ_URL",
                                      "KEY_ARN", "ALERTS_TOPIC", "NOTIFY_TOPIC", "ROLE_NAME"]}
    env = {
        "PATH": f"{shim}:{ROOT / '.tools' / 'aws' / 'bin'}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_PAGER": "",
        "LC_ALL": "C.UTF-8",
        **provided,
    }
    state = tmp_path / "state.sh"
    ran_aws, not_run = [], []
    blocks = sh_blocks()
    for i, block in enumerate(blocks):
        lines = []
        for line in logical_lines(block):
            m = TERRAFORM_EXPORT.match(line)
            if i == 0 and m:
                assert m.group(1) in provided, f"the test does not provide {m.group(1)}"
                not_run.append((line, "set by the test from moto resources"))
                continue
            if i == 0 and line.startswith("cd "):
                not_run.append((line, "no terraform directory to enter here"))
                continue
            reason = next((r for cmd, r in UNSUPPORTED.items() if cmd in line), None)
            if reason:
                not_run.append((line, reason))
                continue
            if line.startswith("image-processor ") and not cli:
                not_run.append((line, "the image-processor CLI is not built in this checkout"))
                continue
            if is_aws_command(line):
                ran_aws.append(line)
            lines.append(line)
        script = "set -euo pipefail\n"
        if state.exists():
            script += f"source {state}\n"
        script += "\n".join(lines) + f"\nexport -p > {state}\n"
        res = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
        assert res.returncode == 0, f"runbook block {i} failed:\n{block}\n--- stdout\n{res.stdout}\n--- stderr\n{res.stderr}"
        if "image-processor probe" in block and cli:
            assert "format" in res.stdout, res.stdout
        # What happens in the world between the operator's steps: an upload arrives while
        # the trigger is off (Recover must re-trigger it).
        if "CONTAINED_AT=" in block:
            c["s3"].put_object(Bucket=world["BUCKET"], Key="uploads/while-contained.png", Body=world["png"])

    # Every aws command was run, or is listed as unsupported with its reason.
    all_aws = [l for b in blocks for l in logical_lines(b) if is_aws_command(l) and not TERRAFORM_EXPORT.match(l)]
    assert len(ran_aws) + sum(1 for l, _ in not_run if is_aws_command(l) and not TERRAFORM_EXPORT.match(l)) == len(all_aws)
    assert len(ran_aws) >= 30, len(ran_aws)
    print(f"\nran {len(ran_aws)} aws commands; not run: " + "; ".join(f"{l[:50]}... ({r})" for l, r in not_run))

    # The world after the runbook: contained, then recovered.
    evidence = next(tmp_path.glob("incident-*"))
    record = json.loads((evidence / "record.json").read_text())
    assert record["Items"][0]["reason"]["S"] == "too-large-dimensions"
    assert (evidence / "object.bin").read_bytes() == world["png"]
    assert json.loads((evidence / "event.json").read_text()) == world["s3_event"]
    assert (evidence / "retrigger.txt").read_text().split() == ["uploads/while-contained.png"]

    q = c["s3"].get_object_tagging(Bucket=world["BUCKET"], Key="quarantine/suspicious.jpg")
    assert {"Key": "incident", "Value": evidence.name} in q["TagSet"]
    versions = c["s3"].list_object_versions(Bucket=world["BUCKET"], Prefix="uploads/suspicious.jpg")
    assert versions.get("DeleteMarkers") and versions.get("Versions"), "quarantine keeps the original version"

    notif = c["s3"].get_bucket_notification_configuration(Bucket=world["BUCKET"])
    rules = notif["LambdaFunctionConfigurations"][0]["Filter"]["Key"]["FilterRules"]
    assert {"Name": "Prefix", "Value": "uploads/"} in rules or {"Name": "prefix", "Value": "uploads/"} in rules

    conc = c["lambda"].get_function_concurrency(FunctionName=world["FUNCTION"])
    assert conc["ReservedConcurrentExecutions"] == 5
    assert c["kms"].describe_key(KeyId=world["KEY_ARN"])["KeyMetadata"]["KeyState"] == "Enabled"
    attrs = c["sqs"].get_queue_attributes(QueueUrl=world["DLQ_URL"], AttributeNames=["ApproximateNumberOfMessages"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"
    assert c["iam"].list_role_policies(RoleName=world["ROLE_NAME"])["PolicyNames"] == []
