"""bench/meter.py: what DynamoDB bills, from AWS's published rules, with answers worked out by
hand in the comments (the rules and their pages are at the head of bench/meter.py). No
DynamoDB here: the metering runs against an in-memory table behind the proxy's own reads, and
the relay against a loopback echo server started by the test. Standard library only."""

import base64
import json
import socket
import sys
import threading
import unittest
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import meter  # noqa: E402
from meter import Index, TableSchema  # noqa: E402


def S(text):
    return {"S": text}


def N(text):
    return {"N": text}


MESSAGES = TableSchema("messages", ("pk", "sk"))


def item(pk="p", sk="s", **attributes):
    """An item of the messages table; pk "p" and sk "s" make (2 + 1) + (2 + 1) = 6 bytes."""
    return {"pk": S(pk), "sk": S(sk), **attributes}


def padded(total, pk="p", sk="s", **attributes):
    """An item of exactly `total` bytes: the key (6 bytes) and `attributes`, then `pad`
    (3 bytes of name) holding as many 'x' as are missing."""
    base = item(pk, sk, **attributes)
    missing = total - meter.item_size(base) - len("pad")
    assert missing >= 0
    base["pad"] = S("x" * missing)
    assert meter.item_size(base) == total
    return base


class Sizes(unittest.TestCase):
    def test_strings_are_their_utf8_bytes_plus_the_name(self):
        self.assertEqual(meter.item_size({"a": S("hello")}), 1 + 5)
        # é is 2 bytes in UTF-8, 😊 4: 1 + 4 + 2 = 7, and a name of "é" is 2 bytes.
        self.assertEqual(meter.item_size({"a": S("h😊é")}), 1 + 7)
        self.assertEqual(meter.item_size({"é": S("")}), 2)

    def test_numbers_are_a_byte_per_two_significant_digits_plus_one(self):
        self.assertEqual(meter.value_size(N("123")), 2 + 1)  # 3 digits: 2 bytes, + 1
        self.assertEqual(meter.value_size(N("12")), 1 + 1)
        self.assertEqual(meter.value_size(N("12300")), 2 + 1)  # trailing zeroes trimmed: 123
        self.assertEqual(meter.value_size(N("0.0045")), 1 + 1)  # leading zeroes trimmed: 45
        self.assertEqual(meter.value_size(N("-7")), 1 + 1)
        self.assertEqual(meter.value_size(N("0")), 1 + 1)
        self.assertEqual(meter.value_size(N("1767225601")), 5 + 1)  # 10 digits
        self.assertEqual(meter.value_size(N("1767225600")), 4 + 1)  # 8, once the zeroes go
        # 38 significant digits, DynamoDB's most: 19 bytes + 1.
        self.assertEqual(meter.value_size(N("1" * 38)), 19 + 1)
        with self.assertRaises(meter.MeterError):
            meter.value_size(N("twelve"))

    def test_binary_is_its_raw_length_not_the_base64(self):
        raw = bytes(range(10))
        encoded = base64.b64encode(raw).decode()
        self.assertEqual(len(encoded), 16)
        self.assertEqual(meter.item_size({"raw": {"B": encoded}}), 3 + 10)

    def test_booleans_and_nulls_are_one_byte(self):
        self.assertEqual(meter.item_size({"t": {"BOOL": True}, "z": {"NULL": True}}), (1 + 1) + (1 + 1))

    def test_lists_and_maps_add_three_bytes_and_one_per_element(self):
        # m: 1 (name) + 3 + element k (1 + name 1 + "v" 1) + element n (1 + name 1 + number 2) = 11
        self.assertEqual(meter.item_size({"m": {"M": {"k": S("v"), "n": N("1")}}}), 11)
        # l: 1 + 3 + (1 + "ab" 2) + (1 + false 1) = 9
        self.assertEqual(meter.item_size({"l": {"L": [S("ab"), {"BOOL": False}]}}), 9)
        self.assertEqual(meter.item_size({"e": {"L": []}, "f": {"M": {}}}), (1 + 3) + (1 + 3))
        # Nested: a list holding a map holding a list:
        # 1 + 3 + [1 + (3 + [1 + "x" 1 + (3 + [1 + 1])])] = 1 + 3 + 1 + 3 + 1 + 1 + 3 + 2 = 15
        nested = {"l": {"L": [{"M": {"x": {"L": [S("y")]}}}]}}
        self.assertEqual(meter.item_size(nested), 15)

    def test_sets_are_the_sum_of_their_elements(self):
        self.assertEqual(meter.item_size({"ss": {"SS": ["ab", "c"]}}), 2 + 3)
        self.assertEqual(meter.item_size({"ns": {"NS": ["1", "123"]}}), 2 + (2 + 3))
        self.assertEqual(meter.item_size({"bs": {"BS": [base64.b64encode(b"abcd").decode()]}}), 2 + 4)

    def test_storage_adds_a_hundred_bytes(self):
        self.assertEqual(meter.storage_bytes(item()), 6 + 100)


