#!/usr/bin/env python3
"""A metering proxy for DynamoDB Local: what DynamoDB would bill, by AWS's published rules.

DynamoDB Local answers `ReturnConsumedCapacity`, but its figures are not the bill: it counts a
transaction's items once, where DynamoDB bills every item of a transaction twice (it reports 2
for a transaction of two small items, which AWS bills 4). So the bench does not ask it. This
proxy sits between a client and DynamoDB Local on the loopback, forwards every request byte for
byte and every answer byte for byte, and for each request computes the write request units
(WRU) and read request units (RRU) that an on-demand table would be billed for it, table by
table and index by index, from the items themselves.

To know an item as it was before a write, the proxy reads it from DynamoDB Local (GetItem,
ConsistentRead) just before forwarding the write, and after an UpdateItem it reads the result.
Writes pass through the proxy one at a time, so that what it reads is what the write met. These
reads are the proxy's own: they are not metered. The table's key schema and its secondary
indexes come from DescribeTable, read once per table.

The rules, and the AWS pages they come from:

[SIZES] "DynamoDB item sizes and formats"
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
  An item's size is the sum, over its attributes, of the name's UTF-8 length and the value's
  size: a string its UTF-8 length; a number about 1 byte per two significant digits plus 1
  (leading and trailing zeroes trimmed); a binary its raw length (not the base64); a Boolean
  or null 1 byte; a list or map 3 bytes plus its elements' sizes plus 1 byte per element (a
  map element counting its name too). The page gives no rule for sets: here a set is the sum
  of its elements' sizes, each as the scalar it is (an estimate; the items benched have none).
  Storage adds 100 bytes of overhead per item (same page).

[WRITES] "DynamoDB read and write operations", capacity unit consumption for write operations
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html#write-operation-consumption
  and the on-demand pricing page's key terms (https://aws.amazon.com/dynamodb/pricing/on-demand/):
  one write request unit writes up to 1 KB (1,024 bytes); sizes are rounded up to the next KB,
  each item on its own. PutItem bills the larger of the item it replaces and the new one;
  UpdateItem the larger of the item before and after the update, however few attributes
  change; DeleteItem the deleted item; BatchWriteItem each put and delete as its own PutItem or
  DeleteItem (items DynamoDB returns unprocessed are not billed). Every write bills at least 1.

[FAILED CONDITIONS] "Working with items", capacity units consumed by conditional writes
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/WorkingWithItems.html#WorkingWithItems.ConditionalWrites.ReturnConsumedCapacity
  A conditional write whose condition fails still bills: the existing item's size, or 1 unit
  when there is no item. Nothing is written, so no index is.

[TRANSACTIONS] "Amazon DynamoDB Transactions: How it works", capacity management
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-capacity-handling
  DynamoDB performs two underlying writes of every item in a transaction, one to prepare it and
  one to commit it: each item bills twice what the same write alone would. A ConditionCheck
  bills as a write of the checked item, twice. Changes reach the global secondary indexes after
  the transaction commits (same page, TransactWriteItems API): index writes are billed once, as
  for a plain write. A replay of a committed transaction with the same ClientRequestToken within
  10 minutes changes nothing and bills the read of the items instead (same page, idempotency):
  here 2 RRU per item per 4 KB, as a transactional read.
  A transaction cancelled by a failed condition (TransactionCanceledException) is not priced
  anywhere in AWS's documentation. Billed here: its prepare phase, one write per action, the
  action whose condition failed as a failed conditional write bills (the stored item's size,
  1 when none), the others as the write would have billed once. Treat cancelled transactions as
  an estimate; the report says so.

[INDEXES] "Global secondary indexes", write capacity units
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.ThroughputConsiderations.Writes
  A write bills, besides the table, every global secondary index whose entries it changes, each
  at the size of its index entry (the table's key, the index's key and the projected attributes:
  KEYS_ONLY, INCLUDE or ALL, from DescribeTable): a new entry is one put; a removed entry (the
  item deleted, or an index key attribute removed: sparse indexes hold only items with every
  key attribute) one delete; a changed index key a delete and a put; a change to projected
  attributes only, one write (at the larger of the two entries); nothing when neither an index
  key nor a projected attribute changed. Local secondary indexes follow the same rules
  ("Local secondary indexes", provisioned throughput considerations) and are billed to the
  table: they are listed apart all the same.

[READS] same pages: a read request unit reads up to 4 KB strongly consistent, eventually
  consistent half of that, transactional twice. GetItem rounds the item up to 4 KB (a missing
  item bills the minimum); BatchGetItem each item on its own; Query the total of the items it
  reads (before any filter, whatever the projection), rounded up once. Global secondary index
  queries are eventually consistent and read index entries. To size what a projected or
  filtered Query read, the proxy runs it again without projection and filter.

Usage as a tool (in front of a running DynamoDB Local; both on 127.0.0.1):
  python bench/meter.py --upstream http://127.0.0.1:8000 --port 8001
  AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8001 <your client>
  curl -s http://127.0.0.1:8001/_meter            # totals, per table and index, every request
  curl -s 'http://127.0.0.1:8001/_meter?since=12'  # requests after number 12
  curl -s -X POST http://127.0.0.1:8001/_meter/reset
The bench (bench/write_units.py) uses it as a library: MeterServer(upstream).
"""
from __future__ import annotations

