#!/usr/bin/env python3
"""The local bus for scripts/run-local.sh: moto's EventBridge with the README's first rule.

  events-local.py setup ENDPOINT BUS PATTERN_FILE
      creates the bus, a queue for the rule's events, the events' dead-letter queue and the
      rule (the pattern file's event pattern) targeting the queue; prints two lines: the
      rule's queue URL, the dead-letter queue URL
  events-local.py received ENDPOINT QUEUE_URL DYNAMODB_ENDPOINT TABLE [--check]
      takes every event from the queue and prints one line each (detail-type, conversation,
      message id); with --check, exits 1 unless the distinct events are exactly one
      Message Stored for each message item of TABLE that the README's first rule selects
      (inbound, channel whatsapp), and a redelivery carries the same event_id

Runs on .tools/aws-venv's python (boto3 is moto's dependency). Loopback endpoints only.
"""

import json
import sys

import boto3


def client(service, endpoint):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def setup(endpoint, bus, pattern_file):
    with open(pattern_file, encoding="utf-8") as f:
        pattern = json.load(f)
    events, sqs = client("events", endpoint), client("sqs", endpoint)
    events.create_event_bus(Name=bus)
    queue = sqs.create_queue(QueueName=f"{bus}-inbound-whatsapp")["QueueUrl"]
    dead_letters = sqs.create_queue(QueueName=f"{bus}-events-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="inbound-whatsapp", EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule="inbound-whatsapp", EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])
    print(queue)
    print(dead_letters)


def take(sqs, queue):
    bodies = []
    while True:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return bodies
        for message in got:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def selected_messages(dynamodb, table):
    """(provider, conversation_id, message_id) of every message item the first rule selects."""
    found = set()
    kwargs = {"TableName": table}
    while True:
        page = dynamodb.scan(**kwargs)
        for item in page.get("Items", []):
            text = lambda name: item.get(name, {}).get("S")  # noqa: E731
            if (text("sk") or "").startswith("MSG#") and text("direction") == "inbound" and text("channel") == "whatsapp":
                found.add((text("provider"), text("conversation_id"), text("message_id")))
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def received(endpoint, queue, dynamodb_endpoint, table, check):
    events = take(client("sqs", endpoint), queue)
    ids = {}
    for event in events:
        detail = event.get("detail", {})
        print(f"  {event.get('detail-type')}\t{detail.get('provider')}/{detail.get('conversation_id')}\t{detail.get('message_id')}")
        key = (event.get("detail-type"), detail.get("provider"), detail.get("conversation_id"), detail.get("message_id"))
        ids.setdefault(key, set()).add(detail.get("event_id"))
    print(f"  {len(events)} events, {len(ids)} distinct")
    if not check:
        return 0
    expected = {("Message Stored", *m) for m in selected_messages(client("dynamodb", dynamodb_endpoint), table)}
    problems = []
    if not expected:
        problems.append("the table holds no inbound WhatsApp message: nothing to check")
    if set(ids) != expected:
        problems.append(f"missing {sorted(map(str, expected - set(ids)))}, unexpected {sorted(map(str, set(ids) - expected))}")
    if any(len(v) != 1 for v in ids.values()):
        problems.append("a redelivered event has another event_id")
    for problem in problems:
        print(f"  ✗ {problem}", file=sys.stderr)
    return 1 if problems else 0


def main(argv):
    if len(argv) >= 4 and argv[0] == "setup":
        setup(*argv[1:4])
        return 0
    if len(argv) >= 5 and argv[0] == "received":
        return received(*argv[1:5], check="--check" in argv[5:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