class Units(unittest.TestCase):
    def test_write_units_per_started_kilobyte_at_least_one(self):
        self.assertEqual(meter.write_units(0), 1)
        self.assertEqual(meter.write_units(1), 1)
        self.assertEqual(meter.write_units(1024), 1)
        self.assertEqual(meter.write_units(1025), 2)
        self.assertEqual(meter.write_units(1638), 2)  # the page's 1.6 KB: 2
        self.assertEqual(meter.write_units(2600), 3)

    def test_read_units_per_started_four_kilobytes(self):
        self.assertEqual(meter.read_units(3584, consistent=True), 1)  # 3.5 KB: 4 KB
        self.assertEqual(meter.read_units(3584, consistent=False), 0.5)
        self.assertEqual(meter.read_units(10 * 1024, consistent=True), 3)  # 10 KB: 12 KB
        self.assertEqual(meter.read_units(0, consistent=False), 0.5)  # a missing item
        self.assertEqual(meter.read_units(8 * 1024, consistent=True, transactional=True), 4)


class Writes(unittest.TestCase):
    def test_a_new_item(self):
        charge = meter.write_charge(MESSAGES, "put", None, padded(1024))
        self.assertEqual((charge.wru, charge.index_wru), (1, 0))
        self.assertEqual(meter.write_charge(MESSAGES, "put", None, padded(1025)).wru, 2)

    def test_a_put_that_replaces_a_larger_item_bills_the_larger(self):
        # 2,500 bytes replaced by 800: ceil(2500 / 1024) = 3, not 1.
        charge = meter.write_charge(MESSAGES, "put", padded(2500), padded(800))
        self.assertEqual(charge.wru, 3)
        self.assertEqual((charge.bytes_before, charge.bytes_after), (2500, 800))

    def test_an_update_bills_the_larger_of_before_and_after(self):
        # Growing a 900-byte item to 1,100 bytes: 2; a one-attribute change of a 3 KB item: 3.
        self.assertEqual(meter.write_charge(MESSAGES, "update", padded(900), padded(1100)).wru, 2)
        before = padded(3 * 1024, status=S("sent"))
        after = dict(before, status=S("read"))
        self.assertEqual(meter.write_charge(MESSAGES, "update", before, after).wru, 3)

    def test_a_delete_bills_the_deleted_item(self):
        self.assertEqual(meter.write_charge(MESSAGES, "delete", padded(5000), None).wru, 5)
        # Deleting nothing still bills the minimum.
        self.assertEqual(meter.write_charge(MESSAGES, "delete", None, None, key=item()).wru, 1)

    def test_a_transaction_of_two_small_items_bills_four(self):
        # Each item twice (prepare and commit): 2 × 1 + 2 × 1 = 4, where DynamoDB Local says 2.
        charges = [meter.write_charge(MESSAGES, "put", None, item(sk="MSG#1", text=S("hi")), transactional=True),
                   meter.write_charge(MESSAGES, "put", None, item(sk="ID#1"), transactional=True)]
        self.assertEqual(sum(c.wru for c in charges), 4)
        # A 2.5 KB message item and its id item: 2 × 3 + 2 × 1 = 8.
        charges = [meter.write_charge(MESSAGES, "put", None, padded(2500, sk="MSG#1"), transactional=True),
                   meter.write_charge(MESSAGES, "put", None, item(sk="ID#1"), transactional=True)]
        self.assertEqual(sum(c.wru for c in charges), 8)

    def test_a_failed_conditional_put(self):
        # The condition met a stored 1,500-byte item: ceil(1500 / 1024) = 2, whatever was sent.
        stored = padded(1500)
        charge = meter.failed_condition_charge(MESSAGES, "put", MESSAGES.key_of(stored), stored)
        self.assertEqual((charge.wru, charge.outcome), (2, "condition_failed"))
        # No item there (an update of a message not stored): 1.
        self.assertEqual(meter.failed_condition_charge(MESSAGES, "update", MESSAGES.key_of(stored), None).wru, 1)
        # Nothing is written, so no index is.
        indexed = TableSchema("t", ("pk", "sk"), (Index("all", "GSI", ("pk",), "ALL"),))
        self.assertEqual(meter.failed_condition_charge(indexed, "put", MESSAGES.key_of(stored), stored).index_wru, 0)

    def test_a_cancelled_transaction_bills_its_prepare_phase(self):
        # A redelivery meeting its own 2.5 KB message item and id item: the failed conditions
        # bill the stored items once, 3 + 1 = 4 (an estimate: AWS does not document this case).
        message, id_item = padded(2500, sk="MSG#1"), item(sk="ID#1")
        charges = [meter.cancelled_charge(MESSAGES, "put", MESSAGES.key_of(message), message, message,
                                          "ConditionalCheckFailed"),
                   meter.cancelled_charge(MESSAGES, "put", MESSAGES.key_of(id_item), id_item, id_item,
                                          "ConditionalCheckFailed")]
        self.assertEqual([c.wru for c in charges], [3, 1])
        self.assertTrue(all(c.outcome == "cancelled" for c in charges))
        # The other action of a cancelled transaction (its condition held): one write of it.
        new = padded(1500, sk="ID#2")
        self.assertEqual(meter.cancelled_charge(MESSAGES, "put", MESSAGES.key_of(new), None, new, "None").wru, 2)

    def test_a_condition_check_bills_a_transactional_write(self):
        self.assertEqual(meter.condition_check_charge(MESSAGES, MESSAGES.key_of(item()), padded(1500)).wru, 4)


