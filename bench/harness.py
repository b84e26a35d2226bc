#!/usr/bin/env python3
"""Cold starts, warm invocations, throughput and instruction counts of Lambda bootstraps,
measured side by side with the Python peer, as AWS runs them and as the bench ran them before.

A minimal local Lambda Runtime API (the 2018-06-01 HTTP interface every Lambda runtime client
speaks) hands events to one function process at a time, as Lambda does. Two settings:

- **TLS + CPU share** (one per memory size, 128/256/512 MB by default): DynamoDB Local behind a
  local TLS terminator (bench/tls.py: a certificate chain made for the run, socat with
  TCP_NODELAY, checked for Nagle stalls), the functions and the peer trusting it through
  `AWS_CA_BUNDLE` (their AWS trust store plus the run's root: the compiled-in AWS roots for
  ours, botocore's bundle for the peer). Init runs on a whole core; when it ends (the first
  `GET /next`) the process is moved into a CPU quota of the memory's share of a vCPU
  (bench/cgroups.py: memory / 1769 MB of each CFS period).
- **Whole core, plain HTTP**: DynamoDB Local over http, the whole process on a one-core quota,
  as the bench measured before (kept so that the figures can be compared across runs).

For each cold start it records:

- init: from spawning the process to its first `GET /runtime/invocation/next`, and its CPU time;
- the first invocation: its latency (event handed over -> response posted, what the caller
  waits for), its busy time (-> the next `GET /next`, what Lambda bills) and its CPU time;
- warm invocations: median latency, mean billed duration (each rounded up to 1 ms), CPU time
  per invocation from the scheduler statistics (/proc/<pid>/task/*/schedstat, all threads);
- peak RSS (VmHWM) at the end, and how often the quota throttled the process.

Then throughput (one warm process fed by 1 and 16 clients, whole core, plain HTTP, as before)
and instructions: each function and the peer under valgrind's callgrind (TLS, no quota), its
counters dumped with `callgrind_control --dump` at the first `GET /next` (start-up) and after
each half of its warm invocations, zeroed between the two while uncounted invocations open the
connection (see callgrind_run). Counts are per process and do not depend on the machine's load,
which only its timings do.

Every event is a new message signed by the crate's test kit (`ingest-dev bench-events`), so
each invocation is a real conditional write that must answer 200 "stored"; any other answer
fails the run. The inbox (the read API) is measured beside them: each of its invocations reads
one page of 50 messages of a conversation that partoo's bootstrap stored before the runs
(`GET /conversations/partoo/<id>/messages?limit=50`, a strongly consistent Query), and must
answer 200 with those 50 messages. Runs are interleaved (run 1 of every variant and setting, then run 2, ...), and
rotated, so that drift in the machine's load spreads over all alike. Results go to a JSON file
that bench/report.py renders. scripts/bench.sh builds and starts what this needs.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
import dataclasses
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cgroups  # noqa: E402
import cost  # noqa: E402
import tls  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "/2018-06-01/runtime"
PEER = "python peer (tiktok)"
# tiktok-shop with DYNAMODB_WARM_UP=false, beside it as deployed (warm-up on).
NO_WARM_UP = "tiktok-shop, no warm-up"
INBOX = "inbox"
# The inbox's page: the contract's default page of messages.
INBOX_PAGE = 50


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
        self.nexts: list[float] = []  # when each `GET /next` arrived
        self.next_arrived = threading.Condition()
        self.first_next = threading.Event()
        self.first_next_at = 0.0
        # Called in the request's thread at the first `GET /next`, before any event is handed
        # over (the move into the CPU share).
        self.on_first_next = None
        self.hook_error: str | None = None
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
                deadline = int(time.time() * 1000) + 600_000
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
        now = time.perf_counter()
        with self.next_arrived:
            first = not self.nexts
            self.nexts.append(now)
        if first:
            self.first_next_at = now
            if self.on_first_next is not None:
                try:
                    self.on_first_next()
                except Exception as e:  # reported by the run, which stops
                    self.hook_error = f"{type(e).__name__}: {e}"
            self.first_next.set()
        with self.next_arrived:
            self.next_arrived.notify_all()

    def wait_next(self, count: int, timeout: float) -> float:
        """Waits until `count` `GET /next` requests have arrived (the function is idle, waiting
        for event `count`); returns when the last of them arrived."""
        give_up = time.monotonic() + timeout
        with self.next_arrived:
            while len(self.nexts) < count:
                if not self.process_alive():
                    raise Failed("the function process exited (its output is in functions.log)")
                if time.monotonic() > give_up:
                    raise Failed(f"the function did not ask for its next event within {timeout:.0f} s")
                self.next_arrived.wait(0.25)
            return self.nexts[count - 1]

    def invoke(self, event: bytes, timeout: float = 15.0) -> Invocation:
        invocation = Invocation(event)
        invocation.enqueued_at = time.perf_counter()
        self.pending.put(invocation)
        give_up = time.monotonic() + timeout
        while not invocation.done.wait(0.25):
            if not self.process_alive():
                raise Failed("the function process exited (its output is in functions.log)")
            if time.monotonic() > give_up:
                raise Failed(f"no answer to an invocation within {timeout:.0f} s")
        return invocation

    def close(self):
        for _ in range(4):
            self.pending.put(None)
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------------------------------
# Events: a new, signed message for every invocation, from the crate's test kit


class Events:
    """`ingest-dev bench-events`: signed API Gateway (payload 2.0) events, each a message never
    sent before, its body grown to the size of the provider's committed text sample."""

    def __init__(self, ingest_dev: Path, stamp: str):
        self.ingest_dev = ingest_dev
        self.stamp = stamp  # digits unique to this bench run, so reruns never collide
        self.conversation = 0
        self.sizes: dict[str, dict[str, int]] = {}  # function -> bytes of an event and its body
        self.inbox_page: bytes | None = None  # the inbox's event, once seed_inbox stored its conversation

    def conversation_id(self) -> str:
        """The last batch's conversation (ingest-dev bench-events: the stamp, then six digits)."""
        return f"{self.stamp}{self.conversation:06}"

    def batch(self, function: str, count: int) -> list[bytes]:
        """`count` messages of a new conversation, made before any clock starts; for the inbox,
        `count` reads of the page of the conversation `seed_inbox` stored."""
        if function == INBOX:
            if self.inbox_page is None:
                raise Failed("the inbox's conversation was not stored (seed_inbox)")
            return [self.inbox_page] * count
        self.conversation += 1
        command = [str(self.ingest_dev), "bench-events", function, "--count", str(count),
                   "--stamp", self.stamp, "--conversation", str(self.conversation),
                   "--root", str(ROOT)]
        result = subprocess.run(command, capture_output=True)
        if result.returncode != 0:
            raise Failed(f"{' '.join(command[1:4])} failed: {result.stderr.decode(errors='replace')[-500:]}")
        events = result.stdout.splitlines()
        if len(events) != count:
            raise Failed(f"ingest-dev bench-events gave {len(events)} events, not {count}")
        if function not in self.sizes:
            self.sizes[function] = {"event": len(events[0]),
                                    "body": len(json.loads(events[0])["body"].encode())}
        return events


