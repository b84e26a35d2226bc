#!/usr/bin/env python3
"""Cold starts, warm invocations and throughput of Lambda bootstraps, measured side by side.

A minimal local Lambda Runtime API (the 2018-06-01 HTTP interface every Lambda runtime client
speaks) hands events to one function process at a time, as Lambda does, and records:

- init: from spawning the process to its first `GET /runtime/invocation/next`;
- the first invocation's latency, against DynamoDB Local (event handed over -> response posted);
- warm latency, and CPU time per warm invocation from the process's scheduler statistics
  (/proc/<pid>/task/*/schedstat, nanoseconds, all threads);
- peak RSS (VmHWM) at the end of the run;
- throughput: one warm process fed by 1 and then 16 concurrent clients, requests/s and CPU
  time per request. One Lambda execution environment runs one invocation at a time, so with 16
  clients the queue is never empty: this is what one environment sustains, not parallelism.

Every event is a new, correctly signed message, so each invocation is a real conditional write
that must answer 200 "stored"; any other answer is counted and fails the run.

Runs are interleaved (run 1 of every variant, then run 2, ...) so that drift in the machine's
load spreads over all variants alike. Results go to a JSON file that bench/report.py renders.
It is run by scripts/bench.sh, which builds and starts everything it needs.
"""
from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import hmac
import json
import os
import platform
import queue
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "/2018-06-01/runtime"

# Local, published test values (as in local.env); the functions get them through the environment.
TIKTOK_APP_KEY = "bench-tiktok-app-key"
TIKTOK_APP_SECRET = "bench-tiktok-app-secret"
CALLBELL_SECRET = "bench-callbell-signing-secret"
# RFC 8032 test 1.
PARTOO_SECRET_KEY = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
PARTOO_PUBLIC_KEY = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"


class Failed(Exception):
    """A function did not work: the run stops, since its figures would mean nothing."""


# ---------------------------------------------------------------------------------------------
# The Runtime API


class Invocation:
    def __init__(self, event: bytes):
        self.request_id = str(uuid.uuid4())
        self.event = event
        self.done = threading.Event()
        self.enqueued_at = 0.0
        self.answered_at = 0.0
        self.response: bytes | None = None
        self.error: bytes | None = None

    @property
    def latency(self) -> float:
        return self.answered_at - self.enqueued_at


class RuntimeApi:
    """One server per function process, so that nothing leaks from one run into the next."""

    def __init__(self):
        self.pending: queue.Queue[Invocation | None] = queue.Queue()
        self.in_flight: dict[str, Invocation] = {}
        self.lock = threading.Lock()
        self.first_next = threading.Event()
        self.first_next_at = 0.0
        self.init_error: bytes | None = None
        self.process_alive = lambda: True  # set once the process is started
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Answers are written at once and sent at once: without this, Nagle's algorithm and
            # the client's delayed ACK add up to 40 ms to a round trip.
            disable_nagle_algorithm = True

            def log_message(self, *args):  # quiet
                pass

            def answer(self, status: int, body: bytes, headers: dict[str, str] | None = None):
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self._headers_buffer.append(b"\r\n")
                self._headers_buffer.append(body)
                try:
                    self.flush_headers()  # headers and body in one write
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the process was stopped while it waited

            def do_GET(self):
                if self.path != f"{PREFIX}/invocation/next":
                    return self.answer(404, b'{"errorMessage":"unknown path"}')
                api.note_next()
                invocation = api.pending.get()
                if invocation is None:  # the run is over
                    self.close_connection = True
                    return self.answer(410, b'{"errorMessage":"shutting down"}')
                with api.lock:
                    api.in_flight[invocation.request_id] = invocation
                deadline = int(time.time() * 1000) + 30_000
                self.answer(200, invocation.event, {
                    "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline),
                    "Lambda-Runtime-Invoked-Function-Arn":
                        "arn:aws:lambda:us-east-1:123456789012:function:bench",
                    "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
                })

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = self.path[len(PREFIX):].strip("/").split("/")
                if parts == ["init", "error"]:
                    api.init_error = body
                    api.first_next.set()
                    return self.answer(202, b'{"status":"OK"}')
                if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    with api.lock:
                        invocation = api.in_flight.pop(parts[1], None)
                    if invocation is None:
                        return self.answer(400, b'{"errorMessage":"unknown request id"}')
                    invocation.answered_at = time.perf_counter()
                    if parts[2] == "response":
                        invocation.response = body
                    else:
                        invocation.error = body or b"error"
                    invocation.done.set()
                    return self.answer(202, b'{"status":"OK"}')
                return self.answer(404, b'{"errorMessage":"unknown path"}')

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def note_next(self):
        if not self.first_next.is_set():
            self.first_next_at = time.perf_counter()
            self.first_next.set()

    def invoke(self, event: bytes, timeout: float = 15.0) -> Invocation:
        invocation = Invocation(event)
        invocation.enqueued_at = time.perf_counter()
        self.pending.put(invocation)
        give_up = time.monotonic() + timeout
        while not invocation.done.wait(0.25):
            if not self.process_alive():
                raise Failed("the function process exited (its output is in functions.log)")
            if time.monotonic() > give_up:
                raise Failed(f"no answer to an invocation within {timeout} s")
        return invocation

    def close(self):
        for _ in range(4):
            self.pending.put(None)
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------------------------------
# Events: a new, signed message for every invocation


