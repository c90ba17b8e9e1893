#!/usr/bin/env python3
"""Cold start of the Lambda binary: from process start to its first request for an event.

Usage: cold_start.py --binary PATH --endpoint URL [--runs N] [--modes M,M] [--markdown FILE]

Each run starts the binary as Lambda does (the environment Terraform gives the function,
AWS_LAMBDA_RUNTIME_API pointing at a loopback listener this script owns) and stops the
clock when the Lambda runtime sends its first `GET /2018-06-01/runtime/invocation/next`:
that request is the function saying "ready for the first event". Everything the cold start
does is inside: exec and dynamic linking, reading and checking the configuration, the
sandbox self-test (a worker process is started and checked), the SDK's configuration, the
KMS key check and the decryption of the notification signing key. The two KMS calls go to
the AWS emulator at --endpoint (moto on loopback): the time is the binary's, not the
network's to a real KMS endpoint. The process is then killed; no event is served.

Also reported: the peak RSS of the function's process when it is ready (VmHWM).

Needs boto3 (the .tools/aws venv has it) and a running emulator (scripts/moto.sh start).
Exits 1 when a run does not reach "ready" within 30 s (its stderr is printed).
"""

import argparse
import base64
import os
import socket
import statistics
import subprocess
import sys
import time

import boto3

REGION = "us-east-1"
FUNCTION_NAME = "image-processor-cold-start"
ACCOUNT = "123456789012"


def aws_resources(endpoint):
    """The KMS key, the signing-key ciphertext and the two topics the cold start checks."""
    kw = dict(
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    kms = boto3.client("kms", **kw)
    key_arn = kms.create_key(Description="cold start bench")["KeyMetadata"]["Arn"]
    blob = kms.encrypt(
        KeyId=key_arn,
        Plaintext=b"cold-start-signing-key",
        EncryptionContext={"LambdaFunctionName": FUNCTION_NAME},
    )["CiphertextBlob"]
    sns = boto3.client("sns", **kw)
    topics = [
        sns.create_topic(Name=n, Attributes={"KmsMasterKeyId": key_arn})["TopicArn"]
        for n in ("cold-start-notifications", "cold-start-alerts")
    ]
    return key_arn, base64.b64encode(blob).decode(), topics


def function_env(endpoint, port, key_arn, ciphertext, topics, mode):
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "IMAGES_BUCKET": "cold-start-images",
        "INPUT_PREFIX": "uploads/",
        "OUTPUT_PREFIX": "processed/",
        "RECORDS_TABLE": "cold-start-records",
        "NOTIFICATIONS_TOPIC_ARN": topics[0],
        "SECURITY_ALERTS_TOPIC_ARN": topics[1],
        "KMS_KEY_ID": key_arn,
        "EXPECTED_BUCKET_OWNER": ACCOUNT,
        "MAX_INPUT_BYTES": "10485760",
        "MAX_DIMENSION": "4096",
        "SANDBOX_MODE": mode,
        "LOG_LEVEL": "info",
        "NOTIFY_HMAC_KEY_CIPHERTEXT": ciphertext,
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }


def peak_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def one_run(binary, env, listener):
    """Seconds from spawn to the first invocation/next request, and VmHWM in KiB then."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    try:
        listener.settimeout(30)
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            proc.kill()
            _, stderr = proc.communicate()
            sys.stderr.write(stderr.decode(errors="replace"))
            raise SystemExit("cold_start.py: the function was not ready within 30 s")
        with conn:
            conn.settimeout(30)
            data = b""
            while b"\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            t1 = time.perf_counter()
            line = data.split(b"\r\n", 1)[0].decode(errors="replace")
            if "/runtime/invocation/next" not in line:
                raise SystemExit(f"cold_start.py: unexpected first request: {line!r}")
            rss = peak_rss_kib(proc.pid)
    finally:
        proc.kill()
        proc.communicate()
    return t1 - t0, rss


def main():
    paras = __doc__.split("\n\n")  # without its usage paragraph: argparse prints its own
    ap = argparse.ArgumentParser(
        description="\n\n".join([paras[0]] + paras[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--binary", required=True, help="the image-processor-lambda binary")
    ap.add_argument(
        "--endpoint", required=True, help="the AWS emulator's URL (scripts/moto.sh url)"
    )
    ap.add_argument(
        "--runs", type=int, default=20, help="cold starts per sandbox mode (default 20)"
    )
    ap.add_argument(
        "--modes",
        default="best-effort,off",
        help="SANDBOX_MODE values to measure, comma-separated (default best-effort,off)",
    )
    ap.add_argument("--markdown", help="also write the table to this file")
    a = ap.parse_args()

    key_arn, ciphertext, topics = aws_resources(a.endpoint)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]

    rows = []
    for mode in a.modes.split(","):
        env = function_env(a.endpoint, port, key_arn, ciphertext, topics, mode)
        one_run(a.binary, env, listener)  # warm-up: page cache, moto's first-call costs
        times, rss = [], []
        for _ in range(a.runs):
            t, r = one_run(a.binary, env, listener)
            times.append(t * 1000)
            if r is not None:
                rss.append(r / 1024)
        times.sort()
        rows.append(
            (
                mode,
                statistics.median(times),
                times[0],
                times[-1],
                max(rss) if rss else float("nan"),
            )
        )

    size = os.path.getsize(a.binary)
    out = [
        f"Binary: `{os.path.basename(a.binary)}`, {size:,} bytes; {a.runs} cold starts per "
        "sandbox mode after one warm-up; KMS on the loopback emulator.",
        "",
        "| SANDBOX_MODE | median ms | min ms | max ms | peak RSS at ready MiB |",
        "|---|---:|---:|---:|---:|",
    ]
    for mode, med, lo, hi, r in rows:
        out.append(f"| {mode} | {med:.1f} | {lo:.1f} | {hi:.1f} | {r:.1f} |")
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