import argparse
import base64
import decimal
import gzip
import json
import math
import re
import socket
import socketserver
import sys
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlparse

KB = 1024
READ_UNIT_BYTES = 4 * KB
STORAGE_OVERHEAD_BYTES = 100  # per item, for storage only [SIZES]
IDEMPOTENCY_WINDOW_S = 600  # [TRANSACTIONS], idempotency
TARGET_PREFIX = "DynamoDB_20120810."

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
READS = {"GetItem", "BatchGetItem", "Query", "TransactGetItems"}
SCHEMA_CHANGES = {"CreateTable", "UpdateTable", "DeleteTable"}
# Operations that bill but that the meter does not price: a request of one is reported as an
# error, so that a total is never silently short.
UNPRICED = {"Scan", "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction"}


class MeterError(Exception):
    """The proxy could not work out what a request bills (the request itself still went through)."""


# ---------------------------------------------------------------------------------------------
# Sizes [SIZES]


def number_size(text: str) -> int:
    """About 1 byte per two significant digits, plus 1; leading and trailing zeroes trimmed."""
    try:
        value = decimal.Decimal(text)
    except decimal.InvalidOperation as e:
        raise MeterError(f"not a DynamoDB number: {text!r}") from e
    if not value.is_finite():
        raise MeterError(f"not a DynamoDB number: {text!r}")
    # The digits as written (the context's 28-digit precision would round 38 of them), without
    # the zeroes at either end.
    digits = "".join(str(d) for d in value.as_tuple().digits).strip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def value_size(value: dict) -> int:
    """The size of one attribute value in DynamoDB's JSON wire form ({"S": "..."}, ...)."""
    if len(value) != 1:
        raise MeterError(f"an attribute value has one type, got {sorted(value)}")
    (kind, v), = value.items()
    if kind == "S":
        return len(v.encode("utf-8"))
    if kind == "N":
        return number_size(v)
    if kind == "B":
        return len(base64.b64decode(v))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + value_size(e) for e in v)
    if kind == "M":
        return 3 + sum(1 + len(name.encode("utf-8")) + value_size(e) for name, e in v.items())
    # Not on the page: the sum of the elements, as the scalars they are (see [SIZES]).
    if kind == "SS":
        return sum(len(e.encode("utf-8")) for e in v)
    if kind == "NS":
        return sum(number_size(e) for e in v)
    if kind == "BS":
        return sum(len(base64.b64decode(e)) for e in v)
    raise MeterError(f"unknown attribute type {kind!r}")


def item_size(item: dict | None) -> int:
    """Bytes of an item: the names' UTF-8 lengths plus the values' sizes (0 for no item)."""
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + value_size(v) for name, v in item.items())


def storage_bytes(item: dict) -> int:
    """What the item occupies in billed storage: its size plus 100 bytes of overhead."""
    return item_size(item) + STORAGE_OVERHEAD_BYTES


def write_units(size: int) -> int:
    """Write request units of one write of `size` bytes: per started KB, at least 1 [WRITES]."""
    return max(1, math.ceil(size / KB))


def read_units(size: int, consistent: bool, transactional: bool = False) -> float:
    """Read request units of reading `size` bytes at once: per started 4 KB (at least one),
    half for an eventually consistent read, twice for a transactional one [READS]."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    if transactional:
        return 2.0 * units
    return float(units) if consistent else units / 2


# ---------------------------------------------------------------------------------------------
# Tables and their indexes


@dataclass(frozen=True)
class Index:
    name: str
    kind: str  # "GSI" or "LSI"
    keys: tuple[str, ...]
    projection: str  # KEYS_ONLY, INCLUDE or ALL
    non_key_attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableSchema:
    name: str
    keys: tuple[str, ...]
    indexes: tuple[Index, ...] = ()

    @staticmethod
    def from_description(table: dict) -> "TableSchema":
        """From DescribeTable's `Table`."""
        def keys_of(schema):
            # The partition key first, then the sort key.
            ordered = sorted(schema, key=lambda k: 0 if k["KeyType"] == "HASH" else 1)
            return tuple(k["AttributeName"] for k in ordered)

        indexes = []
        for kind, field_name in (("GSI", "GlobalSecondaryIndexes"), ("LSI", "LocalSecondaryIndexes")):
            for index in table.get(field_name) or []:
                projection = index.get("Projection") or {}
                indexes.append(Index(index["IndexName"], kind, keys_of(index["KeySchema"]),
                                     projection.get("ProjectionType", "ALL"),
                                     tuple(projection.get("NonKeyAttributes") or ())))
        return TableSchema(table["TableName"], keys_of(table["KeySchema"]), tuple(indexes))

    def key_of(self, item: dict) -> dict:
        missing = [k for k in self.keys if k not in item]
        if missing:
            raise MeterError(f"an item of {self.name} without its key attribute(s) {missing}")
        return {k: item[k] for k in self.keys}


INDEX_KEY_TYPES = ("S", "N", "B")