def inbox_event(provider: str, conversation_id: str, limit: int) -> bytes:
    """`GET /conversations/<provider>/<id>/messages?limit=<limit>` as API Gateway's HTTP API
    (payload 2.0) hands it to the function: what an IAM-authorized caller's request becomes."""
    path = f"/conversations/{provider}/{conversation_id}/messages"
    return json.dumps({
        "version": "2.0", "routeKey": "$default", "rawPath": path,
        "rawQueryString": f"limit={limit}",
        "headers": {"host": "bench.execute-api.us-east-1.amazonaws.com", "accept": "application/json"},
        "queryStringParameters": {"limit": str(limit)},
        "requestContext": {"accountId": "123456789012", "apiId": "bench", "stage": "$default",
                           "requestId": "bench", "routeKey": "$default",
                           "domainName": "bench.execute-api.us-east-1.amazonaws.com",
                           "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1",
                                    "sourceIp": "127.0.0.1", "userAgent": "bench"}},
        "isBase64Encoded": False,
    }, separators=(",", ":")).encode()


def page_of_messages(invocation: Invocation) -> bool:
    """The inbox answered 200 with a full page of messages."""
    if invocation.response is None:
        return False
    try:
        answer = json.loads(invocation.response)
        return (answer.get("statusCode") == 200
                and len(json.loads(answer["body"])["messages"]) == INBOX_PAGE)
    except (ValueError, KeyError, TypeError, AttributeError):
        return False


def answered(variant: Variant, invocation: Invocation) -> bool:
    """What the variant must answer: a page of messages for the inbox, "stored" for the rest."""
    return page_of_messages(invocation) if variant.function == INBOX else stored(invocation)


def stored(invocation: Invocation) -> bool:
    if invocation.response is None:
        return False
    try:
        answer = json.loads(invocation.response)
        return answer.get("statusCode") == 200 and json.loads(answer["body"]).get("status") == "stored"
    except (ValueError, KeyError, TypeError, AttributeError):
        return False


