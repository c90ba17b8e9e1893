"""Invariants of terraform/ that a security reviewer signs off, checked on the parsed HCL.

Terraform cannot download providers here, so nothing is planned; these tests read the
configuration with python-hcl2 and check what matters: every bucket blocks public access,
is encrypted (our key where AWS allows it) and denies plain HTTP; no IAM statement allows a
"*" action; the function reads only uploads/ and writes only processed/ (so it cannot
trigger itself); the trigger is uploads/ only; every variable is typed, described and
validated; at most ten alarms (the free tier).
"""

from __future__ import annotations

import pathlib
import re

import hcl2
import pytest

TF = pathlib.Path(__file__).resolve().parents[2] / "terraform"


# --- loading ------------------------------------------------------------------------------

def _clean(v):
    """python-hcl2 keeps the quotes of string literals and marks blocks; strip both."""
    if isinstance(v, dict):
        # Keys like __is_block__ and __comments__ are python-hcl2's bookkeeping, not HCL.
        return {_clean(k): _clean(x) for k, x in v.items() if not k.startswith("__")}
    if isinstance(v, list):
        return [_clean(x) for x in v]
    if isinstance(v, str) and len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        return v[1:-1]
    return v


def _load():
    doc = {"resource": {}, "data": {}, "variable": {}, "output": {}, "locals": {}}
    for path in sorted(TF.glob("*.tf")):
        with path.open() as f:
            parsed = _clean(hcl2.load(f))
        for kind in ("resource", "data"):
            for block in parsed.get(kind, []):
                for rtype, named in block.items():
                    for name, body in named.items():
                        body["__file__"] = path.name
                        doc[kind][(rtype, name)] = body
        for block in parsed.get("variable", []):
            doc["variable"].update(block)
        for block in parsed.get("output", []):
            doc["output"].update(block)
        for block in parsed.get("locals", []):
            doc["locals"].update(block)
    return doc


DOC = _load()
RES = DOC["resource"]
DATA = DOC["data"]
LOCALS = DOC["locals"]


def resources(rtype):
    return {name: body for (t, name), body in RES.items() if t == rtype}


def policy_docs():
    return {name: body for (t, name), body in DATA.items() if t == "aws_iam_policy_document"}


def statements(doc_name):
    return policy_docs()[doc_name].get("statement", [])


def resolve(expr: str) -> str:
    """Replaces ${local.x} by the local's literal value where it is a plain string."""
    def sub(m):
        val = LOCALS.get(m.group(1))
        return val if isinstance(val, str) and "${" not in val else m.group(0)
    return re.sub(r"\$\{local\.([a-z_]+)\}", sub, expr)


def one(xs):
    assert isinstance(xs, list) and len(xs) == 1, xs
    return xs[0]


def ref(expr: str) -> str:
    """'${aws_s3_bucket.images.id}' -> 'aws_s3_bucket.images'."""
    m = re.fullmatch(r"\$\{([a-z0-9_]+\.[a-z0-9_]+)(\[0\])?\.[a-z_]+\}", expr)
    assert m, expr
    return m.group(1)


# --- files --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "versions.tf", "providers.tf", "variables.tf", "locals.tf", "outputs.tf", "kms.tf", "s3.tf",
    "dynamodb.tf", "sns.tf", "sqs.tf", "iam.tf", "lambda.tf", "cloudwatch.tf", "security.tf",
    "budgets.tf", "examples/free-tier.tfvars", "examples/security-max.tfvars",
])
def test_one_file_per_concern_exists(name):
    assert (TF / name).is_file()


def test_versions_are_pinned():
    with (TF / "versions.tf").open() as f:
        tf = _clean(hcl2.load(f))["terraform"][0]
    assert re.search(r">=\s*1\.\d+", tf["required_version"])
    aws = one(tf["required_providers"])["aws"]
    assert aws["source"] == "hashicorp/aws"
    assert re.fullmatch(r"~> 5\.\d+", aws["version"]), aws["version"]


# --- S3 -----------------------------------------------------------------------------------

BUCKETS = resources("aws_s3_bucket")


def _by_bucket(rtype):
    out = {}
    for name, body in resources(rtype).items():
        out[ref(body["bucket"])] = body
    return out