def index_entry(table: TableSchema, index: Index, item: dict | None) -> dict | None:
    """The index's entry for `item`, or None when the item is not in the index: an index holds
    only items that have every one of its key attributes, as a string, number or binary
    (sparse indexes) [INDEXES]."""
    if not item:
        return None
    for key in index.keys:
        value = item.get(key)
        if value is None or next(iter(value)) not in INDEX_KEY_TYPES:
            return None
    if index.projection == "ALL":
        return dict(item)
    names = set(table.keys) | set(index.keys)
    if index.projection == "INCLUDE":
        names |= set(index.non_key_attributes)
    return {name: value for name, value in item.items() if name in names}


# ---------------------------------------------------------------------------------------------
# What one item's write bills


@dataclass
class IndexWrite:
    index: str
    kind: str
    action: str  # put, delete, delete+put, update
    wru: int
    entry_bytes_before: int
    entry_bytes_after: int

    def as_dict(self):
        return dict(self.__dict__)


@dataclass
class ItemCharge:
    """One item written (or checked) by one request."""
    table: str
    key: dict
    action: str  # put, update, delete, condition_check
    outcome: str  # written, condition_failed, cancelled, unprocessed, replayed
    bytes_before: int
    bytes_after: int
    wru: int  # the table's own units (transactions included), indexes apart
    rru: float = 0.0
    rule: str = ""
    indexes: list[IndexWrite] = field(default_factory=list)
    # Bytes of each attribute of the item as written (name and value), for reports that ask
    # what an item would bill without one of them.
    attribute_bytes: dict[str, int] = field(default_factory=dict)

    @property
    def index_wru(self) -> int:
        return sum(i.wru for i in self.indexes)

    def as_dict(self):
        d = {k: v for k, v in self.__dict__.items() if k != "indexes"}
        d["indexes"] = [i.as_dict() for i in self.indexes]
        return d


def index_writes(table: TableSchema, before: dict | None, after: dict | None) -> list[IndexWrite]:
    """The writes a table write makes in each of the table's indexes [INDEXES]."""
    writes = []
    for index in table.indexes:
        old, new = index_entry(table, index, before), index_entry(table, index, after)
        old_bytes, new_bytes = item_size(old), item_size(new)
        if old is None and new is None:
            continue
        if old is None:
            action, units = "put", write_units(new_bytes)
        elif new is None:
            action, units = "delete", write_units(old_bytes)
        elif any(old.get(k) != new.get(k) for k in index.keys):
            action, units = "delete+put", write_units(old_bytes) + write_units(new_bytes)
        elif old != new:
            action, units = "update", write_units(max(old_bytes, new_bytes))
        else:
            continue  # neither an index key nor a projected attribute changed
        writes.append(IndexWrite(index.name, index.kind, action, units, old_bytes, new_bytes))
    return writes


def write_charge(table: TableSchema, action: str, before: dict | None, after: dict | None,
                 transactional: bool = False, key: dict | None = None) -> ItemCharge:
    """A write that happened: the larger of the item before and after, per started KB, twice in
    a transaction [WRITES] [TRANSACTIONS]; plus the indexes it changed, once [INDEXES]."""
    size_before, size_after = item_size(before), item_size(after)
    units = write_units(max(size_before, size_after))
    times = 2 if transactional else 1
    if key is None:
        key = table.key_of(after or before) if (after or before) else {}
    rule = (f"{'2 × ' if transactional else ''}ceil(max({size_before}, {size_after}) B / 1 KB)"
            f" = {times * units}")
    attribute_bytes = {name: len(name.encode("utf-8")) + value_size(v) for name, v in (after or {}).items()}
    return ItemCharge(table.name, key, action, "written", size_before, size_after, times * units,
                      rule=rule, indexes=index_writes(table, before, after), attribute_bytes=attribute_bytes)


def failed_condition_charge(table: TableSchema, action: str, key: dict, before: dict | None,
                            outcome: str = "condition_failed") -> ItemCharge:
    """A conditional write whose condition failed: the stored item's size, or 1 unit when there
    is none; no index is written [FAILED CONDITIONS]."""
    size = item_size(before)
    units = write_units(size) if before else 1
    rule = f"failed condition: ceil({size} B / 1 KB) = {units}" if before else "failed condition, no item: 1"
    return ItemCharge(table.name, key, action, outcome, size, size, units, rule=rule)


def condition_check_charge(table: TableSchema, key: dict, item: dict | None) -> ItemCharge:
    """A transaction's ConditionCheck: a write of the checked item, twice [TRANSACTIONS]."""
    size = item_size(item)
    units = 2 * write_units(size)
    return ItemCharge(table.name, key, "condition_check", "written", size, size, units,
                      rule=f"condition check: 2 × ceil({size} B / 1 KB) = {units}")


def cancelled_charge(table: TableSchema, action: str, key: dict, before: dict | None,
                     after: dict | None, reason: str) -> ItemCharge:
    """One action of a cancelled transaction: its prepare phase only (an estimate, see
    [TRANSACTIONS]): the failed conditional write's charge for the action whose condition
    failed, one write of the item for the others."""
    if reason == "ConditionalCheckFailed":
        charge = failed_condition_charge(table, action, key, before, outcome="cancelled")
        charge.rule = "cancelled transaction (estimate: prepare only), " + charge.rule
        return charge
    size_before, size_after = item_size(before), item_size(after)
    units = write_units(max(size_before, size_after))
    return ItemCharge(table.name, key, action, "cancelled", size_before, size_after, units,
                      rule=f"cancelled transaction (estimate: prepare only, {reason}): "
                           f"ceil(max({size_before}, {size_after}) B / 1 KB) = {units}")