def read_env_file(path: Path) -> dict[str, str]:
    """`KEY=value` lines, `#` comments, optional `export `, values optionally quoted: as the
    test kit reads local.env (ingest::testkit::parse_env_file)."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ")
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()
        for quote in ('"', "'"):
            if len(value) >= 2 and value[0] == quote and value[-1] == quote:
                value = value[1:-1]
                break
        values[key.strip()] = value
    return values


# ---------------------------------------------------------------------------------------------
# Function processes


@dataclass
class Variant:
    name: str
    function: str  # whose events it gets
    command: list[str]
    cwd: Path
    env: dict[str, str]
    trust: Path | None = None  # its AWS_CA_BUNDLE under TLS


@dataclass
class Setting:
    key: str
    label: str
    endpoint: str
    tls: bool
    memory_mb: int  # AWS_LAMBDA_FUNCTION_MEMORY_SIZE
    share_mb: int | None  # None: a whole core throughout


@dataclass
class Context:
    args: argparse.Namespace
    local_env: dict[str, str]
    groups: cgroups.Groups | None
    log: object
    events: Events


class Process:
    def __init__(self, ctx: Context, variant: Variant, setting: Setting, api: RuntimeApi,
                 group: cgroups.Group | None, wrapper: list[str] | None = None):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            # local.env's configuration and secrets (the test kit signs with the same ones)...
            **ctx.local_env,
            # ... and what Lambda sets, with the bench's table and endpoint.
            "AWS_LAMBDA_RUNTIME_API": api.address,
            "AWS_LAMBDA_FUNCTION_NAME": variant.function,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(setting.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{variant.function}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_SESSION_TOKEN": "bench",
            "LAMBDA_TASK_ROOT": str(variant.cwd),
            "TABLE_NAME": ctx.args.table,
            "AWS_ENDPOINT_URL_DYNAMODB": setting.endpoint,
            **variant.env,
        }
        if setting.tls:
            env["AWS_CA_BUNDLE"] = str(variant.trust)
        command = (wrapper or []) + variant.command
        popen_args = dict(cwd=variant.cwd, env=env, stdout=ctx.log, stderr=ctx.log,
                          stdin=subprocess.DEVNULL)
        self.spawned_at = time.perf_counter()
        if group is not None:
            self.popen = ctx.groups.spawn(group, command, **popen_args)
        else:
            self.popen = subprocess.Popen(command, **popen_args)
        self.pid = self.popen.pid

    def cpu_ns(self) -> int:
        total = 0
        task_dir = Path(f"/proc/{self.pid}/task")
        for task in task_dir.iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, IndexError, ValueError):
                pass  # a thread that ended between the listing and the read
        return total

    def peak_rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise RuntimeError("no VmHWM in /proc status")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self):
        if self.alive():
            self.popen.terminate()
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def start(ctx: Context, variant: Variant, setting: Setting, init_group=None, share_group=None,
          wrapper=None, timeout: float = 60) -> tuple[RuntimeApi, Process]:
    api = RuntimeApi()
    spawned: queue.Queue[int] = queue.Queue()
    if share_group is not None:
        # The pid is known once Popen returns, which a loaded machine may delay past the
        # process's first `GET /next`.
        api.on_first_next = lambda: share_group.add_process(spawned.get(timeout=30))
    process = Process(ctx, variant, setting, api, init_group, wrapper)
    spawned.put(process.pid)
    api.process_alive = process.alive
    give_up = time.monotonic() + timeout
    while not api.first_next.wait(0.05) and process.alive() and time.monotonic() < give_up:
        pass
    problem = None
    if not process.alive():
        problem = "the process exited during init (see functions.log)"
    elif not api.first_next.is_set():
        problem = f"no first `next` within {timeout:.0f} s"
    elif api.init_error is not None:
        problem = f"init error {api.init_error[:300]!r}"
    elif api.hook_error is not None:
        problem = f"could not move it into its CPU share: {api.hook_error}"
    if problem:
        process.stop()
        api.close()
        raise Failed(f"{variant.name} ({setting.label}): {problem}")
    return api, process


def check(variant: Variant, invocation: Invocation):
    if not answered(variant, invocation):
        shown = (invocation.response or invocation.error or b"")[:300]
        what = f"a page of {INBOX_PAGE} messages" if variant.function == INBOX else "stored"
        raise Failed(f"{variant.name}: an invocation was not {what}: {shown!r}")


def seed_inbox(ctx: Context, writer: Variant, setting: Setting):
    """Stores the conversation the inbox reads (more messages than its page) through `writer`,
    partoo's bootstrap, and makes the inbox's event of it."""
    events = ctx.events.batch(writer.function, INBOX_PAGE + 10)
    group = ctx.groups.group("seed", None)
    try:
        api, process = start(ctx, writer, setting, group)
        try:
            for i, event in enumerate(events):
                one_invocation(api, writer, event, i, 60.0)
        finally:
            process.stop()
            api.close()
    finally:
        group.remove()
    ctx.events.inbox_page = inbox_event(writer.function, ctx.events.conversation_id(), INBOX_PAGE)


def one_invocation(api: RuntimeApi, variant: Variant, event: bytes, index: int,
                   timeout: float, must_store: bool = True) -> tuple[Invocation, float]:
    """Event `index` (0 = the first) handed over once the function waits for it; returns it
    and its busy time in ms, up to the function's next `GET /next`, as Lambda bills it."""
    api.wait_next(index + 1, timeout)
    invocation = api.invoke(event, timeout)
    if must_store:
        check(variant, invocation)
    finished = api.wait_next(index + 2, timeout)
    return invocation, (finished - invocation.enqueued_at) * 1000