class Events:
    """Signed API Gateway (payload 2.0) events, each a message never sent before."""

    def __init__(self, provider: str, stamp: str):
        self.provider = provider
        self.stamp = stamp  # digits unique to this bench run, so reruns never collide
        self.sequence = 0
        self.envelope = json.loads((ROOT / "events" / provider / SAMPLE[provider]).read_text())
        self.body = json.loads((ROOT / "events" / "bodies" / provider / SAMPLE[provider]).read_text())
        if provider == "partoo":
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
            self.partoo_key = Ed25519PrivateKey.from_private_bytes(PARTOO_SECRET_KEY)

    def next(self, conversation: int) -> bytes:
        self.sequence += 1
        n = self.sequence
        doc = copy.deepcopy(self.body)
        if self.provider == "tiktok-shop":
            data = doc["data"]
            data["conversation_id"] = f"{self.stamp}{conversation:06d}"
            data["message_id"] = f"{self.stamp}{n:08d}"
            data["index"] = f"{self.stamp}{n:08d}"
        elif self.provider == "partoo":
            doc["payload"]["message"]["id"] = int(f"{self.stamp}{n:06d}")
            doc["payload"]["message"]["conversation_id"] = int(f"{self.stamp}{conversation:04d}")
            doc["payload"]["conversation"]["id"] = int(f"{self.stamp}{conversation:04d}")
        else:
            doc["payload"]["uuid"] = f"{self.stamp}{n:012d}"
            doc["payload"]["contact"]["uuid"] = f"{self.stamp}{conversation:08d}"
        body = json.dumps(doc, indent=2, ensure_ascii=False).encode()
        headers = {"content-type": "application/json", "content-length": str(len(body))}
        if self.provider == "tiktok-shop":
            headers["authorization"] = hmac.new(
                TIKTOK_APP_SECRET.encode(), TIKTOK_APP_KEY.encode() + body, hashlib.sha256
            ).hexdigest()
        elif self.provider == "partoo":
            headers["x-partoo-signature-v1"] = base64.b64encode(self.partoo_key.sign(body)).decode()
        else:
            t = str(int(time.time()))
            tag = hmac.new(CALLBELL_SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256)
            headers["x-callbell-signature"] = f"t={t},v1={tag.hexdigest()}"
        event = copy.deepcopy(self.envelope)
        event["headers"] = headers
        event["rawQueryString"] = ""
        event.pop("queryStringParameters", None)
        event["body"] = body.decode()
        event["isBase64Encoded"] = False
        return json.dumps(event).encode()


SAMPLE = {
    "tiktok-shop": "text.json",
    "partoo": "whatsapp-consumer-text.json",
    "callbell": "whatsapp-text.json",
}


def stored(invocation: Invocation) -> bool:
    if invocation.response is None:
        return False
    try:
        answer = json.loads(invocation.response)
        return answer.get("statusCode") == 200 and json.loads(answer["body"]).get("status") == "stored"
    except (ValueError, KeyError, TypeError, AttributeError):
        return False


# ---------------------------------------------------------------------------------------------
# Function processes


@dataclass
class Variant:
    name: str
    provider: str
    command: list[str]
    cwd: Path
    env: dict[str, str]