# ---------------------------------------------------------------------------------------------
# Updates: the after-image is read back from DynamoDB Local (see Meter), but PutItem's is the
# request's item and a delete has none.


def transact_actions(request: dict) -> list[tuple[str, dict]]:
    """(action, its request part) for each TransactItems entry, in order."""
    actions = []
    for entry in request.get("TransactItems") or []:
        (kind, body), = entry.items()
        actions.append(({"Put": "put", "Update": "update", "Delete": "delete",
                         "ConditionCheck": "condition_check"}[kind], body))
    return actions


def error_type(body: dict) -> str:
    """`com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException` -> the last part."""
    return str(body.get("__type", "")).rsplit("#", 1)[-1]


# ---------------------------------------------------------------------------------------------
# A request's record


@dataclass
class Record:
    seq: int
    operation: str
    status: int
    outcome: str
    wru: float = 0.0
    rru: float = 0.0
    items: list[ItemCharge] = field(default_factory=list)
    reads: list[dict] = field(default_factory=list)
    note: str = ""
    local_consumed: object = None  # what DynamoDB Local reported, when the client asked
    at: float = field(default_factory=time.time)

    def add(self, charge: ItemCharge):
        self.items.append(charge)
        self.wru += charge.wru + charge.index_wru
        self.rru += charge.rru

    def by_table(self) -> dict:
        tables: dict[str, dict] = {}
        for charge in self.items:
            t = tables.setdefault(charge.table, {"wru": 0.0, "rru": 0.0, "indexes": {}})
            t["wru"] += charge.wru
            t["rru"] += charge.rru
            for w in charge.indexes:
                i = t["indexes"].setdefault(w.index, {"kind": w.kind, "wru": 0.0})
                i["wru"] += w.wru
        for read in self.reads:
            t = tables.setdefault(read["table"], {"wru": 0.0, "rru": 0.0, "indexes": {}})
            if read.get("index"):
                i = t["indexes"].setdefault(read["index"], {"kind": read.get("kind", "GSI"), "wru": 0.0})
                i["rru"] = i.get("rru", 0.0) + read["rru"]
            else:
                t["rru"] += read["rru"]
        return tables

    def as_dict(self):
        return {"seq": self.seq, "operation": self.operation, "status": self.status,
                "outcome": self.outcome, "wru": self.wru, "rru": self.rru,
                "tables": self.by_table(), "items": [c.as_dict() for c in self.items],
                "reads": self.reads, "note": self.note, "local_consumed": self.local_consumed,
                "at": self.at}


def merge_tables(into: dict, tables: dict):
    for name, t in tables.items():
        target = into.setdefault(name, {"wru": 0.0, "rru": 0.0, "indexes": {}})
        target["wru"] += t["wru"]
        target["rru"] += t["rru"]
        for index, i in t["indexes"].items():
            ti = target["indexes"].setdefault(index, {"kind": i["kind"], "wru": 0.0})
            ti["wru"] += i.get("wru", 0.0)
            if "rru" in i:
                ti["rru"] = ti.get("rru", 0.0) + i["rru"]


# ---------------------------------------------------------------------------------------------
# Metering: before and after a request