def cold_run(ctx: Context, variant: Variant, setting: Setting, events: list[bytes]) -> dict:
    groups = ctx.groups
    init_group = groups.group("init", None)
    share_group = groups.group(f"share-{setting.share_mb}mb", setting.share_mb) if setting.share_mb else None
    # Under a quota of 7% of a core the peer's first invocation takes seconds.
    timeout = 120.0
    try:
        api, process = start(ctx, variant, setting, init_group, share_group)
        try:
            init_ms = (api.first_next_at - process.spawned_at) * 1000
            init_cpu = process.cpu_ns()
            first, first_busy_ms = one_invocation(api, variant, events[0], 0, timeout)
            first_cpu = process.cpu_ns() - init_cpu
            latencies, busy = [], []
            cpu_before = process.cpu_ns()
            for i, event in enumerate(events[1:], start=1):
                invocation, busy_ms = one_invocation(api, variant, event, i, timeout)
                latencies.append(invocation.latency * 1000)
                busy.append(busy_ms)
            cpu_after = process.cpu_ns()
            warm = len(events) - 1
            figures = {
                "init_ms": init_ms,
                "init_cpu_ms": init_cpu / 1e6,
                "first_ms": first.latency * 1000,
                "first_busy_ms": first_busy_ms,
                "first_cpu_ms": first_cpu / 1e6,
                "cold_billed_ms": cost.billed_ms(init_ms + first_busy_ms),
                "warm_ms": statistics.median(latencies),
                "warm_busy_ms": statistics.fmean(busy),
                "warm_billed_ms": cost.mean_billed_ms(busy),
                "warm_cpu_us": (cpu_after - cpu_before) / warm / 1000,
                "peak_rss_kib": process.peak_rss_kib(),
            }
            if share_group is not None:
                figures["throttling"] = share_group.throttling()
            return figures
        finally:
            process.stop()
            api.close()
    finally:
        init_group.remove()
        if share_group is not None:
            share_group.remove()


def throughput_run(ctx: Context, variant: Variant, setting: Setting, clients: int, seconds: float) -> dict:
    init_group = ctx.groups.group("throughput", None)
    try:
        api, process = start(ctx, variant, setting, init_group)
        try:
            for event in ctx.events.batch(variant.function, 50):  # warm up: connections, caches
                check(variant, api.invoke(event))
            # Events are made before the clock starts: the harness's own work is not measured.
            # Budget: 1000 requests a second in all, several times what one process serves here.
            per_client = [ctx.events.batch(variant.function, int(seconds * 1000 / clients) + 50)
                          for _ in range(clients)]
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
    finally:
        init_group.remove()


# ---------------------------------------------------------------------------------------------
# Instructions (callgrind)


def callgrind_totals(path: Path) -> int:
    """The instruction count (Ir) of one callgrind dump."""
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise Failed(f"{path}: no totals line (an incomplete callgrind dump?)")


def callgrind_control(pid: int, *options: str, timeout: float = 120.0):
    """callgrind_control on one process (never without a pid: that would act on every callgrind
    run on the machine). It reaches the process through vgdb, even while it is blocked in a
    system call."""
    result = subprocess.run(["callgrind_control", *options, str(pid)], capture_output=True, text=True,
                            timeout=timeout)
    if result.returncode != 0:
        raise Failed(f"callgrind_control {' '.join(options)} {pid} failed: "
                     f"{(result.stdout + result.stderr).strip()[-300:]}")


