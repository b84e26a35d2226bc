#!/usr/bin/env python3
"""Write units per message: what DynamoDB bills for every sample, ours against the Python peer.

Each function (and the peer, which handles TikTok Shop only) runs under the bench's local
Lambda Runtime API (bench/harness.py) with `AWS_ENDPOINT_URL_DYNAMODB` pointing at the metering
proxy (bench/meter.py) in front of DynamoDB Local, and is sent, one invocation at a time:

- **samples**: every committed event of the function, in the order events/expected-status.tsv
  gives (updates after the message they update), each of which must get the answer the manifest
  names; every one answered `stored` is sent again at once, a redelivery of the same body, which
  must answer `duplicate`;
- **golden**: the providers' own example payloads (shared/tests/data/golden/*.body.json, signed
  for the run by `ingest-dev sign-events`), then each again.

Every (variant, corpus) pair gets a table of its own, created for the run, so every message is
new to the table it is sent to while its body stays byte for byte the committed one (rewriting
ids would change the items' sizes, which is what is measured). The meter's records between
one invocation's hand-over and the function's next `GET /next` are that invocation's cost.

For Partoo and Callbell, which the peer does not handle, the peer's figure is computed: one
conditional PutItem of the same message item as ours (the record with `raw` uncompressed, as
the peer stores it), billed as a new item (its size per started KB) and, for a redelivery, as
the failed conditional write it would be (the stored item's size, the same units).

Besides: a calibration of DynamoDB Local's own `ConsumedCapacity` against the meter, on
transactions sent through the meter with `ReturnConsumedCapacity`.

The results go to a JSON file that bench/report.py renders ("Write units per message").
scripts/bench.sh runs this (`--only write-units` for this step alone).
"""
from __future__ import annotations

import argparse
import base64
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
import meter  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PEER = harness.PEER
GOLDEN_DIR = ROOT / "shared/tests/data/golden"
ANSWERED_TWICE = "stored"  # the answer after which the same event is sent again
# The projector's batch sizes measured: one message at a time, and the template's batch.
READ_SIDE_BATCHES = (1, 100)


class Failed(Exception):
    pass


def manifest(root: Path) -> list[tuple[str, str, int, str]]:
    """(function, event file under events/, HTTP status, answer status) in the manifest's order."""
    rows = []
    for line in (root / "events/expected-status.tsv").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        path, status, answer = line.split("\t")
        rows.append((path.split("/", 1)[0], path, int(status), answer))
    return rows


def golden_events(ingest_dev: Path, functions: list[str], work: Path) -> dict[str, list[tuple[str, Path]]]:
    """The golden bodies signed as their provider signs them: {function: [(name, event file)]}.
    `ingest-dev sign-events` makes the events of a tree laid out as events/bodies/<function>/."""
    tree = work / "golden-events"
    shutil.rmtree(tree, ignore_errors=True)
    found: dict[str, list[tuple[str, Path]]] = {f: [] for f in functions}
    for body in sorted(GOLDEN_DIR.glob("*.body.json")):
        name = body.name.removesuffix(".body.json")
        function = next((f for f in sorted(functions, key=len, reverse=True) if name.startswith(f + "-")), None)
        if function is None:
            raise Failed(f"{body.name}: no function's name starts it (functions: {', '.join(functions)})")
        target = tree / "events/bodies" / function / f"golden-{name}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(body, target)
        found[function].append((f"golden {name}", tree / "events" / function / f"golden-{name}.json"))
    result = subprocess.run([str(ingest_dev), "sign-events", "--root", str(tree)], capture_output=True, text=True)
    if result.returncode != 0:
        raise Failed(f"ingest-dev sign-events failed: {result.stderr[-500:]}")
    for events in found.values():
        for _, path in events:
            if not path.is_file():
                raise Failed(f"ingest-dev sign-events made no {path}")
    return found


def answer_of(invocation: harness.Invocation) -> tuple[int | None, str]:
    """(HTTP status, the answer body's status, "error" for an {"error": ...} body)."""
    if invocation.response is None:
        return None, "invocation error"
    try:
        answer = json.loads(invocation.response)
        body = json.loads(answer.get("body") or "{}")
    except (ValueError, TypeError, AttributeError):
        return None, "unreadable"
    status = body.get("status") or ("error" if "error" in body else "?")
    return answer.get("statusCode"), status