def test_there_are_exactly_the_images_and_logs_buckets():
    assert set(BUCKETS) == {"images", "logs"}


@pytest.mark.parametrize("bucket", sorted(BUCKETS))
def test_every_bucket_blocks_all_public_access(bucket):
    pab = _by_bucket("aws_s3_bucket_public_access_block")[f"aws_s3_bucket.{bucket}"]
    for flag in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
        assert pab[flag] is True, (bucket, flag)


@pytest.mark.parametrize("bucket", sorted(BUCKETS))
def test_every_bucket_enforces_ownership(bucket):
    oc = _by_bucket("aws_s3_bucket_ownership_controls")[f"aws_s3_bucket.{bucket}"]
    assert one(oc["rule"])["object_ownership"] == "BucketOwnerEnforced"


@pytest.mark.parametrize("bucket", sorted(BUCKETS))
def test_every_bucket_denies_non_tls(bucket):
    pol = _by_bucket("aws_s3_bucket_policy")[f"aws_s3_bucket.{bucket}"]
    doc = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.([a-z_]+)\.json\}", pol["policy"]).group(1)
    deny = [s for s in statements(doc) if s.get("effect") == "Deny"
            and any(c["variable"] == "aws:SecureTransport" and c["values"] == ["false"] for c in s.get("condition", []))]
    assert deny, bucket
    s = deny[0]
    assert s["actions"] == ["s3:*"]
    assert f"${{aws_s3_bucket.{bucket}.arn}}" in s["resources"]
    assert f"${{aws_s3_bucket.{bucket}.arn}}/*" in s["resources"]


def test_images_bucket_uses_our_kms_key_with_bucket_keys():
    sse = _by_bucket("aws_s3_bucket_server_side_encryption_configuration")["aws_s3_bucket.images"]
    rule = one(sse["rule"])
    d = one(rule["apply_server_side_encryption_by_default"])
    assert d["sse_algorithm"] == "aws:kms"
    assert d["kms_master_key_id"] == "${aws_kms_key.main.arn}"
    assert rule["bucket_key_enabled"] is True


def test_logs_bucket_is_encrypted_and_its_kms_exception_is_justified():
    # S3 server access logging cannot write to an SSE-KMS-default bucket; the exception must
    # be written down beside the resource, and the services that can use our key must.
    sse = _by_bucket("aws_s3_bucket_server_side_encryption_configuration")["aws_s3_bucket.logs"]
    d = one(one(sse["rule"])["apply_server_side_encryption_by_default"])
    assert d["sse_algorithm"] == "AES256"
    assert "CKV_AWS_145:S3 server access logging cannot deliver" in (TF / "s3.tf").read_text()
    assert RES[("aws_cloudtrail", "main")]["kms_key_id"] == "${aws_kms_key.main.arn}"
    assert RES[("aws_config_delivery_channel", "main")]["s3_kms_key_arn"] == "${aws_kms_key.main.arn}"


def test_images_bucket_denies_uploads_not_encrypted_with_our_key():
    st = {s["sid"]: s for s in statements("images_bucket")}
    s = st["DenyUploadsNotEncryptedWithStackKey"]
    assert s["effect"] == "Deny" and s["actions"] == ["s3:PutObject"]
    c = one(s["condition"])
    assert c["variable"] == "s3:x-amz-server-side-encryption-aws-kms-key-id"
    assert c["values"] == ["${aws_kms_key.main.arn}"]
    assert c["test"] == "StringNotEqualsIfExists"
    s = st["DenyUploadsWithoutKms"]
    assert one(s["condition"])["values"] == ["aws:kms"]


def test_only_the_function_may_write_processed():
    s = {s["sid"]: s for s in statements("images_bucket")}["DenyProcessedWritesExceptFunction"]
    assert s["effect"] == "Deny"
    assert resolve(one(s["resources"])) == "${aws_s3_bucket.images.arn}/processed/*"
    c = one(s["condition"])
    assert c["test"] == "ArnNotEquals" and c["values"] == ["${aws_iam_role.lambda.arn}"]