def callgrind_dump(pid: int, out: Path, part: int, timeout: float = 120.0) -> int:
    """Dumps the process's counters and returns the instructions since the last dump (or
    zeroing): dump number `part` is the file <out>.<pid>.<part>."""
    callgrind_control(pid, "--dump", timeout=timeout)
    path = out.with_name(f"{out.name}.{pid}.{part}")
    give_up = time.monotonic() + timeout
    while True:
        if path.exists():
            try:
                return callgrind_totals(path)
            except Failed:
                pass  # still being written
        if time.monotonic() > give_up:
            raise Failed(f"callgrind_control --dump {pid}: no {path.name} after {timeout:.0f} s")
        time.sleep(0.1)


# Invocations a callgrind run may spend, uncounted, before its warm ones (see callgrind_run).
CALLGRIND_PRIMING = 8


def callgrind_run(ctx: Context, variant: Variant, setting: Setting, events: list[bytes], out_dir: Path) -> dict:
    """Start-up (exec -> first `GET /next`, here with the bench's AWS_CA_BUNDLE: see
    callgrind_startup for the count as in AWS) and warm invocations, counted in one run: the
    counters are dumped whenever the process is idle, waiting for its next event, and every
    dump holds what was executed since the one before (or since they were zeroed).

    Between the two, uncounted, the process is primed: invocations until two in a row are
    stored. Under callgrind the first one takes longer than the functions' DynamoDB timeouts
    (700 ms an attempt, 1.5 s in all: it translates and instruments all the code a first call
    runs, and opens the TLS connection), so it answers 503; once that code is translated, the
    next connects in time. Warm invocations reuse the connection and stay within them."""
    out = out_dir / "callgrind.out"
    wrapper = ["valgrind", "--tool=callgrind", "--vgdb=yes", f"--callgrind-out-file={out}.%p"]
    slow = 600.0  # the peer's start-up takes about a minute under callgrind on a loaded machine
    # A one-core group, as for every process the harness starts (valgrind runs the guest's
    # threads one at a time anyway): scripts/bench.sh's clean-up finds it there.
    group = ctx.groups.group("callgrind", None)
    try:
        api, process = start(ctx, variant, setting, init_group=group, wrapper=wrapper, timeout=slow)
    except Failed:
        group.remove()
        raise
    try:
        startup = callgrind_dump(process.pid, out, 1)
        index, in_a_row = 0, 0
        while in_a_row < 2:
            if index == CALLGRIND_PRIMING:
                raise Failed(f"{variant.name}: under callgrind, no two invocations in a row were stored "
                             f"in {CALLGRIND_PRIMING} (see functions.log)")
            invocation, _ = one_invocation(api, variant, events[index], index, slow, must_store=False)
            in_a_row = in_a_row + 1 if answered(variant, invocation) else 0
            index += 1
        callgrind_control(process.pid, "--zero")
        warm = events[index:]
        half = len(warm) // 2
        halves, slowest = [], 0.0
        for part, chunk, offset in ((2, warm[:half], index), (3, warm[half:], index + half)):
            for i, event in enumerate(chunk):
                invocation, _ = one_invocation(api, variant, event, offset + i, slow)
                slowest = max(slowest, invocation.latency * 1000)
            halves.append(callgrind_dump(process.pid, out, part) / len(chunk))
        return {"startup": startup, "warm_per_invocation": halves, "warm_invocations": len(warm),
                "priming_invocations": index, "slowest_warm_ms": slowest}
    finally:
        process.stop()
        api.close()
        group.remove()


def callgrind_startup(ctx: Context, variant: Variant, setting: Setting, out_dir: Path) -> int:
    """Start-up instructions alone (exec -> first `GET /next`), in `setting`'s environment. In
    the plain setting that is the environment Lambda gives: no AWS_CA_BUNDLE, so our functions
    take their compiled-in roots rather than reading and checking a bundle file (a fifth more
    start-up instructions). Nothing connects before the first event, so the endpoint does not
    matter."""
    out = out_dir / "callgrind.out"
    wrapper = ["valgrind", "--tool=callgrind", "--vgdb=yes", f"--callgrind-out-file={out}.%p"]
    group = ctx.groups.group("callgrind-startup", None)
    try:
        api, process = start(ctx, variant, setting, init_group=group, wrapper=wrapper, timeout=600.0)
        try:
            return callgrind_dump(process.pid, out, 1)
        finally:
            process.stop()
            api.close()
    finally:
        group.remove()