class Process:
    def __init__(self, variant: Variant, api: RuntimeApi, log):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            "AWS_LAMBDA_RUNTIME_API": api.address,
            "AWS_LAMBDA_FUNCTION_NAME": variant.provider,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{variant.provider}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_SESSION_TOKEN": "bench",
            "LAMBDA_TASK_ROOT": str(variant.cwd),
            **variant.env,
        }
        self.spawned_at = time.perf_counter()
        self.popen = subprocess.Popen(variant.command, cwd=variant.cwd, env=env,
                                      stdout=log, stderr=log, stdin=subprocess.DEVNULL)

    def cpu_ns(self) -> int:
        total = 0
        task_dir = Path(f"/proc/{self.popen.pid}/task")
        for task in task_dir.iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, IndexError, ValueError):
                pass  # a thread that ended between the listing and the read
        return total

    def peak_rss_kib(self) -> int:
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise RuntimeError("no VmHWM in /proc status")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self):
        if self.alive():
            self.popen.terminate()
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def start(variant: Variant, log) -> tuple[RuntimeApi, Process]:
    api = RuntimeApi()
    process = Process(variant, api, log)
    api.process_alive = process.alive
    give_up = time.monotonic() + 60
    while not api.first_next.wait(0.05) and process.alive() and time.monotonic() < give_up:
        pass
    if not process.alive():
        api.close()
        raise Failed(f"{variant.name}: the process exited during init (see functions.log)")
    if not api.first_next.is_set():
        process.stop()
        api.close()
        raise Failed(f"{variant.name}: no first `next` within 60 s")
    if api.init_error is not None:
        process.stop()
        api.close()
        raise Failed(f"{variant.name}: init error {api.init_error[:300]!r}")
    return api, process


def check(variant: Variant, invocation: Invocation):
    if not stored(invocation):
        shown = (invocation.response or invocation.error or b"")[:300]
        raise Failed(f"{variant.name}: an invocation was not stored: {shown!r}")


def cold_run(variant: Variant, events: Events, conversation: int, warm: int, log) -> dict:
    api, process = start(variant, log)
    try:
        init_ms = (api.first_next_at - process.spawned_at) * 1000
        first = api.invoke(events.next(conversation))
        check(variant, first)
        latencies = []
        cpu_before = process.cpu_ns()
        for _ in range(warm):
            invocation = api.invoke(events.next(conversation))
            check(variant, invocation)
            latencies.append(invocation.latency * 1000)
        cpu_after = process.cpu_ns()
        return {
            "init_ms": init_ms,
            "first_ms": first.latency * 1000,
            "warm_ms": statistics.median(latencies),
            "warm_cpu_us": (cpu_after - cpu_before) / warm / 1000,
            "peak_rss_kib": process.peak_rss_kib(),
        }
    finally:
        process.stop()
        api.close()


def throughput_run(variant: Variant, events: Events, conversation: int, clients: int,
                   seconds: float, log) -> dict:
    api, process = start(variant, log)
    try:
        for _ in range(50):  # warm up: connections, caches, lazy initialization
            check(variant, api.invoke(events.next(conversation)))
        # Events are made before the clock starts: the harness's own work is not measured.
        per_client = [[events.next(conversation + c) for _ in range(int(seconds * 3000 / clients) + 50)]
                      for c in range(clients)]
        completed = [0] * clients
        failures: list[str] = []
        stop_at = 0.0
        barrier = threading.Barrier(clients + 1)

        def client(c: int):
            barrier.wait()
            for event in per_client[c]:
                if time.perf_counter() >= stop_at:
                    return
                try:
                    invocation = api.invoke(event)
                except Failed as e:
                    failures.append(str(e))
                    return
                if not stored(invocation):
                    failures.append((invocation.response or invocation.error or b"")[:200].decode(errors="replace"))
                    return
                completed[c] += 1

        threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
        for t in threads:
            t.start()
        cpu_before = process.cpu_ns()
        began = time.perf_counter()
        stop_at = began + seconds
        barrier.wait()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - began
        cpu_after = process.cpu_ns()
        if failures:
            raise Failed(f"{variant.name}: {len(failures)} requests not stored, e.g. {failures[0]}")
        total = sum(completed)
        if any(len(p) == completed[i] for i, p in enumerate(per_client)):
            raise Failed(f"{variant.name}: a client ran out of events; raise the event budget")
        return {
            "clients": clients,
            "requests": total,
            "seconds": elapsed,
            "requests_per_s": total / elapsed,
            "cpu_us_per_request": (cpu_after - cpu_before) / total / 1000,
        }
    finally:
        process.stop()
        api.close()