def item_kind(key: dict) -> str:
    """What an item is, from its key (the table's layout, shared/src/storage/keys.rs)."""
    pk = next(iter(key.get("pk", {}).values()), "")
    sk = next(iter(key.get("sk", {}).values()), "")
    if pk.startswith("QUARANTINE#"):
        return "quarantine"
    for prefix, kind in (("MSG#", "message"), ("ID#", "id")):
        if sk.startswith(prefix):
            return kind
    if sk == "SUMMARY":
        return "summary"
    return "other"


def compact(records: list[dict]) -> list[dict]:
    """The meter's records of one invocation, without the keys' values."""
    out = []
    for r in records:
        out.append({
            "operation": r["operation"], "outcome": r["outcome"], "wru": r["wru"], "rru": r["rru"],
            "note": r["note"],
            "items": [{"kind": item_kind(i["key"]), "action": i["action"], "outcome": i["outcome"],
                       "bytes_before": i["bytes_before"], "bytes_after": i["bytes_after"],
                       "wru": i["wru"], "index_wru": sum(w["wru"] for w in i["indexes"]),
                       "rule": i["rule"], "raw_bytes": i["attribute_bytes"].get("raw")}
                      for i in r["items"]],
            "reads": [{"bytes": x["bytes"], "rru": x["rru"], "consistent": x["consistent"]} for x in r["reads"]],
        })
    return out


def event_body_bytes(event: bytes) -> int:
    """How many bytes the request body of an API Gateway event is (decoded from base64 when
    the event says so)."""
    doc = json.loads(event)
    body = doc.get("body") or ""
    if doc.get("isBase64Encoded"):
        return len(base64.b64decode(body))
    return len(body.encode("utf-8"))


# What our message item holds that the peer's record does not: the schema-3 digest (the peer
# keeps the body itself, uncompressed, and nothing else about it).
NOT_THE_PEERS = ("body_sha256",)


def peer_item_bytes(message: dict, body_bytes: int) -> int:
    """The peer's way of storing the same message: our message item with `raw` as the body
    uncompressed (a string, as the peer writes it; schema 3 keeps it gzip-compressed) and
    without the digests only schema 3 keeps. For a schema-2 item, the item itself."""
    attributes = message["attribute_bytes"]
    ours = attributes.get("raw", 0) + sum(attributes.get(name, 0) for name in NOT_THE_PEERS)
    return message["bytes_after"] - ours + len("raw") + body_bytes


def summarize(records: list[dict], body_bytes: int) -> dict:
    """What one invocation cost, and the message item it wrote (if it wrote one); `body_bytes`:
    the size of the body it was sent."""
    wru = sum(r["wru"] for r in records)
    rru = sum(r["rru"] for r in records)
    stored = [i for r in records for i in r["items"] if i["outcome"] == "written" and i["action"] == "put"]
    message = next((i for i in stored if item_kind(i["key"]) == "message"), None)
    summary = {"wru": wru, "rru": rru,
               "stored_items": len(stored),
               "stored_bytes": sum(meter.STORAGE_OVERHEAD_BYTES + i["bytes_after"] for i in stored),
               "operations": [r["operation"] + ("" if r["outcome"] == "ok" else f" ({r['outcome']})") for r in records]}
    if message is not None:
        raw = message["attribute_bytes"].get("raw", 0)
        summary["message_item_bytes"] = message["bytes_after"]
        summary["message_item_bytes_without_raw"] = message["bytes_after"] - raw
        # Bytes of each attribute (name and value), for the question which ones make an item
        # cross a kilobyte.
        summary["message_item_attribute_bytes"] = dict(message["attribute_bytes"])
        # One conditional PutItem of the same record with the body in it, new: what the peer's
        # way would bill.
        peer_bytes = peer_item_bytes(message, body_bytes)
        summary["peer_item_bytes"] = peer_bytes
        summary["one_put_wru"] = meter.write_units(peer_bytes)
        summary["one_put_wru_without_raw"] = meter.write_units(message["bytes_after"] - raw)
        summary["one_put_stored_bytes"] = meter.STORAGE_OVERHEAD_BYTES + peer_bytes
    return summary