def callgrind_preflight(groups: cgroups.Groups, work_dir: Path):
    """Checks, in seconds rather than after the cold runs, that callgrind_control can dump a
    process blocked in a system call (it goes through vgdb, which needs ptrace)."""
    out = work_dir / "callgrind-preflight"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    group = groups.group("preflight", None)
    popen = groups.spawn(group, ["valgrind", "--tool=callgrind", "--vgdb=yes",
                                 f"--callgrind-out-file={out}/callgrind.out.%p", "sleep", "60"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        time.sleep(2)  # valgrind's own start-up, then sleep blocks in nanosleep
        if popen.poll() is not None:
            raise Failed("valgrind --tool=callgrind does not run here (try: valgrind --tool=callgrind sleep 1)")
        instructions = callgrind_dump(popen.pid, out / "callgrind.out", 1, timeout=60)
        if instructions <= 0:
            raise Failed("callgrind_control --dump gave no instructions")
    finally:
        popen.kill()
        popen.wait()
        group.remove()


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


def peer_default_bundle(peer_python: Path) -> Path:
    """The CA bundle botocore trusts when nothing else is configured."""
    result = subprocess.run([str(peer_python), "-c",
                             "import botocore.httpsession as h; print(h.get_cert_path(True))"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise Failed(f"cannot find the peer's CA bundle: {result.stderr.strip()[-300:]}")
    return Path(result.stdout.strip())


def parse_memory(text: str) -> list[int]:
    sizes = [int(s) for s in re.split(r"[ ,]+", text.strip()) if s]
    if not sizes or any(s < 128 or s > 10240 for s in sizes):
        raise argparse.ArgumentTypeError(f"memory sizes are 128 to 10240 MB, got {text!r}")
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bootstraps", type=Path, required=True,
                        help="directory with <function>/bootstrap (cargo lambda build --release)")
    parser.add_argument("--peer-python", type=Path, required=True,
                        help="the Python that has awslambdaric and boto3")
    parser.add_argument("--peer-dir", type=Path, required=True, help="../shared/peers/python_tiktok")
    parser.add_argument("--endpoint", required=True, help="DynamoDB Local's URL (http://127.0.0.1:<port>)")
    parser.add_argument("--ingest-dev", type=Path, required=True, help="the ingest-dev binary")
    parser.add_argument("--local-env", type=Path, default=ROOT / "local.env")
    parser.add_argument("--rust-roots", type=Path, default=ROOT / "shared/src/aws-roots.pem",
                        help="the AWS roots the functions trust in AWS (their bundle under TLS adds the run's root)")
    parser.add_argument("--table", default="messages")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warm", type=int, default=200, help="warm invocations per cold run")
    parser.add_argument("--memory", type=parse_memory, default=[128, 256, 512],
                        help="memory sizes (MB) of the TLS + CPU share settings, e.g. 128,256,512")
    parser.add_argument("--cfs-period-us", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=8.0, help="per throughput measurement (0: none)")
    parser.add_argument("--callgrind-runs", type=int, default=2, help="callgrind runs per variant (0: none)")
    parser.add_argument("--callgrind-warm", type=int, default=40,
                        help="warm invocations per callgrind run, counted in two halves")
    parser.add_argument("--cgroup-name", default=f"ingest-bench-{os.getpid()}")
    parser.add_argument("--pid-dir", type=Path, help="where to note the pids scripts/bench.sh must end should this die")
    parser.add_argument("--only", action="append", metavar="VARIANT",
                        help="measure only this variant (repeatable; for profiling, not for the report)")
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    # Absolute, since processes start in other directories; not resolved, since a venv's python
    # is a symlink whose target is not the venv.
    for name in ("bootstraps", "peer_python", "peer_dir", "work_dir", "out", "ingest_dev", "local_env",
                 "rust_roots"):
        setattr(args, name, Path(os.path.abspath(getattr(args, name))))
    if args.runs and args.warm < 1:
        parser.error("--warm must be at least 1")
    if args.callgrind_runs and args.callgrind_warm < 2:
        parser.error("--callgrind-warm must be at least 2 (it is counted in two halves)")
    for tool in (["callgrind_control", "valgrind"] if args.callgrind_runs else []):
        if shutil.which(tool) is None:
            raise Failed(f"{tool} is not installed")
    if not args.rust_roots.is_file():
        raise Failed(f"no {args.rust_roots}: give --rust-roots the PEM roots the functions trust in AWS")

    args.work_dir.mkdir(parents=True, exist_ok=True)
    # The peer runs as Lambda runs it: its file, unchanged, in a task root of its own (so that
    # nothing, not even __pycache__, is written beside the specification).
    task_root = args.work_dir / "peer-task"
    shutil.rmtree(task_root, ignore_errors=True)
    task_root.mkdir()
    shutil.copy2(args.peer_dir / "handler.py", task_root / "handler.py")

    ddb_port = urlparse(args.endpoint).port
    if urlparse(args.endpoint).hostname not in ("127.0.0.1", "localhost") or ddb_port is None:
        raise Failed(f"--endpoint must be http://127.0.0.1:<port>, got {args.endpoint}")

    # TLS: the run's chain, each side's trust store with the run's root added, the terminator.
    pki = tls.make_pki(args.work_dir / "pki")
    rust_trust = tls.bundle(args.work_dir / "pki/rust-trust.pem", args.rust_roots, pki["root"])
    peer_trust = tls.bundle(args.work_dir / "pki/peer-trust.pem", peer_default_bundle(args.peer_python),
                            pki["root"])

    rust_env = {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"}

    def rust(name: str, function: str, extra: dict[str, str] | None = None) -> Variant:
        bootstrap = args.bootstraps / function / "bootstrap"
        return Variant(name, function, [str(bootstrap)], args.work_dir, {**rust_env, **(extra or {})},
                       rust_trust)

    peer = Variant(PEER, "tiktok-shop",
                   [str(args.peer_python), "-m", "awslambdaric", "handler.handler"], task_root,
                   {"_HANDLER": "handler.handler", "PYTHONUNBUFFERED": "1"}, peer_trust)
    # As deployed (DYNAMODB_WARM_UP unset: the client readied during init), and with the client
    # left to the first message.
    tiktok_rust = rust("tiktok-shop", "tiktok-shop")
    partoo = rust("partoo", "partoo")
    variants = [
        tiktok_rust,
        rust(NO_WARM_UP, "tiktok-shop", {"DYNAMODB_WARM_UP": "false"}),
        peer,
        partoo,
        rust("callbell", "callbell"),
        # The read API: its links point into a bucket, which a page without copies never names.
        rust(INBOX, INBOX, {"MEDIA_BUCKET": "bench-media"}),
    ]
    if args.only:
        unknown = set(args.only) - {v.name for v in variants}
        if unknown:
            raise SystemExit(f"--only: no variant {', '.join(sorted(unknown))} "
                             f"(there are: {', '.join(v.name for v in variants)})")
        variants = [v for v in variants if v.name in args.only]
    # The bootstraps measured, and partoo's, which stores the inbox's conversation.
    for variant in variants + ([partoo] if any(v.function == INBOX for v in variants) else []):
        if variant is not peer and not os.access(variant.command[0], os.X_OK):
            raise SystemExit(f"missing {variant.command[0]}: run cargo lambda build --release first")

    stamp = str(int(time.time()))[-7:]
    log_path = args.work_dir / "functions.log"
    results: dict = {
        "machine": machine(), "runs": args.runs, "warm": args.warm, "memory": args.memory,
        "cfs_period_us": args.cfs_period_us, "full_vcpu_mb": cgroups.FULL_VCPU_MB,
        "settings": {}, "cold": {}, "throughput": {}, "instructions": {},
        "callgrind_warm": args.callgrind_warm, "callgrind_runs": args.callgrind_runs,
    }
    groups = cgroups.Groups(args.cgroup_name, args.cfs_period_us)
    results["cgroup"] = f"v{groups.version} ({groups.mount})"
    terminator = None
    try:
        with open(log_path, "wb") as log:
            ctx = Context(args, read_env_file(args.local_env), groups, log, Events(args.ingest_dev, stamp))

            if args.callgrind_runs > 0:
                callgrind_preflight(groups, args.work_dir)
            print("TLS terminator: checking for Nagle stalls", flush=True)
            check_figures = tls.nagle_check(pki, args.work_dir)
            terminator = tls.Terminator(ddb_port, pki, args.work_dir / "terminator.log", args.pid_dir)
            check_figures["dynamodb"] = tls.dynamodb_round_trips(ddb_port, terminator.port, pki["root"])
            results["terminator"] = {"command": " ".join(tls.command("<port>", "<dynamodb-local>", {
                "chain": "chain.pem", "key": "server.key"})),
                                     **check_figures}
            print(f"    split-write round trips: direct {check_figures['direct_ms']:.2f} ms, through the "
                  f"terminator {check_figures['terminator_ms']:.2f} ms, without TCP_NODELAY "
                  f"{check_figures['without_nodelay_ms']:.2f} ms; DynamoDB call plain "
                  f"{check_figures['dynamodb']['plain_ms']:.2f} ms, TLS {check_figures['dynamodb']['tls_ms']:.2f} ms",
                  flush=True)

            settings = [Setting("plain", "whole core, plain HTTP", args.endpoint, False, 256, None)]
            for mb in args.memory:
                settings.append(Setting(f"tls-{mb}", f"TLS, {mb} MB ({cgroups.share(mb):.3f} vCPU)",
                                        terminator.url, True, mb, mb))
            for s in settings:
                results["settings"][s.key] = {"label": s.label, "tls": s.tls, "memory_mb": s.memory_mb,
                                              "share": cgroups.share(s.share_mb) if s.share_mb else 1.0,
                                              "quota_us": (cgroups.quota_us(s.share_mb, args.cfs_period_us)
                                                           if s.share_mb else args.cfs_period_us)}
                results["cold"][s.key] = {v.name: [] for v in variants}

            if any(v.function == INBOX for v in variants):
                seed_inbox(ctx, partoo, settings[0])
                print(f"inbox: stored conversation partoo/{ctx.events.conversation_id()} to read "
                      f"{INBOX_PAGE} messages of", flush=True)

            pairs = [(s, v) for s in settings for v in variants]
            for run in range(args.runs):
                # Rotate the order too, so no variant always follows the same one.
                order = pairs[run % len(pairs):] + pairs[:run % len(pairs)]
                for setting, variant in order:
                    events = ctx.events.batch(variant.function, args.warm + 1)
                    figures = cold_run(ctx, variant, setting, events)
                    results["cold"][setting.key][variant.name].append(figures)
                    throttled = figures.get("throttling", {}).get("throttled", 0)
                    print(f"run {run + 1}/{args.runs} {setting.key:8} {variant.name:22} "
                          f"init {figures['init_ms']:7.1f} ms  first {figures['first_ms']:7.1f} ms  "
                          f"warm {figures['warm_ms']:6.2f} ms (billed {figures['warm_billed_ms']:5.1f})  "
                          f"cpu/warm {figures['warm_cpu_us']:6.0f} us  rss {figures['peak_rss_kib'] / 1024:5.1f} MiB"
                          f"  throttled {throttled}", flush=True)

            if args.seconds > 0:
                for variant in (v for v in (tiktok_rust, peer) if v in variants):
                    for clients in (1, 16):
                        figures = throughput_run(ctx, variant, settings[0], clients, args.seconds)
                        results["throughput"].setdefault(variant.name, []).append(figures)
                        print(f"throughput {variant.name:24} {clients:2} clients: "
                              f"{figures['requests_per_s']:7.0f} req/s"
                              f"  cpu/request {figures['cpu_us_per_request']:6.0f} us", flush=True)

            if args.callgrind_runs > 0:
                # As AWS runs them (TLS); counts do not depend on the CPU share.
                counted = next(s for s in settings if s.tls)
                # Without the warm-up: under full instrumentation its connection outlasts the
                # timeouts (see callgrind_run), and neither does the peer connect during init. So
                # start-up is counted to the first `GET /next` with nothing connected, and the
                # connection is counted with the first invocations (primed, uncounted).
                counted_variants = [
                    dataclasses.replace(v, env={**v.env, "DYNAMODB_WARM_UP": "false"})
                    if v is not peer else v
                    for v in variants if v.name != NO_WARM_UP]
                for run in range(args.callgrind_runs):
                    for variant in counted_variants:
                        out_dir = args.work_dir / "callgrind" / variant.name.replace(" ", "_").replace(",", "")
                        out_dir.mkdir(parents=True, exist_ok=True)
                        events = ctx.events.batch(variant.function, CALLGRIND_PRIMING + args.callgrind_warm)
                        began = time.monotonic()
                        figures = callgrind_run(ctx, variant, counted, events, out_dir)
                        figures["startup_with_bundle"] = figures.pop("startup")
                        figures["startup"] = callgrind_startup(ctx, variant, settings[0], out_dir)
                        if figures["slowest_warm_ms"] > 500:
                            print(f"    warning: a warm invocation took {figures['slowest_warm_ms']:.0f} ms under "
                                  "callgrind, near the functions' 700 ms attempt timeout: a retried attempt "
                                  "would be counted (see the spread)", flush=True)
                        results["instructions"].setdefault(variant.name, []).append(figures)
                        print(f"callgrind {run + 1}/{args.callgrind_runs} {variant.name:22} start-up "
                              f"{figures['startup'] / 1e6:8.2f} M (with the bench's CA bundle "
                              f"{figures['startup_with_bundle'] / 1e6:.2f} M)  warm "
                              f"{'/'.join(f'{w / 1e6:.3f}' for w in figures['warm_per_invocation'])} M "
                              f"per invocation (slowest {figures['slowest_warm_ms']:.0f} ms)  "
                              f"({time.monotonic() - began:.0f} s)", flush=True)
        results["event_sizes"] = ctx.events.sizes
    finally:
        if terminator is not None:
            terminator.stop()
        groups.close()

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (Failed, tls.TlsError, cgroups.CgroupError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