class Upstream:
    """The proxy's own calls to DynamoDB Local (never metered), made with the client's own
    Authorization and date headers: DynamoDB Local checks their form, not the signature."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.lock = threading.Lock()
        self.sock: socket.socket | None = None
        self.reader = None

    def call(self, operation: str, payload: dict, auth_headers: list[tuple[str, str]]) -> tuple[int, dict]:
        body = json.dumps(payload).encode()
        lines = [f"POST / HTTP/1.1", f"Host: {self.host}:{self.port}",
                 "Content-Type: application/x-amz-json-1.0",
                 f"X-Amz-Target: {TARGET_PREFIX}{operation}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in auth_headers]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        with self.lock:
            for attempt in (1, 2):
                try:
                    if self.sock is None:
                        self.sock = socket.create_connection((self.host, self.port), timeout=30)
                        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        self.reader = self.sock.makefile("rb")
                    self.sock.sendall(request)
                    status, headers, _, raw_body = read_response(self.reader, "POST")
                    if header(headers, "connection", "").lower() == "close":
                        self.close()
                    return status, parse_json(decoded_body(headers, raw_body))
                except (OSError, EOFError):
                    self.close()
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock, self.reader = None, None


class Meter:
    """What every request through the proxy bills, request by request and in total."""

    def __init__(self, upstream: Upstream):
        self.upstream = upstream
        self.lock = threading.Lock()  # records and totals
        self.write_lock = threading.Lock()  # one write at a time: before/after are exact
        self.schemas: dict[str, TableSchema] = {}
        self.records: list[Record] = []
        self.seq = 0
        self.tokens: dict[str, tuple[float, str, list[ItemCharge]]] = {}  # ClientRequestToken
        self.errors: list[str] = []

    # --- the proxy's own reads

    def schema(self, table: str, auth) -> TableSchema:
        if table not in self.schemas:
            status, body = self.upstream.call("DescribeTable", {"TableName": table}, auth)
            if status != 200:
                raise MeterError(f"DescribeTable {table}: {status} {body}")
            self.schemas[table] = TableSchema.from_description(body["Table"])
        return self.schemas[table]

    def get(self, table: str, key: dict, auth) -> dict | None:
        status, body = self.upstream.call("GetItem", {"TableName": table, "Key": key,
                                                      "ConsistentRead": True}, auth)
        if status != 200:
            raise MeterError(f"GetItem on {table}: {status} {body}")
        return body.get("Item")

    # --- around a request

    def prepare(self, operation: str, request: dict, auth) -> dict:
        """Before a write is forwarded: the schema and the stored item of every key it touches."""
        if operation not in WRITES:
            return {}
        targets = []  # (table, action, key, request part)
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            table = request["TableName"]
            schema = self.schema(table, auth)
            key = schema.key_of(request["Item"]) if operation == "PutItem" else request["Key"]
            action = {"PutItem": "put", "UpdateItem": "update", "DeleteItem": "delete"}[operation]
            targets.append((table, action, key, request))
        elif operation == "TransactWriteItems":
            for action, part in transact_actions(request):
                schema = self.schema(part["TableName"], auth)
                key = schema.key_of(part["Item"]) if action == "put" else part["Key"]
                targets.append((part["TableName"], action, key, part))
        elif operation == "BatchWriteItem":
            for table, entries in (request.get("RequestItems") or {}).items():
                schema = self.schema(table, auth)
                for entry in entries:
                    if "PutRequest" in entry:
                        item = entry["PutRequest"]["Item"]
                        targets.append((table, "put", schema.key_of(item), entry["PutRequest"]))
                    else:
                        targets.append((table, "delete", entry["DeleteRequest"]["Key"], entry["DeleteRequest"]))
        befores = [self.get(table, key, auth) for table, _, key, _ in targets]
        return {"targets": targets, "befores": befores}

    def settle(self, operation: str, request: dict, prepared: dict, status: int, answer: dict,
               auth) -> Record:
        record = Record(0, operation, status, "ok" if status == 200 else error_type(answer) or f"HTTP {status}")
        if status == 200 and isinstance(answer, dict) and "ConsumedCapacity" in answer:
            record.local_consumed = answer["ConsumedCapacity"]
        try:
            if operation in WRITES:
                self.settle_write(record, operation, request, prepared, status, answer, auth)
            elif operation in READS and status == 200:
                self.settle_read(record, operation, request, answer, auth)
            elif operation in SCHEMA_CHANGES:
                self.schemas.pop(request.get("TableName", ""), None)
            elif operation in UNPRICED and status == 200:
                raise MeterError(f"{operation} bills, but the meter does not price it")
        except (MeterError, KeyError, TypeError, ValueError, OSError, EOFError) as e:
            record.note = f"not metered: {type(e).__name__}: {e}"
            self.errors.append(record.note)
        return self.keep(record)

    def keep(self, record: Record) -> Record:
        with self.lock:
            self.seq += 1
            record.seq = self.seq
            self.records.append(record)
        return record

    def settle_write(self, record, operation, request, prepared, status, answer, auth):
        targets, befores = prepared["targets"], prepared["befores"]
        kind = error_type(answer) if status != 200 else ""
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            (table, action, key, part), before = targets[0], befores[0]
            schema = self.schemas[table]
            if status == 200:
                after = self.after_image(schema, action, key, part, auth)
                record.add(write_charge(schema, action, before, after, key=key))
            elif kind == "ConditionalCheckFailedException":
                record.outcome = "condition_failed"
                record.add(failed_condition_charge(schema, action, key, before))
            else:
                record.note = f"{kind or status}: not billed"
            return
        if operation == "BatchWriteItem":
            if status != 200:
                record.note = f"{kind or status}: not billed"
                return
            unprocessed = set()
            for table, entries in (answer.get("UnprocessedItems") or {}).items():
                schema = self.schemas[table]
                for entry in entries:
                    body = entry.get("PutRequest") or entry.get("DeleteRequest")
                    key = schema.key_of(body["Item"]) if "PutRequest" in entry else body["Key"]
                    unprocessed.add((table, canonical(key)))
            for (table, action, key, part), before in zip(targets, befores):
                schema = self.schemas[table]
                if (table, canonical(key)) in unprocessed:
                    record.items.append(ItemCharge(table, key, action, "unprocessed",
                                                   item_size(before), item_size(before), 0,
                                                   rule="returned unprocessed: not billed"))
                    continue
                after = part["Item"] if action == "put" else None
                record.add(write_charge(schema, action, before, after, key=key))
            return
        # TransactWriteItems
        token = request.get("ClientRequestToken")
        if status == 200 and token and self.replayed(token, request):
            record.outcome = "replayed"
            for (table, action, key, part), before in zip(targets, befores):
                size = item_size(before)
                charge = ItemCharge(table, key, action, "replayed", size, size, 0,
                                    rru=read_units(size, True, transactional=True),
                                    rule="idempotent replay: a transactional read of the item")
                record.add(charge)
            return
        if status == 200:
            charges = []
            for (table, action, key, part), before in zip(targets, befores):
                schema = self.schemas[table]
                if action == "condition_check":
                    charges.append(condition_check_charge(schema, key, before))
                    continue
                after = self.after_image(schema, action, key, part, auth)
                charges.append(write_charge(schema, action, before, after, transactional=True, key=key))
            for charge in charges:
                record.add(charge)
            if token:
                self.tokens[token] = (time.monotonic(), canonical(request), charges)
            return
        if kind == "TransactionCanceledException":
            record.outcome = "cancelled"
            reasons = [r.get("Code", "None") for r in answer.get("CancellationReasons") or []]
            record.note = "cancelled: " + ", ".join(reasons)
            for i, ((table, action, key, part), before) in enumerate(zip(targets, befores)):
                schema = self.schemas[table]
                reason = reasons[i] if i < len(reasons) else "None"
                after = part.get("Item") if action == "put" else (None if action == "delete" else before)
                record.add(cancelled_charge(schema, action, key, before, after, reason))
            return
        record.note = f"{kind or status}: not billed"

    def replayed(self, token: str, request: dict) -> bool:
        now = time.monotonic()
        for t in [t for t, (at, _, _) in self.tokens.items() if now - at > IDEMPOTENCY_WINDOW_S]:
            del self.tokens[t]
        seen = self.tokens.get(token)
        return seen is not None and seen[1] == canonical(request)

    def after_image(self, schema, action, key, part, auth):
        if action == "put":
            return part["Item"]
        if action == "delete":
            return None
        return self.get(schema.name, key, auth)  # an update: read what it made

    def settle_read(self, record, operation, request, answer, auth):
        if operation == "GetItem":
            table = request["TableName"]
            consistent = bool(request.get("ConsistentRead"))
            item = answer.get("Item")
            if item is not None and (request.get("ProjectionExpression") or request.get("AttributesToGet")):
                item = self.get(table, request["Key"], auth)  # the whole item is what bills
            self.add_read(record, table, None, item_size(item), consistent, count=1 if item else 0)
        elif operation == "BatchGetItem":
            for table, keys in (request.get("RequestItems") or {}).items():
                consistent = bool(keys.get("ConsistentRead"))
                schema = self.schema(table, auth)
                returned = {canonical(schema.key_of(i)): i for i in (answer.get("Responses") or {}).get(table, [])}
                unprocessed = {canonical(k) for k in
                               ((answer.get("UnprocessedKeys") or {}).get(table) or {}).get("Keys", [])}
                for key in keys.get("Keys", []):
                    if canonical(key) in unprocessed:
                        continue
                    item = returned.get(canonical(key))
                    if item is not None and (keys.get("ProjectionExpression") or keys.get("AttributesToGet")):
                        item = self.get(table, key, auth)
                    self.add_read(record, table, None, item_size(item), consistent, count=1 if item else 0)
        elif operation == "TransactGetItems":
            for entry in request.get("TransactItems") or []:
                get = entry["Get"]
                item = self.get(get["TableName"], get["Key"], auth)
                self.add_read(record, get["TableName"], None, item_size(item), True,
                              transactional=True, count=1 if item else 0)
        elif operation == "Query":
            self.settle_query(record, request, answer, auth)

    def settle_query(self, record, request, answer, auth):
        table = request["TableName"]
        index_name = request.get("IndexName")
        schema = self.schema(table, auth)
        kind = next((i.kind for i in schema.indexes if i.name == index_name), None)
        consistent = bool(request.get("ConsistentRead")) and kind != "GSI"
        items = answer.get("Items")
        if (request.get("FilterExpression") or request.get("ProjectionExpression")
                or request.get("Select") in ("COUNT", "SPECIFIC_ATTRIBUTES") or items is None):
            items = self.unfiltered_query(request, auth)
        self.add_read(record, table, index_name, sum(item_size(i) for i in items), consistent,
                      count=len(items), kind=kind)

    def unfiltered_query(self, request: dict, auth) -> list[dict]:
        """The items the query read: the same key condition, limit and start, without filter or
        projection (the filter is applied after the read, and neither changes what bills)."""
        again = {k: request[k] for k in ("TableName", "IndexName", "KeyConditionExpression", "Limit",
                                          "ExclusiveStartKey", "ScanIndexForward", "ConsistentRead")
                 if k in request}
        used = set(re.findall(r"[#:][A-Za-z0-9_]+", request.get("KeyConditionExpression", "")))
        for name in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
            kept = {k: v for k, v in (request.get(name) or {}).items() if k in used}
            if kept:
                again[name] = kept
        status, body = self.upstream.call("Query", again, auth)
        if status != 200:
            raise MeterError(f"Query without its filter: {status} {body}")
        return body.get("Items") or []

    def add_read(self, record, table, index, size, consistent, transactional=False, count=0, kind=None):
        units = read_units(size, consistent, transactional)
        entry = {"table": table, "bytes": size, "items": count, "rru": units,
                 "consistent": consistent, "transactional": transactional}
        if index:
            entry["index"] = index
            entry["kind"] = kind or "GSI"
        record.reads.append(entry)
        record.rru += units

    # --- what the endpoint shows

    def snapshot(self, since: int = 0) -> dict:
        with self.lock:
            records = list(self.records)
        totals = {"wru": 0.0, "rru": 0.0, "requests": 0, "writes": 0, "reads": 0}
        tables: dict = {}
        by_operation: dict = {}
        for r in records:
            totals["wru"] += r.wru
            totals["rru"] += r.rru
            totals["requests"] += 1
            totals["writes"] += r.operation in WRITES
            totals["reads"] += r.operation in READS
            merge_tables(tables, r.by_table())
            op = by_operation.setdefault(r.operation, {"requests": 0, "wru": 0.0, "rru": 0.0})
            op["requests"] += 1
            op["wru"] += r.wru
            op["rru"] += r.rru
        return {"seq": self.seq, "totals": totals, "tables": tables, "operations": by_operation,
                "requests": [r.as_dict() for r in records if r.seq > since],
                "errors": list(self.errors)}

    def reset(self):
        with self.lock:
            self.records.clear()
            self.errors.clear()


def canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------
# HTTP/1.1, as bytes: requests and answers are relayed exactly as they were read


def read_head(reader) -> bytes | None:
    """The request or status line and the header lines, up to the blank line (None at EOF)."""
    lines = []
    while True:
        line = reader.readline(65537)
        if not line:
            if lines:
                raise EOFError("connection closed in the middle of a head")
            return None
        if not lines and line in (b"\r\n", b"\n"):
            continue  # a stray blank line between messages
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            return b"".join(lines)
        if len(lines) > 200:
            raise ValueError("too many header lines")


def parse_headers(head: bytes) -> tuple[str, list[tuple[str, str]]]:
    text = head.decode("latin-1")
    first, *rest = text.split("\r\n") if "\r\n" in text else text.split("\n")
    headers = []
    for line in rest:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return first, headers


def header(headers: list[tuple[str, str]], name: str, default: str | None = None) -> str | None:
    for n, v in headers:
        if n.lower() == name:
            return v
    return default


def read_chunked(reader) -> tuple[bytes, bytes]:
    """A chunked body: (the bytes as sent, the data they carry)."""
    raw, data = [], []
    while True:
        size_line = reader.readline(65537)
        if not size_line:
            raise EOFError("connection closed in a chunked body")
        raw.append(size_line)
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while True:  # trailers, then the blank line
                trailer = reader.readline(65537)
                if not trailer:
                    raise EOFError("connection closed in the trailers")
                raw.append(trailer)
                if trailer in (b"\r\n", b"\n"):
                    return b"".join(raw), b"".join(data)
        chunk = read_exactly(reader, size)
        crlf = reader.readline(65537)
        raw += [chunk, crlf]
        data.append(chunk)


def read_exactly(reader, n: int) -> bytes:
    data = reader.read(n) if n else b""
    if len(data) != n:
        raise EOFError(f"connection closed after {len(data)} of {n} bytes")
    return data


def read_body(reader, headers) -> tuple[bytes, bytes]:
    """A request's body: (as sent, decoded)."""
    if "chunked" in (header(headers, "transfer-encoding", "") or "").lower():
        return read_chunked(reader)
    length = int(header(headers, "content-length", "0") or 0)
    data = read_exactly(reader, length)
    return data, data