def test_lifecycles():
    lc = _by_bucket("aws_s3_bucket_lifecycle_configuration")
    img = one(lc["aws_s3_bucket.images"]["rule"])
    assert DOC["variable"]["images_expiration_days"]["default"] == 30
    assert one(img["expiration"])["days"] == "${var.images_expiration_days}"
    assert one(img["noncurrent_version_expiration"])["noncurrent_days"] == "${var.images_expiration_days}"
    logs = one(lc["aws_s3_bucket.logs"]["rule"])
    assert DOC["variable"]["access_logs_expiration_days"]["default"] == 365
    assert one(logs["expiration"])["days"] == "${var.access_logs_expiration_days}"


def test_images_access_logs_go_to_the_logs_bucket():
    lg = _by_bucket("aws_s3_bucket_logging")["aws_s3_bucket.images"]
    assert lg["target_bucket"] == "${aws_s3_bucket.logs.id}"


# --- trigger and the no-self-trigger property ----------------------------------------------

def test_prefixes_are_the_contract_and_disjoint():
    assert LOCALS["input_prefix"] == "uploads/"
    assert LOCALS["output_prefix"] == "processed/"
    a, b = LOCALS["input_prefix"], LOCALS["output_prefix"]
    assert not a.startswith(b) and not b.startswith(a)


def test_trigger_is_object_created_under_uploads_only():
    notes = resources("aws_s3_bucket_notification")
    assert list(notes) == ["images"]
    n = notes["images"]
    assert ref(n["bucket"]) == "aws_s3_bucket.images"
    fn = one(n["lambda_function"])
    assert resolve(fn["filter_prefix"]) == "uploads/"
    assert fn["events"] == ["s3:ObjectCreated:*"]
    assert "filter_suffix" not in fn
    assert fn["lambda_function_arn"] == "${aws_lambda_function.processor.arn}"


def test_s3_may_invoke_only_from_our_bucket_and_account():
    p = RES[("aws_lambda_permission", "s3_invoke")]
    assert p["principal"] == "s3.amazonaws.com"
    assert p["source_arn"] == "${aws_s3_bucket.images.arn}"
    assert p["source_account"] == "${local.account_id}"


# --- IAM ----------------------------------------------------------------------------------

def _all_statements():
    for name, doc in policy_docs().items():
        for s in doc.get("statement", []):
            yield name, s


def test_no_statement_has_a_star_action():
    for name, s in _all_statements():
        for a in s.get("actions", []) + s.get("not_actions", []):
            assert a != "*", (name, s.get("sid"))


def test_no_allow_statement_uses_a_wildcard_action():
    for name, s in _all_statements():
        if s.get("effect", "Allow") == "Allow":
            for a in s.get("actions", []):
                assert "*" not in a, (name, s.get("sid"), a)


def test_no_allow_statement_names_a_star_principal():
    for name, s in _all_statements():
        if s.get("effect", "Allow") == "Allow":
            for p in s.get("principals", []):
                assert "*" not in p["identifiers"], (name, s.get("sid"))


def test_star_resources_only_where_aws_requires_them():
    # A key policy's Resource "*" means "this key"; X-Ray's write actions have no
    # resource-level permissions. Nothing else may use "*".
    for name, s in _all_statements():
        if "*" in s.get("resources", []):
            if name == "kms":
                continue
            assert name == "lambda" and s["sid"] == "XRayWrite", (name, s.get("sid"))
            assert set(s["actions"]) == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def _role_statements():
    return {s["sid"]: s for s in statements("lambda")}