class Runner:
    def __init__(self, args, proxy: meter.MeterServer, log):
        self.args = args
        self.proxy = proxy
        self.log = log
        self.local_env = harness.read_env_file(args.local_env)
        self.stamp = time.strftime("%Y%m%d%H%M%S")

    def create_table(self, name: str):
        env = {**os.environ, "AWS_ENDPOINT_URL_DYNAMODB": self.args.endpoint, "AWS_REGION": "us-east-1",
               "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
        result = subprocess.run([str(self.args.ingest_dev), "create-table", name], env=env,
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise Failed(f"ingest-dev create-table {name}: {result.stderr[-500:]}")

    def variant(self, name: str, function: str, table: str) -> harness.Variant:
        if name == PEER:
            task_root = self.args.work_dir / "peer-task"
            task_root.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.args.peer_dir / "handler.py", task_root / "handler.py")
            return harness.Variant(PEER, function, [str(self.args.peer_python), "-m", "awslambdaric", "handler.handler"],
                                   task_root, {"_HANDLER": "handler.handler", "PYTHONUNBUFFERED": "1",
                                               "TABLE_NAME": table})
        binary = self.args.binaries / function / "bootstrap"
        if not binary.is_file():
            binary = self.args.binaries / function
        if not os.access(binary, os.X_OK):
            raise Failed(f"no executable {self.args.binaries}/{function}[/bootstrap]: build the functions first")
        return harness.Variant(name, function, [str(binary)], self.args.work_dir,
                               {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO", "TABLE_NAME": table})

    def run(self, name: str, function: str, corpus: str, events: list[tuple[str, Path, int | None, str | None]],
            project: int | None = None) -> list[dict] | tuple[list[dict], dict]:
        """Sends `events` ((name, event file, expected HTTP status, expected answer)) to a new
        process of the variant on a new table; each event answered `stored` is sent again. With
        `project`, the projector then reads the table's stream in batches of that many records,
        and what it cost comes back beside the cases."""
        slug = name.replace(" ", "-").replace("(", "").replace(")", "").replace(",", "")
        table = f"wru-{slug}-{corpus}-{self.stamp}" + (f"-p{project}" if project else "")
        self.create_table(table)
        variant = self.variant(name, function, table)
        ctx = harness.Context(SimpleNamespace(table=table), self.local_env, None, self.log, None)
        setting = harness.Setting("write-units", "whole core, plain HTTP, through the meter", self.proxy.url,
                                  False, 256, None)
        api, process = harness.start(ctx, variant, setting, timeout=120)
        cases = []
        try:
            sent = 0
            for event_name, path, expected_status, expected in events:
                event = path.read_bytes()
                first = self.invoke(api, variant, event, sent)
                sent += 1
                role = {"stored": "new", "updated": "update", "duplicate": "redelivery"}.get(expected or "stored", "other")
                first.update(name=event_name, corpus=corpus, role=role, expected=expected,
                             expected_status=expected_status)
                cases.append(first)
                if name != PEER and expected is not None and (first["status"], first["answer"]) != (expected_status, expected):
                    raise Failed(f"{name}: {event_name} answered {first['status']} {first['answer']}, "
                                 f"the manifest says {expected_status} {expected}")
                if first["answer"] == ANSWERED_TWICE or (name == PEER and role == "new"):
                    again = self.invoke(api, variant, event, sent)
                    sent += 1
                    again.update(name=event_name, corpus=corpus, role="redelivery", expected="duplicate",
                                 expected_status=200)
                    if name != PEER and again["answer"] != "duplicate":
                        raise Failed(f"{name}: {event_name} sent again answered {again['answer']}, not duplicate")
                    cases.append(again)
                print(f"    {name:22} {corpus:7} {event_name:44} {first['answer']:9} {first['wru']:4.0f} WRU"
                      + (f", again {cases[-1]['answer']} {cases[-1]['wru']:.0f} WRU" if cases[-1] is not first else ""),
                      flush=True)
        finally:
            process.stop()
            api.close()
        if project:
            return cases, self.project(table, project)
        return cases

    def project(self, table: str, batch: int) -> dict:
        """The read side's share of a corpus: the projector fed the table's stream by `ingest-dev
        follow-stream` (the template's filter; `batch` records per invocation), every request it
        makes metered. With 1, each message is projected alone (a conversation whose messages
        come apart: a summary write per message); with 100, the corpus is handed over as the
        event source mapping hands a burst within its 1 s window."""
        binary = self.args.projector
        variant = harness.Variant("projector", "projector", [str(binary)], self.args.work_dir,
                                  {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO",
                                   "TABLE_NAME": table})
        ctx = harness.Context(SimpleNamespace(table=table), self.local_env, None, self.log, None)
        setting = harness.Setting("write-units", "whole core, plain HTTP, through the meter", self.proxy.url,
                                  False, 256, None)
        api, process = harness.start(ctx, variant, setting, timeout=120)
        records: list[dict] = []
        answers: list[bytes | None] = []
        lock = threading.Lock()
        runner = self

        class Invoke(http.server.BaseHTTPRequestHandler):
            """cargo lambda watch's invoke endpoint, as follow-stream calls it: each body handed
            to the projector's process under the bench's Runtime API."""

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    since = runner.proxy.meter.seq
                    invocation, _ = harness.one_invocation(api, variant, body, len(answers), timeout=120,
                                                           must_store=False)
                    answers.append(invocation.response)
                    records.extend(runner.proxy.snapshot(since)["requests"])
                answer = invocation.response or b'{"error":"invocation error"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Invoke)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            # The stream is read from DynamoDB Local itself: reading it is not a table write.
            env = {**os.environ, "AWS_ENDPOINT_URL_DYNAMODB": self.args.endpoint, "AWS_REGION": "us-east-1",
                   "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
            result = subprocess.run(
                [str(self.args.ingest_dev), "follow-stream", table, "--function", "projector",
                 "--invoke", f"http://127.0.0.1:{server.server_address[1]}", "--batch-size", str(batch)],
                env=env, capture_output=True, text=True, timeout=900)
        finally:
            server.shutdown()
            server.server_close()
            process.stop()
            api.close()
        if result.returncode != 0 or "0 dead-lettered" not in result.stdout:
            raise Failed(f"projecting {table} (batches of {batch}): {(result.stdout + result.stderr)[-800:]}")
        for answer in answers:
            failures = json.loads(answer or b"{}").get("batchItemFailures") if answer else None
            if answer is None or failures:
                raise Failed(f"the projector failed records of {table}: {answer!r}")
        items = [i for r in records for i in r["items"]]
        return {"batch": batch, "invocations": len(answers),
                "wru": sum(r["wru"] for r in records), "rru": sum(r["rru"] for r in records),
                "summary_puts": sum(1 for i in items if item_kind(i["key"]) == "summary"
                                    and i["outcome"] == "written"),
                "index_wru": sum(w["wru"] for i in items for w in i["indexes"]),
                "operations": sorted({r["operation"] for r in records})}

    def invoke(self, api, variant, event: bytes, index: int) -> dict:
        since = self.proxy.meter.seq
        invocation, _ = harness.one_invocation(api, variant, event, index, timeout=120, must_store=False)
        records = self.proxy.snapshot(since)["requests"]
        status, answer = answer_of(invocation)
        return {"status": status, "answer": answer, **summarize(records, event_body_bytes(event)),
                "requests": compact(records)}


def calibration(proxy: meter.MeterServer, endpoint: str, ingest_dev: Path, stamp: str, create) -> list[dict]:
    """Transactions sent through the meter with ReturnConsumedCapacity: DynamoDB Local's figure
    beside the meter's, on items of known sizes."""
    table = f"wru-calibration-{stamp}"
    create(table)
    cases = [("two items of 100 B (a TikTok message's shape)", [100, 100]),
             ("100 B and 2,500 B (a Partoo message's shape)", [100, 2500]),
             ("two items of 2,500 B", [2500, 2500]),
             ("three items of 100 B", [100, 100, 100])]
    out = []
    for n, (label, sizes) in enumerate(cases):
        items = []
        for i, size in enumerate(sizes):
            it = {"pk": {"S": f"calibration#{n}"}, "sk": {"S": f"{i}"}}
            it["pad"] = {"S": "x" * (size - meter.item_size(it) - 3)}
            items.append(it)
        body = json.dumps({"TransactItems": [{"Put": {"TableName": table, "Item": it,
                                                      "ConditionExpression": "attribute_not_exists(pk)"}}
                                             for it in items],
                           "ReturnConsumedCapacity": "TOTAL"}).encode()
        request = urllib.request.Request(proxy.url + "/", data=body, method="POST", headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.TransactWriteItems",
            "X-Amz-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
            # DynamoDB Local reads the form of the credentials, not the signature.
            "Authorization": "AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/dynamodb/aws4_request, "
                             "SignedHeaders=host;x-amz-date;x-amz-target, Signature=" + "0" * 64})
        since = proxy.meter.seq
        with urllib.request.urlopen(request, timeout=30) as r:
            answer = json.load(r)
        records = proxy.snapshot(since)["requests"]
        local = sum(c.get("CapacityUnits", 0) for c in answer.get("ConsumedCapacity", []))
        out.append({"case": label, "sizes": [meter.item_size(it) for it in items],
                    "dynamodb_local": local, "meter": sum(r["wru"] for r in records)})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binaries", type=Path, required=True,
                        help="the functions: <dir>/<function>/bootstrap or <dir>/<function> (target/debug)")
    parser.add_argument("--peer-python", type=Path, required=True)
    parser.add_argument("--peer-dir", type=Path, required=True)
    parser.add_argument("--endpoint", required=True, help="DynamoDB Local, http://127.0.0.1:<port>")
    parser.add_argument("--ingest-dev", type=Path, required=True)
    parser.add_argument("--local-env", type=Path, default=ROOT / "local.env")
    parser.add_argument("--functions", default="tiktok-shop,partoo,callbell")
    parser.add_argument("--projector", type=Path, required=True,
                        help="the projector's binary (what it writes does not depend on the build)")
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--commit", default="", help="what the figures were measured at")
    args = parser.parse_args()
    for name in ("binaries", "peer_python", "peer_dir", "ingest_dev", "local_env", "work_dir", "out", "projector"):
        setattr(args, name, Path(os.path.abspath(getattr(args, name))))
    functions = [f for f in args.functions.split(",") if f]
    args.work_dir.mkdir(parents=True, exist_ok=True)

    rows = manifest(ROOT)
    golden = golden_events(args.ingest_dev, functions, args.work_dir)
    proxy = meter.MeterServer(args.endpoint)
    started = time.monotonic()
    results = {"commit": args.commit, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "binaries": str(args.binaries.relative_to(ROOT) if args.binaries.is_relative_to(ROOT) else args.binaries),
               "variants": {}, "peer": PEER}
    try:
        with open(args.work_dir / "write-units-functions.log", "wb") as log:
            runner = Runner(args, proxy, log)
            variants = [(f, f) for f in functions] + [(PEER, "tiktok-shop")]
            for name, function in variants:
                print(f"write units: {name}", flush=True)
                samples = [(path.split("/", 1)[1].removesuffix(".json"), ROOT / "events" / path, status, answer)
                           for f, path, status, answer in rows if f == function]
                if name == PEER:
                    # The peer gets the new messages only (and each again): it has no quarantine,
                    # no updates and no connection checks to compare.
                    seen = set()
                    samples = [s for s in samples if s[3] == "stored" and not (s[0] in seen or seen.add(s[0]))]
                entry = {"function": function, "samples": runner.run(name, function, "samples", samples)}
                entry["golden"] = runner.run(name, function, "golden",
                                             [(n, p, 200, "stored") for n, p in golden[function]])
                if name != PEER:
                    # The read side: the same corpus again on tables of their own, each then
                    # projected one message at a time and as one burst.
                    entry["read_side"] = {}
                    for batch in READ_SIDE_BATCHES:
                        cases, projected = runner.run(name, function, "samples", samples, project=batch)
                        new = [c for c in cases if c["role"] == "new" and c["answer"] == "stored"]
                        projected["new_messages"] = len(new)
                        projected["message_wru"] = sum(c["wru"] for c in new)
                        entry["read_side"][str(batch)] = projected
                        print(f"    {name:22} read side, batches of {batch:3}: {projected['wru']:.0f} WRU for "
                              f"{len(new)} new messages ({projected['summary_puts']} summary writes)", flush=True)
                results["variants"][name] = entry
            results["calibration"] = calibration(proxy, args.endpoint, args.ingest_dev, runner.stamp,
                                                 runner.create_table)
        results["meter_errors"] = proxy.meter.errors
        results["seconds"] = time.monotonic() - started
    finally:
        proxy.close()
    if results["meter_errors"]:
        raise Failed(f"the meter could not price {len(results['meter_errors'])} request(s), e.g. "
                     f"{results['meter_errors'][0]}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    for name, entry in results["variants"].items():
        new = [c["wru"] for c in entry["samples"] + entry["golden"] if c["role"] == "new" and c["answer"] == "stored"]
        golden_new = [c["wru"] for c in entry["golden"] if c["role"] == "new"]
        print(f"{name:22} new messages: mean {statistics.fmean(new):.2f} WRU over {len(new)}; golden {golden_new}")
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (Failed, harness.Failed) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