def read_response(reader, method: str) -> tuple[int, list, bytes, bytes]:
    """(status, headers, the head as sent, the body as sent)."""
    head = read_head(reader)
    if head is None:
        raise EOFError("the upstream closed the connection")
    status_line, headers = parse_headers(head)
    status = int(status_line.split()[1])
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return status, headers, head, b""
    if "chunked" in (header(headers, "transfer-encoding", "") or "").lower():
        raw, _ = read_chunked(reader)
        return status, headers, head, raw
    length = header(headers, "content-length")
    if length is not None:
        return status, headers, head, read_exactly(reader, int(length))
    return status, headers, head, reader.read()  # until the upstream closes


def decoded_body(headers, raw: bytes) -> bytes:
    """The body's data: de-chunked and, when so encoded, gunzipped (only to read it)."""
    if "chunked" in (header(headers, "transfer-encoding", "") or "").lower():
        raw = read_chunked(_Bytes(raw))[1]
    if (header(headers, "content-encoding", "") or "").lower() == "gzip":
        raw = gzip.decompress(raw)
    return raw


class _Bytes:
    """A reader over bytes, for read_chunked."""

    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def readline(self, limit=-1):
        end = self.data.find(b"\n", self.at)
        end = len(self.data) if end < 0 else end + 1
        line, self.at = self.data[self.at:end], end
        return line

    def read(self, n):
        chunk, self.at = self.data[self.at:self.at + n], self.at + n
        return chunk