def test_function_role_has_exactly_the_listed_permissions():
    got = {(a, resolve(r)) for s in statements("lambda") for a in s["actions"] for r in s["resources"]}
    want = {
        ("s3:GetObject", "${aws_s3_bucket.images.arn}/uploads/*"),
        ("s3:GetObjectVersion", "${aws_s3_bucket.images.arn}/uploads/*"),
        ("s3:PutObject", "${aws_s3_bucket.images.arn}/processed/*"),
        ("s3:ListBucket", "${aws_s3_bucket.images.arn}"),
        ("dynamodb:GetItem", "${aws_dynamodb_table.records.arn}"),
        ("dynamodb:PutItem", "${aws_dynamodb_table.records.arn}"),
        ("dynamodb:UpdateItem", "${aws_dynamodb_table.records.arn}"),
        ("sns:Publish", "${aws_sns_topic.notifications.arn}"),
        ("sns:Publish", "${aws_sns_topic.security_alerts.arn}"),
        ("sqs:SendMessage", "${aws_sqs_queue.dlq.arn}"),
        ("kms:Decrypt", "${aws_kms_key.main.arn}"),
        ("kms:DescribeKey", "${aws_kms_key.main.arn}"),
        ("kms:GenerateDataKey", "${aws_kms_key.main.arn}"),
        ("logs:CreateLogStream", "${aws_cloudwatch_log_group.lambda.arn}:*"),
        ("logs:PutLogEvents", "${aws_cloudwatch_log_group.lambda.arn}:*"),
        ("xray:PutTraceSegments", "*"),
        ("xray:PutTelemetryRecords", "*"),
    }
    assert got == want
    assert all(s.get("effect", "Allow") == "Allow" for s in statements("lambda"))


def test_function_reads_only_uploads_and_writes_only_processed():
    for s in statements("lambda"):
        for a in s["actions"]:
            if a.startswith("s3:Get"):
                assert all(resolve(r).endswith("/uploads/*") for r in s["resources"]), s["sid"]
            if a.startswith("s3:Put") or a.startswith("s3:Delete") or a == "s3:CopyObject":
                assert all(resolve(r).endswith("/processed/*") for r in s["resources"]), s["sid"]


def test_function_may_list_only_under_uploads():
    # s3:ListBucket turns "deleted before processing" from 403 into 404 (a final outcome
    # instead of retries into the DLQ); the prefix condition keeps it to the input.
    listing = [s for s in statements("lambda") if "s3:ListBucket" in s["actions"]]
    s = one(listing)
    assert s["actions"] == ["s3:ListBucket"], s["sid"]
    assert s.get("effect", "Allow") == "Allow"
    assert one(s["resources"]) == "${aws_s3_bucket.images.arn}"
    c = one(s["condition"])
    assert c["test"] == "StringLike"
    assert c["variable"] == "s3:prefix"
    assert [resolve(v) for v in c["values"]] == ["uploads/*"]
    # No other list action anywhere in the role (ListBucketVersions, ListAllMyBuckets, ...).
    assert not [a for t in statements("lambda") for a in t["actions"]
                if a.startswith("s3:List") and t is not s]


def test_function_role_is_assumable_by_lambda_in_this_account_only():
    s = one(statements("lambda_assume"))
    assert one(s["principals"])["identifiers"] == ["lambda.amazonaws.com"]
    assert one(s["condition"])["variable"] == "aws:SourceAccount"


# --- KMS ----------------------------------------------------------------------------------

def test_key_rotates_and_has_a_policy():
    k = RES[("aws_kms_key", "main")]
    assert k["enable_key_rotation"] is True
    assert k["policy"] == "${data.aws_iam_policy_document.kms.json}"
    assert k["is_enabled"] is True


def test_key_administration_grants_no_data_plane_use():
    admin = {s["sid"]: s for s in statements("kms")}["KeyAdministrationByAccount"]
    data_plane = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:CreateGrant"}
    assert not data_plane & set(admin["actions"])


def test_account_use_of_the_key_is_through_our_services_or_bound_to_the_function():
    for s in statements("kms"):
        principals = [i for p in s.get("principals", []) for i in p["identifiers"]]
        if "${local.account_root}" in principals and s["sid"] != "KeyAdministrationByAccount":
            conds = {c["variable"] for c in s.get("condition", [])}
            assert conds & {"kms:ViaService", "kms:EncryptionContext:LambdaFunctionName"}, s["sid"]


def test_everything_that_stores_data_uses_our_key():
    key = "${aws_kms_key.main.arn}"
    t = RES[("aws_dynamodb_table", "records")]
    assert one(t["server_side_encryption"]) == {"enabled": True, "kms_key_arn": key}
    for name, topic in resources("aws_sns_topic").items():
        assert topic["kms_master_key_id"] == key, name
    assert RES[("aws_sqs_queue", "dlq")]["kms_master_key_id"] == key
    assert RES[("aws_cloudwatch_log_group", "lambda")]["kms_key_id"] == key
    assert RES[("aws_lambda_function", "processor")]["kms_key_arn"] == key


