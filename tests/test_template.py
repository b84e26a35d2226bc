"""template.yaml against the contract (docs/CONTRACT.md): a resource for every function of the
workspace, routes, table key schema, least-privilege policies, secrets from Secrets Manager
only, logs with retention, each webhook function's spool queue and dead-letter queue, alarms;
and the media function's bucket, stream, event source mapping (its filter is `ingest-dev
media-filter`'s), dead-letter queue, policy and alarms. Run by scripts/test.sh with the project's tool venv (cfn-lint
provides the CloudFormation YAML reader), after it has built ingest-dev.

The functions come from the workspace (functions/<name>/) and the providers from `ingest-dev
providers --table` (the one registration list), so a new function or provider without its
template resource fails here."""

import json
import os
import re
import subprocess
import unittest
from pathlib import Path

from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parent.parent


def ingest_dev(*args):
    """What `ingest-dev <args>` prints."""
    built = ROOT / "target" / "debug" / "ingest-dev"
    command = [str(built)] if os.access(built, os.X_OK) else [
        "cargo", "run", "--quiet", "-p", "devtools", "--bin", "ingest-dev", "--"]
    return subprocess.run(command + list(args), cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout


def registered_providers():
    """(function, provider value, sends updates) of every registered provider."""
    out = ingest_dev("providers", "--table")
    rows = [line.split("\t") for line in out.splitlines() if line.strip()]
    return [(function, provider, updates == "updates") for function, provider, updates in rows]


PROVIDERS = registered_providers()
WORKSPACE_FUNCTIONS = {p.parent.name for p in (ROOT / "functions").glob("*/Cargo.toml")}
CONTRACT_ROUTES = {function: f"/webhooks/{function}" for function, _, _ in PROVIDERS}
# The functions that are not a provider's webhook: the media function (a stream consumer).
MEDIA_FUNCTION = "media"
OTHER_FUNCTIONS = WORKSPACE_FUNCTIONS - set(CONTRACT_ROUTES)
# The item operations each webhook function's code performs (shared/src/storage): transactions
# of Puts, GetItem for duplicates and update lookups, UpdateItem where the provider sends updates.
ALLOWED_ACTIONS = {
    function: {"dynamodb:PutItem", "dynamodb:GetItem"} | ({"dynamodb:UpdateItem"} if updates else set())
    for function, _, updates in PROVIDERS
}
# What a webhook function does with its own spool queue (shared/src/spool): send a body the table
# cannot take (row 7), and drain the queue through its SQS event source mapping.
SPOOL_ACTIONS = {"sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage",
                 "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"}
FOURTEEN_DAYS = 14 * 24 * 3600


def plain(node):
    """cfn-lint's nodes as plain JSON values."""
    return json.loads(json.dumps(node))


class TemplateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        template, errors = decode(str(ROOT / "template.yaml"))
        assert not errors, errors
        cls.t = plain(template)
        cls.resources = cls.t["Resources"]
        cls.functions = {
            r["Metadata"]["BuildProperties"]["Binary"]: (name, r)
            for name, r in cls.resources.items()
            if r["Type"] == "AWS::Serverless::Function"
        }

    def of_type(self, kind):
        return {n: r for n, r in self.resources.items() if r["Type"] == kind}

    def test_every_function_is_a_rust_function_built_with_cargo_lambda(self):
        self.assertEqual(set(self.functions), WORKSPACE_FUNCTIONS, "one resource per functions/<name>/")
        self.assertTrue(set(CONTRACT_ROUTES) <= WORKSPACE_FUNCTIONS, "a function per provider")
        self.assertEqual(OTHER_FUNCTIONS, {MEDIA_FUNCTION},
                         "a function that is not a provider's needs its own checks here")
        glob = self.t["Globals"]["Function"]
        self.assertEqual(glob["Runtime"], "provided.al2023")
        self.assertEqual(glob["Architectures"], [{"Ref": "Architecture"}])
        arch = self.t["Parameters"]["Architecture"]
        self.assertEqual(arch["Default"], "arm64")
        self.assertIn("x86_64", arch["AllowedValues"])
        self.assertLess(glob["Timeout"], 3, "answer before the providers' ~3 s deadline")
        for binary, (_, f) in self.functions.items():
            self.assertEqual(f["Metadata"]["BuildMethod"], "rust-cargolambda", binary)

    def test_http_api_has_exactly_the_contract_routes(self):
        apis = self.of_type("AWS::Serverless::HttpApi")
        self.assertEqual(len(apis), 1)
        api = next(iter(apis))
        routes = {}
        for binary, (_, f) in self.functions.items():
            if binary not in CONTRACT_ROUTES:
                self.assertNotIn("Events", f["Properties"], f"{binary} has no route")
                continue
            events = [e for e in f["Properties"]["Events"].values() if e["Type"] == "HttpApi"]
            self.assertEqual(len(events), 1, binary)
            event = events[0]
            self.assertEqual(event["Properties"]["ApiId"], {"Ref": api})
            self.assertEqual(event["Properties"]["Method"], "POST")
            routes[binary] = event["Properties"]["Path"]
        self.assertEqual(routes, CONTRACT_ROUTES)
        for binary, path in CONTRACT_ROUTES.items():
            outputs = [o["Value"] for o in self.t["Outputs"].values()]
            self.assertTrue(any(path in json.dumps(v) for v in outputs), f"no output URL for {binary}")

    def test_table_key_schema_and_protection(self):
        tables = self.of_type("AWS::DynamoDB::Table")
        self.assertEqual(len(tables), 1)
        table = next(iter(tables.values()))
        props = table["Properties"]
        self.assertEqual(
            props["KeySchema"],
            [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        )
        definition = json.loads(ingest_dev("table-definition"))
        self.assertEqual(props["KeySchema"], definition["KeySchema"])
        self.assertEqual(
            sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"]),
            sorted(definition["AttributeDefinitions"], key=lambda a: a["AttributeName"]),
            "the template's attributes are the code's (ingest-dev table-definition)",
        )
        self.assertEqual(props["GlobalSecondaryIndexes"], definition["GlobalSecondaryIndexes"],
                         "the template's indexes are the code's (ingest-dev table-definition)")
        self.assertEqual(props["StreamSpecification"], definition["StreamSpecification"])
        self.assertEqual(props["BillingMode"], "PAY_PER_REQUEST")
        self.assertEqual(props["TimeToLiveSpecification"], {"AttributeName": "expires_at", "Enabled": True})
        self.assertTrue(props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"])
        self.assertEqual(table["DeletionPolicy"], "Retain")
        self.assertEqual(table["UpdateReplacePolicy"], "Retain")

    def spool_queue_of(self, binary):
        """The logical id of the queue a function's SPOOL_QUEUE_URL names."""
        _, f = self.functions[binary]
        url = f["Properties"]["Environment"]["Variables"].get("SPOOL_QUEUE_URL")
        self.assertIsInstance(url, dict, f"{binary}: SPOOL_QUEUE_URL is not a reference to its queue")
        return url["Ref"]

    def test_least_privilege(self):
        table = next(iter(self.of_type("AWS::DynamoDB::Table")))
        for binary, (_, f) in self.functions.items():
            if binary not in CONTRACT_ROUTES:
                continue
            policies = f["Properties"]["Policies"]
            table_actions, queue_actions = set(), set()
            for policy in policies:
                self.assertIsInstance(policy, dict, f"{binary}: no SAM policy templates (e.g. DynamoDBCrudPolicy)")
                self.assertNotIn("DynamoDBCrudPolicy", json.dumps(policy))
                for statement in policy["Statement"]:
                    self.assertEqual(statement["Effect"], "Allow")
                    stmt_actions = statement["Action"]
                    stmt_actions = [stmt_actions] if isinstance(stmt_actions, str) else stmt_actions
                    for action in stmt_actions:
                        self.assertNotIn("*", action, binary)
                    if any(action.startswith("sqs:") for action in stmt_actions):
                        # Its own spool queue, and nobody else's.
                        self.assertIn(binary, CONTRACT_ROUTES, f"{binary}: only webhook functions spool")
                        queue = self.spool_queue_of(binary)
                        self.assertEqual(statement["Resource"], {"Fn::GetAtt": [queue, "Arn"]}, binary)
                        queue_actions |= set(stmt_actions)
                        continue
                    table_actions |= set(stmt_actions)
                    self.assertEqual(statement["Resource"], {"Fn::GetAtt": [table, "Arn"]}, binary)
            self.assertEqual(table_actions, ALLOWED_ACTIONS[binary], binary)
            if binary in CONTRACT_ROUTES:
                self.assertEqual(queue_actions, SPOOL_ACTIONS, binary)

    def test_each_webhook_function_has_its_own_spool_and_dead_letter_queue(self):
        queues = self.of_type("AWS::SQS::Queue")
        glob = self.t["Globals"]["Function"]
        max_receives = {"Ref": "SpoolMaxReceives"}
        self.assertEqual(glob["Environment"]["Variables"]["SPOOL_MAX_RECEIVES"], max_receives)
        self.assertEqual(self.t["Parameters"]["SpoolMaxReceives"]["Default"], 5)
        seen = set()
        for binary in CONTRACT_ROUTES:
            _, f = self.functions[binary]
            queue = self.spool_queue_of(binary)
            self.assertIn(queue, queues, binary)
            props = queues[queue]["Properties"]
            redrive = props["RedrivePolicy"]
            self.assertEqual(redrive["maxReceiveCount"], max_receives, f"{binary}: matches SPOOL_MAX_RECEIVES")
            dlq = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
            self.assertIn(dlq, queues, binary)
            for name in (queue, dlq):
                p = queues[name]["Properties"]
                self.assertTrue(p.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in p, f"{name}: encrypted")
                self.assertEqual(p["MessageRetentionPeriod"], FOURTEEN_DAYS, name)
                self.assertNotIn(name, seen, f"{name} serves more than one function")
                seen.add(name)
            self.assertGreaterEqual(props["VisibilityTimeout"], glob["Timeout"], f"{queue}: above the function's timeout")
            sqs = [e for e in f["Properties"]["Events"].values() if e["Type"] == "SQS"]
            self.assertEqual(len(sqs), 1, f"{binary}: one SQS event, from its spool queue")
            self.assertEqual(sqs[0]["Properties"]["Queue"], {"Fn::GetAtt": [queue, "Arn"]}, binary)
            self.assertEqual(sqs[0]["Properties"]["FunctionResponseTypes"], ["ReportBatchItemFailures"], binary)
            self.assertLessEqual(sqs[0]["Properties"].get("BatchSize", 10), 10, binary)
            outputs = json.dumps(self.t["Outputs"])
            self.assertIn(json.dumps({"Ref": dlq}), outputs, f"{binary}: its dead-letter queue's URL is an output")

    def test_spool_alarms_cover_every_queue(self):
        dead = json.dumps(self.resources["SpoolDeadLetterAlarm"])
        age = json.dumps(self.resources["SpoolAgeAlarm"])
        self.assertIn('"MetricName": "ApproximateNumberOfMessagesVisible"', dead)
        self.assertIn('"MetricName": "ApproximateAgeOfOldestMessage"', age)
        queues = self.of_type("AWS::SQS::Queue")
        for binary in CONTRACT_ROUTES:
            queue = self.spool_queue_of(binary)
            dlq = queues[queue]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
            self.assertIn(json.dumps({"Fn::GetAtt": [dlq, "QueueName"]}), dead, f"SpoolDeadLetterAlarm leaves out {binary}")
            self.assertIn(json.dumps({"Fn::GetAtt": [queue, "QueueName"]}), age, f"SpoolAgeAlarm leaves out {binary}")

    def test_secrets_come_from_secrets_manager_only(self):
        # Every secret a function reads is one of local.env's (its local development value),
        # and in AWS it comes from the secret, never typed into the template.
        local = dict(line.split("=", 1) for line in (ROOT / "local.env").read_text().splitlines()
                     if "=" in line and not line.lstrip().startswith("#"))
        secret_vars = {name for name in local
                       if re.search(r"(SECRET|TOKEN|KEY)$", name) and not name.startswith("AWS_")}
        self.assertTrue({"TIKTOK_SHOP_APP_SECRET", "CALLBELL_WEBHOOK_SECRET"} <= secret_vars)
        seen = set()
        for binary, (_, f) in self.functions.items():
            for name, value in f["Properties"].get("Environment", {}).get("Variables", {}).items():
                if name in secret_vars:
                    seen.add(name)
                    text = json.dumps(value)
                    self.assertRegex(text, r"\{\{resolve:secretsmanager:\$\{WebhookSecretName\}:SecretString:" + name + r"\}\}")
        self.assertEqual(seen, secret_vars, "every local secret is given to its function from the secret")
        # No parameter carries a secret value, and no literal secret is anywhere in the file.
        for name, parameter in self.t["Parameters"].items():
            self.assertNotIn("NoEcho", parameter, f"{name}: secrets are not parameters")
        source = (ROOT / "template.yaml").read_text()
        self.assertIsNone(re.search(r"whsec_[A-Za-z0-9]", source), "a literal Callbell secret")

    def test_log_groups_with_retention(self):
        groups = self.of_type("AWS::Logs::LogGroup")
        for binary, (_, f) in self.functions.items():
            group = f["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
            self.assertIn(group, groups, binary)
            self.assertEqual(groups[group]["Properties"]["RetentionInDays"], {"Ref": "LogRetentionDays"})
            self.assertEqual(f["Properties"]["LoggingConfig"]["LogFormat"], "JSON")

    def test_alarms_for_5xx_quarantine_and_throttles(self):
        alarms = json.dumps(self.of_type("AWS::CloudWatch::Alarm"))
        quarantine = json.dumps(self.resources["QuarantineAlarm"])
        for function in CONTRACT_ROUTES:
            self.assertIn(f'"Value": "{function}"', quarantine, f"QuarantineAlarm leaves out {function}")
        self.assertIn('"MetricName": "5xx"', alarms)
        self.assertIn('"MetricName": "Quarantined"', alarms)
        self.assertIn('"MetricName": "WriteThrottleEvents"', alarms)
        self.assertIn('"MetricName": "ReadThrottleEvents"', alarms)


    # The media function.

    def media(self):
        return self.functions[MEDIA_FUNCTION][1]

    def test_media_function_settings(self):
        f = self.media()["Properties"]
        self.assertGreaterEqual(f["Timeout"], 60, "time to copy a large file")
        variables = f["Environment"]["Variables"]
        bucket = next(iter(self.of_type("AWS::S3::Bucket")))
        self.assertEqual(variables["MEDIA_BUCKET"], {"Ref": bucket})
        for name in ("MEDIA_CHANNELS", "MEDIA_MAX_BYTES", "MEDIA_ALLOW_HOSTS"):
            self.assertIn(name, variables)
        self.assertEqual(self.t["Parameters"]["MediaMaxBytes"]["Default"], 104857600)
        self.assertEqual(self.t["Parameters"]["MediaChannels"]["Default"], "*")
        # The local-only settings are never deployed.
        source = (ROOT / "template.yaml").read_text()
        self.assertNotIn("MEDIA_ALLOW_PRIVATE_NETWORKS", source)
        self.assertNotIn("MEDIA_CONNECT_TO", source)

    def test_media_bucket_is_private_encrypted_and_kept(self):
        buckets = self.of_type("AWS::S3::Bucket")
        self.assertEqual(len(buckets), 1)
        name, bucket = next(iter(buckets.items()))
        self.assertEqual(bucket["DeletionPolicy"], "Retain")
        self.assertEqual(bucket["UpdateReplacePolicy"], "Retain")
        props = bucket["Properties"]
        sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        self.assertIn(sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"], ("AES256", "aws:kms"))
        self.assertEqual(props["PublicAccessBlockConfiguration"], {
            "BlockPublicAcls": True, "BlockPublicPolicy": True,
            "IgnorePublicAcls": True, "RestrictPublicBuckets": True})
        rules = props["LifecycleConfiguration"]["Rules"]
        self.assertTrue(any("AbortIncompleteMultipartUpload" in r for r in rules))
        outputs = json.dumps(self.t["Outputs"])
        self.assertIn(json.dumps({"Ref": name}), outputs, "an output names the bucket")

    def test_table_stream_feeds_the_media_function(self):
        table_name, table = next(iter(self.of_type("AWS::DynamoDB::Table").items()))
        self.assertEqual(table["Properties"]["StreamSpecification"], {"StreamViewType": "NEW_AND_OLD_IMAGES"})
        mappings = self.of_type("AWS::Lambda::EventSourceMapping")
        self.assertEqual(len(mappings), 1)
        m = next(iter(mappings.values()))["Properties"]
        self.assertEqual(m["FunctionName"], {"Ref": self.functions[MEDIA_FUNCTION][0]})
        self.assertEqual(m["EventSourceArn"], {"Fn::GetAtt": [table_name, "StreamArn"]})
        self.assertEqual(m["FunctionResponseTypes"], ["ReportBatchItemFailures"])
        self.assertTrue(m["BisectBatchOnFunctionError"])
        self.assertTrue(1 <= m["MaximumRetryAttempts"] <= 10)
        queue = next(iter(self.of_type("AWS::SQS::Queue")))
        self.assertEqual(m["DestinationConfig"]["OnFailure"]["Destination"],
                         {"Fn::GetAtt": [queue, "Arn"]})
        filters = m["FilterCriteria"]["Filters"]
        self.assertEqual(len(filters), 1)
        self.assertEqual(json.loads(filters[0]["Pattern"]), json.loads(ingest_dev("media-filter")),
                         "the template's filter is the code's (ingest-dev media-filter)")
        # No SAM event source: it would attach AWSLambdaDynamoDBExecutionRole (stream actions on *).
        self.assertNotIn("Events", self.media()["Properties"])

    def test_media_least_privilege(self):
        table = next(iter(self.of_type("AWS::DynamoDB::Table")))
        bucket = next(iter(self.of_type("AWS::S3::Bucket")))
        queue = next(iter(self.of_type("AWS::SQS::Queue")))
        granted = set()
        for policy in self.media()["Properties"]["Policies"]:
            self.assertIsInstance(policy, dict, "no SAM policy templates")
            for statement in policy["Statement"]:
                self.assertEqual(statement["Effect"], "Allow")
                actions = statement["Action"]
                actions = [actions] if isinstance(actions, str) else actions
                for action in actions:
                    self.assertNotIn("*", action)
                    granted.add((action, json.dumps(statement["Resource"], sort_keys=True)))
        res = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
        prefix = res({"Fn::Sub": "${" + bucket + ".Arn}/media/*"})
        stream = res({"Fn::GetAtt": [table, "StreamArn"]})
        self.assertEqual(granted, {
            ("s3:PutObject", prefix),
            ("s3:AbortMultipartUpload", prefix),
            ("dynamodb:GetItem", res({"Fn::GetAtt": [table, "Arn"]})),
            ("dynamodb:UpdateItem", res({"Fn::GetAtt": [table, "Arn"]})),
            ("dynamodb:DescribeStream", stream),
            ("dynamodb:GetRecords", stream),
            ("dynamodb:GetShardIterator", stream),
            ("dynamodb:ListStreams", stream),
            ("sqs:SendMessage", res({"Fn::GetAtt": [queue, "Arn"]})),
        })

    def test_media_alarms(self):
        alarms = self.of_type("AWS::CloudWatch::Alarm")
        queue = next(iter(self.of_type("AWS::SQS::Queue")))
        function = self.functions[MEDIA_FUNCTION][0]
        dlq = [a for a in alarms.values()
               if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"]
        self.assertEqual(len(dlq), 1)
        self.assertEqual(dlq[0]["Properties"]["Dimensions"][0]["Value"],
                         {"Fn::GetAtt": [queue, "QueueName"]})
        errors = [a for a in alarms.values() if a["Properties"].get("MetricName") == "Errors"
                  and a["Properties"]["Dimensions"][0]["Value"] == {"Ref": function}]
        self.assertEqual(len(errors), 1)

    def test_retention_days_reaches_the_webhook_functions_and_the_media_bucket(self):
        parameter = self.t["Parameters"]["RetentionDays"]
        self.assertEqual((parameter["Type"], parameter["Default"]), ("Number", 0),
                         "unset by default: everything is kept")
        self.assertEqual(self.t["Conditions"]["HasRetention"],
                         {"Fn::Not": [{"Fn::Equals": [{"Ref": "RetentionDays"}, 0]}]})
        env = self.t["Globals"]["Function"]["Environment"]["Variables"]
        # Blank is unset in the functions' configuration (shared/src/config.rs).
        self.assertEqual(env["RETENTION_DAYS"],
                         {"Fn::If": ["HasRetention", {"Ref": "RetentionDays"}, ""]})
        bucket = next(iter(self.of_type("AWS::S3::Bucket").values()))
        rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
        expiring = [r for r in rules if isinstance(r, dict) and "Fn::If" in r]
        self.assertEqual(len(expiring), 1, "one conditional rule expires the copies")
        condition, rule, otherwise = expiring[0]["Fn::If"]
        self.assertEqual(condition, "HasRetention")
        self.assertEqual(otherwise, {"Ref": "AWS::NoValue"})
        self.assertEqual(rule["Status"], "Enabled")
        self.assertEqual(rule["Prefix"], "media/")
        self.assertEqual(rule["ExpirationInDays"], {"Ref": "RetentionDays"})
        table = next(iter(self.of_type("AWS::DynamoDB::Table").values()))
        ttl = table["Properties"]["TimeToLiveSpecification"]
        self.assertEqual(ttl, {"AttributeName": "expires_at", "Enabled": True})

    def test_the_erase_policy_allows_exactly_the_calls_erase_makes(self):
        policies = self.of_type("AWS::IAM::ManagedPolicy")
        self.assertIn("ErasePolicy", policies)
        statements = policies["ErasePolicy"]["Properties"]["PolicyDocument"]["Statement"]
        granted = set()
        for statement in statements:
            self.assertEqual(statement["Effect"], "Allow")
            actions = statement["Action"]
            for action in [actions] if isinstance(actions, str) else actions:
                self.assertNotIn("*", action)
                granted.add(action)
        # The SDK calls in shared/src/erase.rs, as IAM names them.
        source = (ROOT / "shared" / "src" / "erase.rs").read_text()
        iam = {"query": "dynamodb:Query", "get_item": "dynamodb:GetItem",
               "batch_write_item": "dynamodb:BatchWriteItem", "delete_item": "dynamodb:DeleteItem",
               "list_objects_v2": "s3:ListBucket", "delete_objects": "s3:DeleteObject",
               "delete_object": "s3:DeleteObject", "scan": "dynamodb:Scan",
               "put_item": "dynamodb:PutItem", "update_item": "dynamodb:UpdateItem",
               "get_object": "s3:GetObject"}
        called = {iam[call] for call in re.findall(r"\.(\w+)\(\)", source) if call in iam}
        self.assertTrue(called, "erase.rs makes SDK calls")
        self.assertNotIn("dynamodb:Scan", called, "erase finds conversations without a Scan")
        self.assertEqual(granted, called, "the policy grants what erase calls, nothing more")
        outputs = self.t["Outputs"]
        self.assertEqual(outputs["ErasePolicyArn"]["Value"], {"Ref": "ErasePolicy"})


if __name__ == "__main__":
    unittest.main()