def parse_json(data: bytes) -> dict:
    if not data:
        return {}
    try:
        value = json.loads(data)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


AUTH_HEADERS = ("authorization", "x-amz-date", "x-amz-security-token")


class ProxyHandler(socketserver.StreamRequestHandler):
    """One client connection: requests relayed in order over one upstream connection."""

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.upstream_sock = None
        self.upstream_reader = None

    def finish(self):
        if self.upstream_sock is not None:
            self.upstream_sock.close()
        super().finish()

    def handle(self):
        server: MeterServer = self.server.meter_server
        while True:
            try:
                head = read_head(self.rfile)
            except (OSError, EOFError, ValueError):
                return
            if head is None:
                return
            request_line, headers = parse_headers(head)
            try:
                method, target, _ = request_line.split(" ", 2)
            except ValueError:
                return
            if (header(headers, "expect", "") or "").lower() == "100-continue":
                # Answered here, since the whole body is read before anything is forwarded; the
                # upstream's own interim answer is then not relayed (below).
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                self.wfile.flush()
            try:
                raw_body, body = read_body(self.rfile, headers)
            except (OSError, EOFError, ValueError):
                return
            if urlparse(target).path.startswith("/_meter"):
                if not self.serve_meter(server, method, target):
                    return
                continue
            keep_open = self.relay(server, method, head, headers, raw_body, body)
            if not keep_open:
                return

    def serve_meter(self, server, method: str, target: str) -> bool:
        url = urlparse(target)
        if method == "GET" and url.path in ("/_meter", "/_meter/"):
            since = int((parse_qs(url.query).get("since") or ["0"])[0])
            payload, status = json.dumps(server.meter.snapshot(since)).encode(), 200
        elif method == "POST" and url.path == "/_meter/reset":
            server.meter.reset()
            payload, status = b'{"reset":true}', 200
        else:
            payload, status = b'{"error":"GET /_meter[?since=N] or POST /_meter/reset"}', 404
        self.wfile.write(f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}\r\n"
                         f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
                         .encode() + payload)
        self.wfile.flush()
        return True

    def forward(self, server, method, head, raw_body):
        """Sends the request as read; returns the answer as read (a stale upstream connection is
        opened again once, before anything was answered)."""
        for attempt in (1, 2):
            try:
                if self.upstream_sock is None:
                    self.upstream_sock = socket.create_connection(server.upstream_address, timeout=120)
                    self.upstream_sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self.upstream_reader = self.upstream_sock.makefile("rb")
                self.upstream_sock.sendall(head + raw_body)
                while True:
                    status, headers, rhead, rbody = read_response(self.upstream_reader, method)
                    if 100 <= status < 200 and status != 101:
                        continue  # an interim answer (see Expect above)
                    return status, headers, rhead, rbody
            except (OSError, EOFError):
                if self.upstream_sock is not None:
                    self.upstream_sock.close()
                self.upstream_sock, self.upstream_reader = None, None
                if attempt == 2:
                    raise

    def relay(self, server, method, head, headers, raw_body, body) -> bool:
        target = header(headers, "x-amz-target", "") or ""
        operation = target[len(TARGET_PREFIX):] if target.startswith(TARGET_PREFIX) else ""
        meter = server.meter
        request = parse_json(body) if operation else {}
        auth = [(n, v) for n, v in headers if n.lower() in AUTH_HEADERS]
        lock = meter.write_lock if operation in WRITES else None
        if lock:
            lock.acquire()
        try:
            prepared, problem = {}, ""
            try:
                prepared = meter.prepare(operation, request, auth)
            except (MeterError, KeyError, TypeError, ValueError, OSError, EOFError) as e:
                problem = f"not metered: {type(e).__name__}: {e}"
            try:
                status, rheaders, rhead, rbody = self.forward(server, method, head, raw_body)
            except (OSError, EOFError):
                self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return False
            # Settled before the answer is relayed, so that once a client has its answer the
            # meter has the request's record (the bench reads it right after an invocation).
            if operation:
                answer = parse_json(decoded_body(rheaders, rbody))
                if problem:
                    meter.errors.append(problem)
                    meter.keep(Record(0, operation, status, "not metered", note=problem))
                else:
                    meter.settle(operation, request, prepared, status, answer, auth)
            try:
                self.wfile.write(rhead + rbody)
                self.wfile.flush()
            except OSError:
                return False
        finally:
            if lock:
                lock.release()
        closing = (header(rheaders, "connection", "") or "").lower() == "close" or \
            (header(headers, "connection", "") or "").lower() == "close"
        if (header(rheaders, "connection", "") or "").lower() == "close":
            self.upstream_sock.close()
            self.upstream_sock, self.upstream_reader = None, None
        return not closing


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class MeterServer:
    """The proxy on 127.0.0.1 (port 0: any free one), in front of `upstream`
    (http://127.0.0.1:<port>, loopback only)."""

    def __init__(self, upstream: str, port: int = 0):
        url = urlparse(upstream)
        if url.scheme != "http" or url.hostname not in ("127.0.0.1", "localhost", "::1") or not url.port:
            raise ValueError(f"the upstream must be http://127.0.0.1:<port> (loopback), got {upstream}")
        self.upstream_address = ("127.0.0.1" if url.hostname == "localhost" else url.hostname, url.port)
        self.meter = Meter(Upstream(*self.upstream_address))
        self.server = _Server(("127.0.0.1", port), ProxyHandler)
        self.server.meter_server = self
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def snapshot(self, since: int = 0) -> dict:
        return self.meter.snapshot(since)

    def reset(self):
        self.meter.reset()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.meter.upstream.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--upstream", required=True, help="DynamoDB Local, http://127.0.0.1:<port>")
    parser.add_argument("--port", type=int, default=0, help="the proxy's port on 127.0.0.1 (0: any free one)")
    parser.add_argument("--port-file", help="write the port chosen here once listening")
    args = parser.parse_args()
    server = MeterServer(args.upstream, args.port)
    if args.port_file:
        with open(args.port_file, "w") as f:
            f.write(f"{server.port}\n")
    print(f"metering {server.url} -> http://{server.upstream_address[0]}:{server.upstream_address[1]}"
          f" (GET {server.url}/_meter)", flush=True)
    try:
        server.thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