# --- function -----------------------------------------------------------------------------

FN = RES[("aws_lambda_function", "processor")]


def test_function_runtime_and_tracing():
    assert FN["runtime"] == "provided.al2023"
    assert FN["handler"] == "bootstrap"
    assert FN["architectures"] == ["${var.lambda_architecture}"]
    assert DOC["variable"]["lambda_architecture"]["default"] == "arm64"
    assert one(FN["tracing_config"])["mode"] == "Active"
    assert FN["reserved_concurrent_executions"] == "${var.reserved_concurrency}"
    assert FN["memory_size"] == "${var.lambda_memory_mb}"
    assert DOC["variable"]["lambda_memory_mb"]["default"] == 512
    assert "peak RSS" in (TF / "variables.tf").read_text()


def test_function_environment_is_the_contract():
    env = one(FN["environment"])["variables"]
    text = str(env)
    for name in ["IMAGES_BUCKET", "INPUT_PREFIX", "OUTPUT_PREFIX", "RECORDS_TABLE", "NOTIFICATIONS_TOPIC_ARN",
                 "SECURITY_ALERTS_TOPIC_ARN", "KMS_KEY_ID", "EXPECTED_BUCKET_OWNER", "MAX_INPUT_BYTES",
                 "MAX_DIMENSION", "SANDBOX_MODE", "LOG_LEVEL", "NOTIFY_HMAC_KEY_CIPHERTEXT"]:
        assert name in text, name
    assert "SANDBOX_MODE = \"best-effort\"" in (TF / "lambda.tf").read_text()
    assert DOC["variable"]["max_input_bytes"]["default"] == 10485760
    assert DOC["variable"]["max_dimension"]["default"] == 4096


def test_failed_async_invocations_go_to_the_dlq():
    cfg = RES[("aws_lambda_function_event_invoke_config", "processor")]
    dest = one(one(cfg["destination_config"])["on_failure"])
    assert dest["destination"] == "${aws_sqs_queue.dlq.arn}"
    assert cfg["maximum_retry_attempts"] == "${var.async_max_retry_attempts}"
    assert cfg["maximum_event_age_in_seconds"] == "${var.async_max_event_age_seconds}"


def test_recursive_loops_are_terminated():
    assert RES[("aws_lambda_function_recursion_config", "processor")]["recursive_loop"] == "Terminate"


def test_code_signing_is_enforced_when_configured():
    csc = RES[("aws_lambda_code_signing_config", "processor")]
    assert one(csc["policies"])["untrusted_artifact_on_deployment"] == "Enforce"


# --- data ---------------------------------------------------------------------------------

def test_records_table_matches_the_contract_and_stays_free():
    t = RES[("aws_dynamodb_table", "records")]
    assert (t["hash_key"], t["range_key"]) == ("pk", "sk")
    assert {(a["name"], a["type"]) for a in t["attribute"]} == {("pk", "S"), ("sk", "S")}
    assert one(t["ttl"]) == {"attribute_name": "expires_at", "enabled": True}
    assert t["billing_mode"] == "PROVISIONED"
    v = DOC["variable"]
    assert v["dynamodb_read_capacity"]["default"] <= 25 and v["dynamodb_write_capacity"]["default"] <= 25
    assert one(t["point_in_time_recovery"])["enabled"] == "${var.enable_point_in_time_recovery}"


# --- alarms and detection -----------------------------------------------------------------

def test_at_most_ten_alarms_and_each_goes_to_one_of_our_topics():
    alarms = resources("aws_cloudwatch_metric_alarm")
    assert 6 <= len(alarms) <= 10
    topics = {"${aws_sns_topic.notifications.arn}", "${aws_sns_topic.security_alerts.arn}"}
    for name, a in alarms.items():
        assert "count" not in a and "for_each" not in a, name
        assert a["alarm_actions"] and set(a["alarm_actions"]) <= topics, name