STATUS_KEYS_ONLY = Index("by_status", "GSI", ("status", "sk"), "KEYS_ONLY")
STATUS_ALL = Index("by_status_all", "GSI", ("status", "sk"), "ALL")
STATUS_INCLUDE = Index("by_status_text", "GSI", ("status",), "INCLUDE", ("text",))


def indexed(*indexes):
    return TableSchema("messages", ("pk", "sk"), tuple(indexes))


class Indexes(unittest.TestCase):
    def test_entries_hold_the_keys_and_the_projection(self):
        table = indexed(STATUS_KEYS_ONLY, STATUS_ALL, STATUS_INCLUDE)
        it = item(status=S("open"), text=S("hello"), other=S("z"))
        self.assertEqual(meter.index_entry(table, STATUS_KEYS_ONLY, it),
                         {"pk": S("p"), "sk": S("s"), "status": S("open")})
        self.assertEqual(meter.index_entry(table, STATUS_ALL, it), it)
        self.assertEqual(meter.index_entry(table, STATUS_INCLUDE, it),
                         {"pk": S("p"), "sk": S("s"), "status": S("open"), "text": S("hello")})

    def test_a_sparse_index_holds_only_items_with_its_keys(self):
        table = indexed(STATUS_KEYS_ONLY)
        self.assertIsNone(meter.index_entry(table, STATUS_KEYS_ONLY, item(text=S("no status"))))
        # An index key must be a string, number or binary to be indexed.
        self.assertIsNone(meter.index_entry(table, STATUS_KEYS_ONLY, item(status={"BOOL": True})))
        # A put without the key writes the table only; an update adding it puts one entry;
        # one removing it deletes the entry.
        self.assertEqual(meter.write_charge(table, "put", None, item(text=S("t"))).index_wru, 0)
        added = meter.write_charge(table, "update", item(text=S("t")), item(text=S("t"), status=S("open")))
        self.assertEqual([(w.action, w.wru) for w in added.indexes], [("put", 1)])
        removed = meter.write_charge(table, "update", item(status=S("open")), item())
        self.assertEqual([(w.action, w.wru) for w in removed.indexes], [("delete", 1)])
        deleted = meter.write_charge(table, "delete", item(status=S("open")), None)
        self.assertEqual([(w.action, w.wru) for w in deleted.indexes], [("delete", 1)])

    def test_an_index_key_change_is_a_delete_and_a_put(self):
        table = indexed(STATUS_KEYS_ONLY)
        charge = meter.write_charge(table, "update", item(status=S("open")), item(status=S("closed")))
        # The table 1, the index: delete the "open" entry (1) and put the "closed" one (1).
        self.assertEqual([(w.action, w.wru) for w in charge.indexes], [("delete+put", 2)])
        self.assertEqual(charge.wru + charge.index_wru, 3)

    def test_a_large_entry_bills_by_its_size(self):
        table = indexed(STATUS_ALL)
        before, after = padded(1500, status=S("a")), padded(1500, status=S("b"))
        charge = meter.write_charge(table, "update", before, after)
        # Table ceil(1500/1024) = 2; the ALL entry is the whole item: delete 2 + put 2.
        self.assertEqual((charge.wru, charge.index_wru), (2, 4))

    def test_a_keys_only_index_is_not_touched_by_a_non_key_update(self):
        before = item(status=S("open"), text=S("hello"))
        after = item(status=S("open"), text=S("hello, world"))
        self.assertEqual(meter.write_charge(indexed(STATUS_KEYS_ONLY), "update", before, after).indexes, [])
        # An ALL index is: its entry holds the text, one update.
        charge = meter.write_charge(indexed(STATUS_ALL), "update", before, after)
        self.assertEqual([(w.action, w.wru) for w in charge.indexes], [("update", 1)])
        # An INCLUDE index only when an included attribute changes.
        include = indexed(STATUS_INCLUDE)
        self.assertEqual(len(meter.write_charge(include, "update", before, after).indexes), 1)
        other = dict(before, other=S("changed"))
        self.assertEqual(meter.write_charge(include, "update", before, other).indexes, [])

    def test_a_transaction_bills_its_index_writes_once(self):
        table = indexed(STATUS_KEYS_ONLY)
        charge = meter.write_charge(table, "put", None, item(status=S("open")), transactional=True)
        self.assertEqual((charge.wru, charge.index_wru), (2, 1))

    def test_the_schema_from_describe_table(self):
        description = {
            "TableName": "messages",
            "KeySchema": [{"AttributeName": "sk", "KeyType": "RANGE"},
                          {"AttributeName": "pk", "KeyType": "HASH"}],
            "GlobalSecondaryIndexes": [{"IndexName": "g", "KeySchema": [{"AttributeName": "a", "KeyType": "HASH"}],
                                        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["t"]}}],
            "LocalSecondaryIndexes": [{"IndexName": "l", "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "b", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        }
        schema = TableSchema.from_description(description)
        self.assertEqual(schema.keys, ("pk", "sk"))
        self.assertEqual(schema.indexes, (Index("g", "GSI", ("a",), "INCLUDE", ("t",)),
                                          Index("l", "LSI", ("pk", "b"), "KEYS_ONLY")))


class MemoryTable:
    """What the meter's own calls need of DynamoDB: DescribeTable and GetItem, in memory."""

    def __init__(self, schema: TableSchema, gsis=()):
        self.schema = schema
        self.gsis = gsis
        self.items: dict[str, dict] = {}
        self.calls: list[str] = []

    def key(self, key):
        return meter.canonical({k: key[k] for k in self.schema.keys})

    def call(self, operation, payload, auth):
        self.calls.append(operation)
        if operation == "DescribeTable":
            return 200, {"Table": {
                "TableName": self.schema.name,
                "KeySchema": [{"AttributeName": k, "KeyType": t} for k, t in zip(self.schema.keys, ("HASH", "RANGE"))],
                "GlobalSecondaryIndexes": [
                    {"IndexName": i.name, "KeySchema": [{"AttributeName": k, "KeyType": "HASH"} for k in i.keys],
                     "Projection": {"ProjectionType": i.projection}} for i in self.gsis]}}
        if operation == "GetItem":
            assert payload["ConsistentRead"] is True
            found = self.items.get(self.key(payload["Key"]))
            return 200, ({"Item": found} if found else {})
        raise AssertionError(operation)

    def close(self):
        pass


class Metering(unittest.TestCase):
    """Meter.prepare and Meter.settle around requests, the table in memory: what the proxy does
    before forwarding a write and after its answer."""

    def setUp(self):
        self.table = MemoryTable(MESSAGES)
        self.meter = meter.Meter(self.table)

    def write(self, operation, request, status=200, answer=None, apply=None):
        prepared = self.meter.prepare(operation, request, [])
        if apply:
            apply()
        return self.meter.settle(operation, request, prepared, status, answer or {}, [])

    def store(self, it):
        self.table.items[self.table.key(it)] = it

    def test_a_new_message_transaction_then_its_redelivery(self):
        message, id_item = padded(2500, sk="MSG#1"), item(sk="ID#1")
        request = {"TransactItems": [
            {"Put": {"TableName": "messages", "Item": message, "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"TableName": "messages", "Item": id_item, "ConditionExpression": "attribute_not_exists(pk)"}}],
            "ClientRequestToken": "t1"}
        record = self.write("TransactWriteItems", request,
                            apply=lambda: (self.store(message), self.store(id_item)))
        self.assertEqual(record.wru, 8)  # 2 × 3 + 2 × 1
        self.assertEqual(record.by_table()["messages"]["wru"], 8)
        # A redelivery: another token, both conditions fail, the transaction is cancelled.
        redelivery = dict(request, ClientRequestToken="t2")
        cancelled = {"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                     "CancellationReasons": [{"Code": "ConditionalCheckFailed"}, {"Code": "ConditionalCheckFailed"}]}
        record = self.write("TransactWriteItems", redelivery, status=400, answer=cancelled)
        self.assertEqual((record.outcome, record.wru), ("cancelled", 4))
        # The same request and token again within 10 minutes: a replay, billed as reads.
        record = self.write("TransactWriteItems", request)
        self.assertEqual((record.outcome, record.wru, record.rru), ("replayed", 0, 4.0))

    def test_a_conditional_put_and_its_failure(self):
        it = padded(2500)
        request = {"TableName": "messages", "Item": it, "ConditionExpression": "attribute_not_exists(pk)"}
        self.assertEqual(self.write("PutItem", request, apply=lambda: self.store(it)).wru, 3)
        failed = {"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"}
        record = self.write("PutItem", request, status=400, answer=failed)
        self.assertEqual((record.outcome, record.wru), ("condition_failed", 3))

    def test_an_update_is_read_back(self):
        before = padded(1000, status=S("sent"))
        self.store(before)
        after = dict(before, status=S("delivered"), updated_at=S("2026-01-01T00:00:00.000Z"))
        request = {"TableName": "messages", "Key": MESSAGES.key_of(before), "UpdateExpression": "SET ..."}
        record = self.write("UpdateItem", request, apply=lambda: self.store(after))
        # Before 1,000 bytes; after 1,000 + 5 ("delivered" for "sent") + 34 (updated_at): 2.
        self.assertEqual(meter.item_size(after), 1039)
        self.assertEqual((record.wru, record.items[0].bytes_after), (2, 1039))
        self.assertEqual(self.table.calls.count("GetItem"), 2, "before and after")

    def test_other_errors_bill_nothing(self):
        record = self.write("PutItem", {"TableName": "messages", "Item": item()}, status=400,
                            answer={"__type": "com.amazon.coral.validate#ValidationException"})
        self.assertEqual((record.wru, record.outcome), (0, "ValidationException"))

    def test_a_batch_write_skips_what_comes_back_unprocessed(self):
        a, b = padded(1500, sk="a"), padded(3000, sk="b")
        request = {"RequestItems": {"messages": [{"PutRequest": {"Item": a}}, {"PutRequest": {"Item": b}}]}}
        record = self.write("BatchWriteItem", request,
                            answer={"UnprocessedItems": {"messages": [{"PutRequest": {"Item": b}}]}})
        self.assertEqual(record.wru, 2)
        self.assertEqual([c.outcome for c in record.items], ["written", "unprocessed"])

    def test_reads(self):
        stored = padded(5000)
        self.store(stored)
        get = {"TableName": "messages", "Key": MESSAGES.key_of(stored)}
        record = self.meter.settle("GetItem", get, {}, 200, {"Item": stored}, [])
        self.assertEqual(record.rru, 1.0)  # 5,000 bytes: 8 KB, eventually consistent: 1
        record = self.meter.settle("GetItem", dict(get, ConsistentRead=True), {}, 200, {}, [])
        self.assertEqual(record.rru, 1.0)  # a miss, strongly consistent: the minimum
        query = {"TableName": "messages", "KeyConditionExpression": "pk = :p"}
        items = [padded(1500, sk=f"s{i}") for i in range(3)]
        record = self.meter.settle("Query", query, {}, 200, {"Items": items}, [])
        self.assertEqual(record.rru, 1.0)  # 4,500 bytes together: 8 KB, half

    def test_what_the_meter_cannot_price_is_an_error_not_a_zero(self):
        record = self.meter.settle("Scan", {"TableName": "messages"}, {}, 200, {"Items": []}, [])
        self.assertIn("not metered", record.note)
        self.assertEqual(len(self.meter.snapshot()["errors"]), 1)

    def test_the_snapshot_adds_up_per_table(self):
        self.write("PutItem", {"TableName": "messages", "Item": padded(2000)})
        self.write("PutItem", {"TableName": "messages", "Item": padded(100, sk="t")})
        snapshot = self.meter.snapshot()
        self.assertEqual(snapshot["totals"]["wru"], 3)
        self.assertEqual(snapshot["tables"]["messages"]["wru"], 3)
        self.assertEqual(len(self.meter.snapshot(since=1)["requests"]), 1)
        self.meter.reset()
        self.assertEqual(self.meter.snapshot()["totals"]["wru"], 0)


class Relay(unittest.TestCase):
    """The proxy forwards the request's bytes and the answer's bytes unchanged (against an
    upstream of the test's own on the loopback, which records what it got)."""

    def test_bytes_pass_through_and_the_endpoint_answers(self):
        received = []
        answer = (b"HTTP/1.1 200 OK\r\nX-Amzn-RequestId: abc\r\nContent-Type: application/x-amz-json-1.0\r\n"
                  b"Content-Length: 2\r\n\r\n{}")
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()

        def upstream():
            conn, _ = listener.accept()
            reader = conn.makefile("rb")
            for _ in range(2):
                head = meter.read_head(reader)
                _, headers = meter.parse_headers(head)
                raw, _ = meter.read_body(reader, headers)
                received.append(head + raw)
                conn.sendall(answer)
            conn.close()

        threading.Thread(target=upstream, daemon=True).start()
        proxy = meter.MeterServer(f"http://127.0.0.1:{listener.getsockname()[1]}")
        try:
            sent = []
            with socket.create_connection(("127.0.0.1", proxy.port)) as client:
                reader = client.makefile("rb")
                for body in (b'{"TableName":"t"}', b'{"ExclusiveStartTableName":"x"}'):
                    request = (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\n"
                               b"x-custom:   kept as is\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
                    sent.append(request)
                    client.sendall(request)
                    status, _, head, raw = meter.read_response(reader, "POST")
                    self.assertEqual(head + raw, answer)
            self.assertEqual(received, sent)
            with urllib.request.urlopen(proxy.url + "/_meter") as r:
                snapshot = json.load(r)
            self.assertEqual([q["operation"] for q in snapshot["requests"]], ["ListTables", "ListTables"])
            self.assertEqual(snapshot["totals"]["wru"], 0)
        finally:
            proxy.close()
            listener.close()

    def test_only_a_loopback_upstream(self):
        with self.assertRaises(ValueError):
            meter.MeterServer("http://192.0.2.1:8000")


if __name__ == "__main__":
    unittest.main()
