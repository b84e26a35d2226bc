#!/usr/bin/env python3
"""The media function copying a large file, against a plain streaming copy of the same file.

Everything is on loopback: a local file server (Python's http.server, in its own process) serves
one generated file; DynamoDB Local holds the message whose attachment names it; moto is the S3
server. Two things copy the file into the same bucket, alternately, `--runs` times each:

- the media function's release bootstrap, run as Lambda runs it (a minimal Runtime API here
  hands it one DynamoDB stream event per run): peak RSS (VmHWM) and wall time from the event
  handed over to the answer; the item's `stored` must carry the file's sha256 and size;
- `ingest-dev plain-copy` (release build): GET and multipart upload with the same S3 client,
  8 MiB parts one after the other, nothing else: wall time and peak RSS.

Throughput is the file's size over wall time. Run by bench/media.sh, which builds and starts
everything. A benchmark, not a test: it fails only when a copy does not work.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import queue
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PREFIX = "/2018-06-01/runtime"


class Failed(Exception):
    pass


class RuntimeApi:
    """A Runtime API for one process, one invocation at a time, with a 15-minute deadline."""

    def __init__(self):
        self.pending: queue.Queue = queue.Queue()
        self.answers: dict[str, queue.Queue] = {}
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self, status, body, headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the process was stopped while it waited

            def do_GET(self):
                if self.path != f"{PREFIX}/invocation/next":
                    return self.answer(404, b"{}")
                request_id, event = api.pending.get()
                if request_id is None:
                    self.close_connection = True
                    return self.answer(410, b"{}")
                self.answer(200, event, {
                    "Lambda-Runtime-Aws-Request-Id": request_id,
                    "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 900_000),
                    "Lambda-Runtime-Invoked-Function-Arn":
                        "arn:aws:lambda:us-east-1:123456789012:function:media",
                })

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = self.path[len(PREFIX):].strip("/").split("/")
                if len(parts) == 3 and parts[0] == "invocation":
                    api.answers[parts[1]].put((parts[2], body))
                elif parts == ["init", "error"]:
                    sys.stderr.write(f"init error: {body!r}\n")
                self.answer(202, b'{"status":"OK"}')

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def invoke(self, event: bytes, alive, timeout: float) -> tuple[str, bytes]:
        request_id = str(uuid.uuid4())
        self.answers[request_id] = queue.Queue()
        self.pending.put((request_id, event))
        give_up = time.monotonic() + timeout
        while True:
            try:
                return self.answers[request_id].get(timeout=0.25)
            except queue.Empty:
                if not alive():
                    raise Failed("the media function exited (see its log)")
                if time.monotonic() > give_up:
                    raise Failed(f"no answer within {timeout} s")

    def close(self):
        self.pending.put((None, None))
        self.server.shutdown()


def ddb(endpoint: str, target: str, payload: dict) -> dict:
    """One DynamoDB Local call (it does not check signatures)."""
    request = urllib.request.Request(endpoint, data=json.dumps(payload).encode(), method="POST", headers={
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": f"DynamoDB_20120810.{target}",
        "Authorization": "AWS4-HMAC-SHA256 Credential=bench/20200101/us-east-1/dynamodb/aws4_request, "
                         "SignedHeaders=host, Signature=0",
    })
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def message_item(table: str, message_id: str, url: str) -> dict:
    return {
        "pk": {"S": "callbell#bench-conversation"},
        "sk": {"S": f"MSG#2025-11-20T12:00:00.000Z#{message_id}"},
        "provider": {"S": "callbell"},
        "conversation_id": {"S": "bench-conversation"},
        "message_id": {"S": message_id},
        "channel": {"S": "whatsapp"},
        "kind": {"S": "video"},
        "attachments": {"L": [{"M": {"kind": {"S": "video"}, "url": {"S": url}}}]},
    }


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_child(command, env, log) -> tuple[float, int, int]:
    """Runs a command; (wall seconds, peak RSS KiB, exit status)."""
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    return time.perf_counter() - started, usage.ru_maxrss, os.waitstatus_to_exitcode(status)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--ingest-dev", required=True)
    parser.add_argument("--dynamodb", required=True)
    parser.add_argument("--s3", required=True)
    parser.add_argument("--table", default="messages")
    parser.add_argument("--bucket", default="media-bench")
    parser.add_argument("--size-mib", type=int, default=200)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--work", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    served = work / "served"
    served.mkdir(exist_ok=True)
    big = served / "big.bin"
    size = args.size_mib * 1024 * 1024
    digest = hashlib.sha256()
    rng = random.Random(200)
    with open(big, "wb") as f:
        for _ in range(args.size_mib):
            chunk = rng.randbytes(1024 * 1024)
            digest.update(chunk)
            f.write(chunk)
    want_sha = digest.hexdigest()
    log = open(work / "media-bench.log", "wb")

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                               "--directory", str(served), str(port)],
                              stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    url = f"http://127.0.0.1:{port}/big.bin"

    base_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "TZ": "UTC",
        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_ENDPOINT_URL_DYNAMODB": args.dynamodb, "AWS_ENDPOINT_URL_S3": args.s3,
    }
    media_env = {
        **base_env,
        "AWS_LAMBDA_FUNCTION_NAME": "media",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/media",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "TABLE_NAME": args.table,
        "MEDIA_BUCKET": args.bucket,
        "MEDIA_MAX_BYTES": str(size + 1),
        "MEDIA_ALLOW_PRIVATE_NETWORKS": "true",
        "MEDIA_ALLOW_HOSTS": "127.0.0.1",
    }
    results = {"size_bytes": size, "media": [], "plain": []}
    try:
        for run in range(args.runs):
            # The media function: a fresh process each run, so VmHWM is this copy's.
            message_id = f"bench-{run}-{uuid.uuid4().hex[:8]}"
            item = message_item(args.table, message_id, url)
            ddb(args.dynamodb, "PutItem", {"TableName": args.table, "Item": item})
            event = json.dumps({"Records": [{
                "eventID": message_id, "eventName": "INSERT", "eventSource": "aws:dynamodb",
                "dynamodb": {"SequenceNumber": f"{run + 1:021d}", "NewImage": item,
                             "StreamViewType": "NEW_IMAGE"}}]}).encode()
            # A Runtime API of its own for each process: the last run's process, stopped while it
            # waited in GET /next, leaves a handler thread waiting for an event, which would take
            # this run's and hand it to a closed connection.
            api = RuntimeApi()
            process = subprocess.Popen([args.bootstrap],
                                       env={**media_env, "AWS_LAMBDA_RUNTIME_API": api.address},
                                       stdout=log, stderr=log, stdin=subprocess.DEVNULL)
            try:
                time.sleep(0.5)  # init; the clock starts when the event is handed over
                started = time.perf_counter()
                kind, body = api.invoke(event, lambda: process.poll() is None, timeout=900)
                elapsed = time.perf_counter() - started
                if kind != "response" or json.loads(body) != {"batchItemFailures": []}:
                    raise Failed(f"media function answered {kind}: {body[:300]!r}")
                status = Path(f"/proc/{process.pid}/status").read_text()
                rss = int(next(l for l in status.splitlines() if l.startswith("VmHWM:")).split()[1])
            finally:
                process.terminate()
                process.wait(10)
                api.close()
            got = ddb(args.dynamodb, "GetItem", {"TableName": args.table, "Key": {
                "pk": item["pk"], "sk": item["sk"]}, "ConsistentRead": True})
            stored = got["Item"]["attachments"]["L"][0]["M"]["stored"]["M"]
            if stored["sha256"]["S"] != want_sha or stored["size_bytes"]["N"] != str(size):
                raise Failed(f"stored {stored} is not the file's sha256 {want_sha}, {size} bytes")
            results["media"].append({"seconds": elapsed, "peak_rss_kib": rss})
            print(f"media function: {elapsed:.2f} s, {size / elapsed / 2**20:.1f} MiB/s, "
                  f"peak RSS {rss / 1024:.1f} MiB", flush=True)

            # The plain copy, same file, same S3 server.
            seconds, rss, code = run_child(
                [args.ingest_dev, "plain-copy", url, args.bucket, f"plain/{message_id}"],
                base_env, log)
            if code != 0:
                raise Failed(f"plain-copy exited {code} (see {work / 'media-bench.log'})")
            results["plain"].append({"seconds": seconds, "peak_rss_kib": rss})
            print(f"plain copy:     {seconds:.2f} s, {size / seconds / 2**20:.1f} MiB/s, "
                  f"peak RSS {rss / 1024:.1f} MiB", flush=True)
    finally:
        server.terminate()
        server.wait(10)
        big.unlink(missing_ok=True)

    media_s = statistics.median(r["seconds"] for r in results["media"])
    plain_s = statistics.median(r["seconds"] for r in results["plain"])
    results["summary"] = {
        "media_mib_s": size / media_s / 2**20,
        "plain_mib_s": size / plain_s / 2**20,
        "media_time_over_plain": media_s / plain_s,
        "media_peak_rss_mib": max(r["peak_rss_kib"] for r in results["media"]) / 1024,
        "plain_peak_rss_mib": max(r["peak_rss_kib"] for r in results["plain"]) / 1024,
        "host": {"cpus": os.cpu_count(), "load": os.getloadavg()},
    }
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    s = results["summary"]
    print(f"\nmedian of {args.runs}: media {s['media_mib_s']:.1f} MiB/s, plain {s['plain_mib_s']:.1f} "
          f"MiB/s, media time / plain time {s['media_time_over_plain']:.2f} (target <= 1.5); "
          f"media peak RSS {s['media_peak_rss_mib']:.1f} MiB (target <= 64)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failed as e:
        sys.exit(f"media bench: {e}")
