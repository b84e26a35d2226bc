"""A local stand-in for Lambda's SQS event source mapping, for scripts/run-local.sh: receives the
spool queue's messages and invokes the function each names (its `provider` attribute) with them
as an SQS event, through cargo lambda watch's Invoke API on 127.0.0.1; deletes what the answer
does not list in `batchItemFailures`, and lets the failures come back for another round.
Runs on the local SQS server's venv (.tools/aws-venv), which has boto3.

  sqs-feed.py <sqs endpoint> <queue url> <invoke port> [--follow]

Prints one line per message: the function, SQS's message id, and whether it left the queue.
Without --follow it stops when the queue is empty (at most 5 rounds of retries) and exits 1 when
messages are left; with --follow it keeps polling, once a second, until stopped.
"""

import json
import sys
import time
import urllib.request

import boto3

ROUNDS = 5


def lambda_record(message, queue_arn):
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            name: {"stringValue": value.get("StringValue"), "stringListValues": [],
                   "binaryListValues": [], "dataType": value.get("DataType", "String")}
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "us-east-1",
    }


def invoke(port, function, event):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/2015-03-31/functions/{function}/invocations",
        data=json.dumps(event).encode("utf-8"), method="POST",
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read().decode("utf-8"))


def feed_once(sqs, queue_url, queue_arn, port):
    """One pass over the visible messages: (messages left the queue, failed receipt handles)."""
    done, failed = 0, []
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60, WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return done, failed
        by_function = {}
        for message in messages:
            provider = message.get("MessageAttributes", {}).get("provider", {}).get("StringValue", "")
            by_function.setdefault(provider.replace("_", "-"), []).append(message)
        for function, batch in by_function.items():
            event = {"Records": [lambda_record(m, queue_arn) for m in batch]}
            try:
                answer = invoke(port, function, event)
                failures = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
            except Exception as err:  # the function is missing or failed: all come back
                print(f"  sqs → {function or '(no provider)'}: invoke failed: {err}")
                failures = {m["MessageId"] for m in batch}
            for message in batch:
                if message["MessageId"] in failures or "" in failures:
                    failed.append(message["ReceiptHandle"])
                    print(f"  sqs → {function}  {message['MessageId']}  batch item failure: stays in the queue")
                else:
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                    done += 1
                    print(f"  sqs → {function}  {message['MessageId']}  handled: left the queue")


def release(sqs, queue_url, handles):
    for handle in handles:
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0)


def main(endpoint, queue_url, port, follow):
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="local", aws_secret_access_key="local")
    queue_arn = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    if follow:
        while True:
            _, failed = feed_once(sqs, queue_url, queue_arn, port)
            time.sleep(1)
            release(sqs, queue_url, failed)
    for _ in range(ROUNDS):
        _, failed = feed_once(sqs, queue_url, queue_arn, port)
        if not failed:
            break
        release(sqs, queue_url, failed)
        time.sleep(0.5)
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    left = int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
    print(f"  queue: {left} message(s) left")
    return 0 if left == 0 else 1


if __name__ == "__main__":
    args = sys.argv[1:]
    follow = "--follow" in args
    args = [a for a in args if a != "--follow"]
    if len(args) != 3:
        sys.exit(__doc__)
    try:
        sys.exit(main(args[0], args[1], int(args[2]), follow))
    except KeyboardInterrupt:
        pass