# ---------------------------------------------------------------------------------------------


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_kib / 2**20, 1),
            "kernel": platform.release(), "python": platform.python_version()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bootstraps", type=Path, required=True,
                        help="directory with <function>/bootstrap (cargo lambda build --release)")
    parser.add_argument("--peer-python", type=Path, required=True,
                        help="the Python that has awslambdaric and boto3")
    parser.add_argument("--peer-dir", type=Path, required=True, help="../shared/peers/python_tiktok")
    parser.add_argument("--endpoint", required=True, help="DynamoDB Local's URL")
    parser.add_argument("--table", default="messages")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warm", type=int, default=200, help="warm invocations per cold run")
    parser.add_argument("--seconds", type=float, default=8.0, help="per throughput measurement")
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    # Absolute, since processes start in other directories; not resolved, since a venv's python
    # is a symlink whose target is not the venv.
    for name in ("bootstraps", "peer_python", "peer_dir", "work_dir", "out"):
        setattr(args, name, Path(os.path.abspath(getattr(args, name))))

    args.work_dir.mkdir(parents=True, exist_ok=True)
    # The peer runs as Lambda runs it: its file, unchanged, in a task root of its own (so that
    # nothing, not even __pycache__, is written beside the specification).
    task_root = args.work_dir / "peer-task"
    shutil.rmtree(task_root, ignore_errors=True)
    task_root.mkdir()
    shutil.copy2(args.peer_dir / "handler.py", task_root / "handler.py")

    common = {"TABLE_NAME": args.table, "AWS_ENDPOINT_URL_DYNAMODB": args.endpoint}
    tiktok = {"TIKTOK_SHOP_APP_KEY": TIKTOK_APP_KEY, "TIKTOK_SHOP_APP_SECRET": TIKTOK_APP_SECRET}
    rust_env = {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"}

    def rust(name: str, function: str, extra: dict[str, str]) -> Variant:
        bootstrap = args.bootstraps / function / "bootstrap"
        if not os.access(bootstrap, os.X_OK):
            raise SystemExit(f"missing {bootstrap}: run cargo lambda build --release first")
        return Variant(name, function, [str(bootstrap)], args.work_dir, {**common, **rust_env, **extra})

    peer = Variant("python peer (tiktok)", "tiktok-shop",
                   [str(args.peer_python), "-m", "awslambdaric", "handler.handler"], task_root,
                   {**common, **tiktok, "_HANDLER": "handler.handler", "PYTHONUNBUFFERED": "1"})
    # As deployed (DYNAMODB_WARM_UP unset), and with the client readied during init.
    tiktok_rust = rust("tiktok-shop", "tiktok-shop", tiktok)
    variants = [
        tiktok_rust,
        rust("tiktok-shop, warm-up", "tiktok-shop", {**tiktok, "DYNAMODB_WARM_UP": "true"}),
        peer,
        rust("partoo", "partoo", {"PARTOO_PUBLIC_KEYS": PARTOO_PUBLIC_KEY}),
        rust("callbell", "callbell", {"CALLBELL_WEBHOOK_SECRET": CALLBELL_SECRET}),
    ]

    stamp = str(int(time.time()))[-7:]
    events = {p: Events(p, stamp) for p in SAMPLE}
    results: dict = {"machine": machine(), "runs": args.runs, "warm": args.warm,
                     "cold": {v.name: [] for v in variants}, "throughput": {}}
    log_path = args.work_dir / "functions.log"
    conversation = 0
    with open(log_path, "wb") as log:
        for run in range(args.runs):
            # Rotate the order too, so no variant always follows the same one.
            order = variants[run % len(variants):] + variants[:run % len(variants)]
            for variant in order:
                conversation += 1
                figures = cold_run(variant, events[variant.provider], conversation, args.warm, log)
                results["cold"][variant.name].append(figures)
                print(f"run {run + 1}/{args.runs} {variant.name:24} init {figures['init_ms']:7.1f} ms"
                      f"  first {figures['first_ms']:6.1f} ms  warm {figures['warm_ms']:5.2f} ms"
                      f"  cpu/warm {figures['warm_cpu_us']:7.0f} us  rss {figures['peak_rss_kib'] / 1024:5.1f} MiB",
                      flush=True)
        for variant in (tiktok_rust, peer):
            for clients in (1, 16):
                conversation += 100
                figures = throughput_run(variant, events[variant.provider], conversation, clients,
                                         args.seconds, log)
                results["throughput"].setdefault(variant.name, []).append(figures)
                print(f"throughput {variant.name:24} {clients:2} clients: {figures['requests_per_s']:7.0f} req/s"
                      f"  cpu/request {figures['cpu_us_per_request']:6.0f} us", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failed as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