def test_the_design_alarms_exist():
    alarms = resources("aws_cloudwatch_metric_alarm")
    metrics = {(a["namespace"], a["metric_name"]) for a in alarms.values()}
    for m in [("AWS/Lambda", "Errors"), ("AWS/Lambda", "Throttles"), ("AWS/S3", "BucketSizeBytes"),
              ("AWS/SQS", "ApproximateNumberOfMessagesVisible"), ("AWS/SNS", "NumberOfMessagesPublished")]:
        assert m in metrics, m
    assert alarms["kms_key_state"]["metric_name"] == "KmsUnusable"
    assert alarms["lambda_throttles"]["alarm_actions"] == ["${aws_sns_topic.security_alerts.arn}"]


def test_log_group_retention_and_encryption():
    lg = RES[("aws_cloudwatch_log_group", "lambda")]
    assert lg["retention_in_days"] == "${var.log_retention_days}"
    assert DOC["variable"]["log_retention_days"]["default"] == 30


@pytest.mark.parametrize("rtype,name,toggle", [
    ("aws_guardduty_detector", "main", "enable_guardduty"),
    ("aws_guardduty_detector_feature", "s3", "enable_guardduty"),
    ("aws_securityhub_account", "main", "enable_security_hub"),
    ("aws_securityhub_standards_subscription", "cis", "enable_security_hub"),
    ("aws_config_configuration_recorder", "main", "enable_config"),
    ("aws_cloudtrail", "main", "enable_cloudtrail"),
])
def test_security_services_are_behind_toggles(rtype, name, toggle):
    assert RES[(rtype, name)]["count"] == f"${{var.{toggle} ? 1 : 0}}"


def test_security_services_are_configured_securely():
    assert RES[("aws_guardduty_detector_feature", "s3")]["name"] == "S3_DATA_EVENTS"
    assert "cis-aws-foundations-benchmark" in RES[("aws_securityhub_standards_subscription", "cis")]["standards_arn"]
    ct = RES[("aws_cloudtrail", "main")]
    assert ct["is_multi_region_trail"] is True and ct["enable_log_file_validation"] is True
    assert len(LOCALS["config_rules"]) >= 3


def test_monthly_budget_alerts_security_topic():
    b = RES[("aws_budgets_budget", "monthly")]
    assert b["time_unit"] == "MONTHLY"
    for n in b["notification"]:
        assert n["subscriber_sns_topic_arns"] == ["${aws_sns_topic.security_alerts.arn}"]


# --- variables, outputs, examples ---------------------------------------------------------

@pytest.mark.parametrize("name", sorted(DOC["variable"]))
def test_every_variable_is_typed_described_and_validated(name):
    v = DOC["variable"][name]
    assert v.get("type"), name
    assert isinstance(v.get("description"), str) and len(v["description"]) > 15, name
    if v["type"] != "${bool}" and v["type"] != "bool":
        assert v.get("validation"), f"{name} has no validation block"


def test_outputs_the_runbook_uses():
    for name in ["s3_bucket_name", "security_alerts_topic", "notifications_topic", "records_table_name",
                 "function_name", "dlq_url", "kms_key_arn", "log_group_name", "access_logs_bucket_name"]:
        assert name in DOC["output"], name
        assert DOC["output"][name].get("description"), name


@pytest.mark.parametrize("example", ["free-tier", "security-max"])
def test_examples_set_only_declared_variables(example):
    with (TF / "examples" / f"{example}.tfvars").open() as f:
        values = _clean(hcl2.load(f))
    assert values
    for k in values:
        assert k in DOC["variable"], f"{example}.tfvars sets undeclared {k}"


def test_security_max_turns_every_detective_control_on():
    with (TF / "examples" / "security-max.tfvars").open() as f:
        values = _clean(hcl2.load(f))
    for toggle in ["enable_guardduty", "enable_security_hub", "enable_config", "enable_cloudtrail",
                   "enable_point_in_time_recovery"]:
        assert values[toggle] is True, toggle


def test_every_checkov_skip_carries_a_reason():
    for path in TF.rglob("*.tf"):
        for line in path.read_text().splitlines():
            if "checkov:skip" in line:
                m = re.search(r"#checkov:skip=(CKV2?_AWS_\d+):(.+)$", line)
                assert m and len(m.group(2).strip()) > 30, f"{path.name}: {line.strip()}"
