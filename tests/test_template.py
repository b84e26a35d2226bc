"""template.yaml against the contract (docs/CONTRACT.md): a resource for every function of the
workspace, routes, table key schema, least-privilege policies, secrets from Secrets Manager
only, logs with retention, each webhook function's spool queue and dead-letter queue, alarms;
and the media function's bucket, stream, event source mapping (its filter is `ingest-dev
media-filter`'s), dead-letter queue, policy and alarms; the projector's mapping (its filter is
`ingest-dev projector-filter`'s), dead-letter queue, policy and alarms. Run by scripts/test.sh with the project's tool venv (cfn-lint
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
    """(function, provider value, sends updates, allow-list setting or None) of every registered
    provider."""
    out = ingest_dev("providers", "--table")
    rows = [line.split("\t") for line in out.splitlines() if line.strip()]
    return [(function, provider, updates == "updates", None if allow == "-" else allow)
            for function, provider, updates, allow in rows]


PROVIDERS = registered_providers()
WORKSPACE_FUNCTIONS = {p.parent.name for p in (ROOT / "functions").glob("*/Cargo.toml")}
CONTRACT_ROUTES = {function: f"/webhooks/{function}" for function, _, _, _ in PROVIDERS}
# The functions whose provider has an allow-list of accounts (PARTOO_ORG_IDS, TIKTOK_SHOP_IDS).
ALLOW_LISTS = {function: allow for function, _, _, allow in PROVIDERS if allow}
# The functions that are not a provider's webhook: the media function and the projector (the
# stream's consumers) and the inbox (the read API).
MEDIA_FUNCTION = "media"
PROJECTOR_FUNCTION = "projector"
INBOX_FUNCTION = "inbox"
# The read API's routes (docs/CONTRACT.md, "The read API (3)").
INBOX_ROUTES = {"/conversations", "/conversations/{provider}/{conversation_id}",
                "/conversations/{provider}/{conversation_id}/messages", "/customers"}
OTHER_FUNCTIONS = WORKSPACE_FUNCTIONS - set(CONTRACT_ROUTES)
# The item operations each webhook function's code performs (shared/src/storage): transactions
# of Puts, GetItem for duplicates and update lookups, UpdateItem where the provider sends updates.
ALLOWED_ACTIONS = {
    function: {"dynamodb:PutItem", "dynamodb:GetItem"} | ({"dynamodb:UpdateItem"} if updates else set())
    for function, _, updates, _ in PROVIDERS
}
# What a webhook function does with its own spool queue (shared/src/spool): send a body the table
# cannot take (row 7), and drain the queue through its SQS event source mapping.
SPOOL_ACTIONS = {"sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage",
                 "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"}
FOURTEEN_DAYS = 14 * 24 * 3600


# The ARN of the bus the projector publishes on: the stack's, or the one EventBusName names.
EVENT_BUS_ARN = {"Fn::If": [
    "CreatesEventBus", {"Fn::GetAtt": ["MessagesEventBus", "Arn"]},
    {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}"}]}


def stream_record(name, keys, old, new):
    """A DynamoDB stream record as Lambda's filter sees it."""
    dynamodb = {"Keys": keys, "SequenceNumber": "1", "StreamViewType": "NEW_AND_OLD_IMAGES"}
    if old is not None:
        dynamodb["OldImage"] = old
    if new is not None:
        dynamodb["NewImage"] = new
    return {"eventName": name, "eventSource": "aws:dynamodb", "dynamodb": dynamodb}


def pattern_matches(pattern, event):
    """Whether an event source mapping's filter pattern matches a record: the subset of the
    pattern syntax our filters use (nested objects, lists of values, prefix)."""
    if isinstance(pattern, dict):
        return isinstance(event, dict) and all(
            key in event and pattern_matches(value, event[key]) for key, value in pattern.items())
    for option in pattern:
        if isinstance(option, dict):
            (operator, operand), = option.items()
            if operator != "prefix":
                raise ValueError(f"filter operator {operator} is not modelled here")
            if isinstance(event, str) and event.startswith(operand):
                return True
        elif option == event:
            return True
    return False


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
        self.assertEqual(OTHER_FUNCTIONS, {MEDIA_FUNCTION, PROJECTOR_FUNCTION, INBOX_FUNCTION},
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
                       if re.search(r"(SECRET|TOKEN|KEY|APPS)$", name) and not name.startswith("AWS_")}
        self.assertTrue({"TIKTOK_SHOP_APP_SECRET", "TIKTOK_SHOP_APPS", "CALLBELL_WEBHOOK_SECRET"} <= secret_vars)
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

    def test_secret_keys_are_referenced_only_as_their_parameters_require(self):
        # A dynamic reference to a key the secret lacks fails the deploy: each secret key is
        # referenced under the condition of the parameter that says it is in the secret.
        conditions = self.t["Conditions"]
        expected = {
            "tiktok-shop": {"TIKTOK_SHOP_APP_KEY": ("TikTokShopAuthentication", "apps"),
                            "TIKTOK_SHOP_APP_SECRET": ("TikTokShopAuthentication", "apps"),
                            "TIKTOK_SHOP_APPS": ("TikTokShopAuthentication", "app")},
            "callbell": {"CALLBELL_WEBHOOK_SECRET": ("CallbellAuthentication", "token"),
                         "CALLBELL_URL_TOKEN": ("CallbellAuthentication", "signature")},
        }
        for binary, variables in expected.items():
            env = self.functions[binary][1]["Properties"]["Environment"]["Variables"]
            for name, (parameter, without) in variables.items():
                condition, when, otherwise = env[name]["Fn::If"]
                self.assertIn(name, json.dumps(when), f"{binary}: {name}")
                self.assertEqual(otherwise, {"Ref": "AWS::NoValue"}, f"{binary}: {name}")
                # The condition: the parameter is anything but the value that leaves the key out.
                self.assertEqual(conditions[condition],
                                 {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, without]}]},
                                 f"{binary}: {name}")
                self.assertIn(without, self.t["Parameters"][parameter]["AllowedValues"])
        self.assertEqual(self.t["Parameters"]["TikTokShopAuthentication"]["Default"], "app",
                         "an existing stack's secret (key and secret) keeps working")

    def test_allow_lists_are_parameters_with_an_alarm(self):
        self.assertEqual(set(ALLOW_LISTS), {"tiktok-shop", "partoo"})
        alarm = json.dumps(self.resources["ForeignAccountAlarm"])
        self.assertIn('"MetricName": "ForeignAccount"', alarm)
        self.assertIn('"Namespace": "MessageIngest"', alarm)
        for binary, setting in ALLOW_LISTS.items():
            env = self.functions[binary][1]["Properties"]["Environment"]["Variables"]
            reference = env.get(setting)
            self.assertIsInstance(reference, dict, f"{binary}: {setting} comes from a parameter")
            parameter = self.t["Parameters"][reference["Ref"]]
            self.assertEqual(parameter["Type"], "String")
            self.assertEqual(parameter["Default"], "", f"{setting}: unset by default (every account)")
            self.assertNotIn("resolve:secretsmanager", json.dumps(reference), "not a secret")
            self.assertIn(f'"Value": "{binary}"', alarm, f"ForeignAccountAlarm leaves out {binary}")
        # No function reads another provider's allow-list.
        for binary, (_, f) in self.functions.items():
            variables = f["Properties"].get("Environment", {}).get("Variables", {})
            for other, setting in ALLOW_LISTS.items():
                if other != binary:
                    self.assertNotIn(setting, variables, binary)

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
        m = self.mapping_of(MEDIA_FUNCTION)
        self.assertEqual(m["EventSourceArn"], {"Fn::GetAtt": [table_name, "StreamArn"]})
        self.assertEqual(m["FunctionResponseTypes"], ["ReportBatchItemFailures"])
        self.assertTrue(m["BisectBatchOnFunctionError"])
        self.assertTrue(1 <= m["MaximumRetryAttempts"] <= 10)
        queue = "MediaDeadLetterQueue"
        self.assertEqual(m["DestinationConfig"]["OnFailure"]["Destination"],
                         {"Fn::GetAtt": [queue, "Arn"]})
        filters = m["FilterCriteria"]["Filters"]
        self.assertEqual(len(filters), 1)
        self.assertEqual(json.loads(filters[0]["Pattern"]), json.loads(ingest_dev("media-filter")),
                         "the template's filter is the code's (ingest-dev media-filter)")
        # No SAM event source: it would attach AWSLambdaDynamoDBExecutionRole (stream actions on *).
        self.assertNotIn("Events", self.media()["Properties"])

    def mapping_of(self, binary):
        """The one event source mapping that invokes a function: its properties."""
        function = self.functions[binary][0]
        mappings = [m["Properties"] for m in self.of_type("AWS::Lambda::EventSourceMapping").values()
                    if m["Properties"]["FunctionName"] == {"Ref": function}]
        self.assertEqual(len(mappings), 1, binary)
        return mappings[0]

    def test_the_stream_has_two_readers_each_with_its_own_dead_letter_queue(self):
        mappings = self.of_type("AWS::Lambda::EventSourceMapping").values()
        readers = {m["Properties"]["FunctionName"]["Ref"] for m in mappings}
        self.assertEqual(readers, {self.functions[b][0] for b in (MEDIA_FUNCTION, PROJECTOR_FUNCTION)})
        self.assertNotEqual(self.mapping_of(MEDIA_FUNCTION)["DestinationConfig"],
                            self.mapping_of(PROJECTOR_FUNCTION)["DestinationConfig"])

    def test_media_least_privilege(self):
        table = next(iter(self.of_type("AWS::DynamoDB::Table")))
        bucket = next(iter(self.of_type("AWS::S3::Bucket")))
        queue = "MediaDeadLetterQueue"
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
        self.assert_stream_reader_alarms(MEDIA_FUNCTION, "MediaDeadLetterQueue")

    def assert_stream_reader_alarms(self, binary, queue):
        """An alarm on the function's dead-letter queue, and one on its failed batches."""
        alarms = self.of_type("AWS::CloudWatch::Alarm")
        function = self.functions[binary][0]
        dlq = [a for a in alarms.values()
               if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
               and a["Properties"]["Dimensions"][0]["Value"] == {"Fn::GetAtt": [queue, "QueueName"]}]
        self.assertEqual(len(dlq), 1, binary)
        self.assertEqual(dlq[0]["Properties"]["Threshold"], 1)
        errors = [a for a in alarms.values() if a["Properties"].get("MetricName") == "Errors"
                  and a["Properties"]["Dimensions"][0]["Value"] == {"Ref": function}]
        self.assertEqual(len(errors), 1, binary)

    # The projector (the read side's summaries from the stream).

    def projector(self):
        return self.functions[PROJECTOR_FUNCTION][1]

    def test_table_stream_feeds_the_projector(self):
        table = next(iter(self.of_type("AWS::DynamoDB::Table")))
        m = self.mapping_of(PROJECTOR_FUNCTION)
        self.assertEqual(m["EventSourceArn"], {"Fn::GetAtt": [table, "StreamArn"]})
        # Large batches coalesce a conversation's burst into one summary write; a second's
        # window is how far the list may lag behind.
        self.assertEqual(m["BatchSize"], 100)
        self.assertEqual(m["MaximumBatchingWindowInSeconds"], 1)
        self.assertEqual(m["FunctionResponseTypes"], ["ReportBatchItemFailures"])
        self.assertTrue(m["BisectBatchOnFunctionError"])
        self.assertTrue(1 <= m["MaximumRetryAttempts"] <= 10)
        self.assertEqual(m["DestinationConfig"]["OnFailure"]["Destination"],
                         {"Fn::GetAtt": ["ProjectorDeadLetterQueue", "Arn"]})
        queue = self.resources["ProjectorDeadLetterQueue"]["Properties"]
        self.assertEqual(queue["MessageRetentionPeriod"], FOURTEEN_DAYS)
        self.assertTrue(queue["SqsManagedSseEnabled"])
        filters = m["FilterCriteria"]["Filters"]
        self.assertEqual(len(filters), 1)
        pattern = json.loads(filters[0]["Pattern"])
        self.assertEqual(pattern, json.loads(ingest_dev("projector-filter")),
                         "the template's filter is the code's (ingest-dev projector-filter)")
        self.assertIn("Keys", pattern["dynamodb"], "by the keys: removals have no new image")
        self.assertNotIn("Events", self.projector()["Properties"])
        # ARM or x86 as the stack's Architecture says, as every function (the globals).
        self.assertNotIn("Architectures", self.projector()["Properties"])

    def test_projector_least_privilege(self):
        table = next(iter(self.of_type("AWS::DynamoDB::Table")))
        granted = set()
        for policy in self.projector()["Properties"]["Policies"]:
            self.assertIsInstance(policy, dict, "no SAM policy templates")
            for statement in policy["Statement"]:
                self.assertEqual(statement["Effect"], "Allow")
                actions = statement["Action"]
                actions = [actions] if isinstance(actions, str) else actions
                for action in actions:
                    self.assertNotIn("*", action)
                    granted.add((action, json.dumps(statement["Resource"], sort_keys=True)))
        res = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
        arn = res({"Fn::GetAtt": [table, "Arn"]})
        stream = res({"Fn::GetAtt": [table, "StreamArn"]})
        # The calls of shared/src/storage/summary.rs (DynamoDbStore::project), and no other:
        # no index, no Scan, no UpdateItem, no batch write.
        calls = {"get_item": "GetItem", "put_item": "PutItem", "query": "Query", "delete_item": "DeleteItem"}
        source = (ROOT / "shared" / "src" / "storage" / "summary.rs").read_text()
        code = source.split("#[cfg(test)]")[0]
        made = {action for call, action in calls.items() if f".{call}()" in code}
        made.add("GetItem")  # consistent_get (storage/mod.rs), through DynamoDbStore::summary
        self.assertEqual(made, set(calls.values()))
        self.assertEqual(granted, {("dynamodb:" + a, arn) for a in made} | {
            ("dynamodb:DescribeStream", stream),
            ("dynamodb:GetRecords", stream),
            ("dynamodb:GetShardIterator", stream),
            ("dynamodb:ListStreams", stream),
            ("sqs:SendMessage", res({"Fn::GetAtt": ["ProjectorDeadLetterQueue", "Arn"]})),
            # The events (issue 21): PutEvents on the one bus, what it refuses to its queue.
            ("events:PutEvents", res(EVENT_BUS_ARN)),
            ("sqs:SendMessage", res({"Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"]})),
        })

    def test_projector_alarms(self):
        self.assert_stream_reader_alarms(PROJECTOR_FUNCTION, "ProjectorDeadLetterQueue")

    # The events (docs/CONTRACT.md, "Events (3)"): the projector publishes them with PutEvents.

    def test_the_event_bus_is_the_stacks_unless_a_parameter_names_one(self):
        parameters = self.t["Parameters"]
        self.assertEqual((parameters["EventBusName"]["Type"], parameters["EventBusName"]["Default"]),
                         ("String", ""), "the stack's own bus by default")
        self.assertEqual(parameters["EventSource"]["Default"], "message-ingest")
        source = (ROOT / "shared" / "src" / "events" / "mod.rs").read_text()
        self.assertIn('DEFAULT_SOURCE: &str = "message-ingest"', source, "the code's default source")
        self.assertEqual(self.t["Conditions"]["CreatesEventBus"],
                         {"Fn::Equals": [{"Ref": "EventBusName"}, ""]})
        buses = self.of_type("AWS::Events::EventBus")
        self.assertEqual(list(buses), ["MessagesEventBus"])
        bus = buses["MessagesEventBus"]
        self.assertEqual(bus["Condition"], "CreatesEventBus")
        self.assertEqual(bus["Properties"]["Name"], {"Fn::Sub": "${AWS::StackName}-messages"})
        name = {"Fn::If": ["CreatesEventBus", {"Ref": "MessagesEventBus"}, {"Ref": "EventBusName"}]}
        variables = self.projector()["Properties"]["Environment"]["Variables"]
        self.assertEqual(variables["EVENT_BUS_NAME"], name)
        self.assertEqual(variables["EVENT_SOURCE"], {"Ref": "EventSource"})
        self.assertEqual(variables["EVENTS_DEAD_LETTER_QUEUE_URL"], {"Ref": "EventsDeadLetterQueue"})
        # The variables the code reads (shared/src/events/mod.rs, EventsConfig::read).
        for variable in variables:
            self.assertIn(f'"{variable}"', source, variable)
        self.assertEqual(self.t["Outputs"]["EventBusName"]["Value"], name)
        self.assertEqual(self.t["Outputs"]["EventsDeadLetterQueueUrl"]["Value"],
                         {"Ref": "EventsDeadLetterQueue"})
        # Only the projector publishes, and no Pipe: the projector is the stream's second reader.
        self.assertFalse(self.of_type("AWS::Pipes::Pipe"))
        for binary, (_, f) in self.functions.items():
            if binary != PROJECTOR_FUNCTION:
                self.assertNotIn("events:", json.dumps(f["Properties"].get("Policies")), binary)
                self.assertNotIn("EVENT_BUS_NAME", json.dumps(f["Properties"].get("Environment")), binary)

    def test_the_events_dead_letter_queue_and_its_alarm(self):
        queue = self.resources["EventsDeadLetterQueue"]
        self.assertEqual(queue["Type"], "AWS::SQS::Queue")
        props = queue["Properties"]
        self.assertEqual(props["MessageRetentionPeriod"], FOURTEEN_DAYS)
        self.assertTrue(props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props)
        alarm = self.resources["EventsDeadLetterAlarm"]["Properties"]
        self.assertEqual((alarm["Namespace"], alarm["MetricName"]),
                         ("AWS/SQS", "ApproximateNumberOfMessagesVisible"))
        self.assertEqual(alarm["Dimensions"], [{"Name": "QueueName",
                                                "Value": {"Fn::GetAtt": ["EventsDeadLetterQueue", "QueueName"]}}])
        self.assertEqual((alarm["Threshold"], alarm["ComparisonOperator"]), (1, "GreaterThanOrEqualToThreshold"))
        self.assertEqual(alarm["AlarmActions"],
                         {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]})
        # The mapping's on-failure destination stays the projector's own queue: a place in the
        # stream (summaries and events not yet published are retried from there), while the
        # events' queue holds only whole events the bus refused for good.
        m = self.mapping_of(PROJECTOR_FUNCTION)
        self.assertEqual(m["DestinationConfig"]["OnFailure"]["Destination"],
                         {"Fn::GetAtt": ["ProjectorDeadLetterQueue", "Arn"]})

    def test_the_projectors_filter_admits_every_change_an_event_is_made_of(self):
        # shared/src/events/change.rs: Message Stored (an INSERT of a message item), Message
        # Updated (a MODIFY of its status, deleted or content) and Attachment Stored (the media
        # function's MODIFY of an attachment's stored), judged on old and new images.
        table = next(iter(self.of_type("AWS::DynamoDB::Table").values()))
        self.assertEqual(table["Properties"]["StreamSpecification"]["StreamViewType"], "NEW_AND_OLD_IMAGES",
                         "a modification is told from the old image")
        pattern = json.loads(self.mapping_of(PROJECTOR_FUNCTION)["FilterCriteria"]["Filters"][0]["Pattern"])
        prefix = re.search(r'MESSAGE_PREFIX: &str = "([^"]+)"',
                           (ROOT / "shared" / "src" / "storage" / "keys.rs").read_text()).group(1)
        change = (ROOT / "shared" / "src" / "events" / "change.rs").read_text()
        for kind in ("Insert", "Modify", "Remove"):
            self.assertIn(f"RecordKind::{kind}", change)
        keys = {"pk": {"S": "partoo#c1"}, "sk": {"S": prefix + "2024-05-01T10:00:00.000Z#m1"}}
        message = dict(keys, status={"S": "sent"}, text={"S": "hello"},
                       attachments={"L": [{"M": {"url": {"S": "https://cdn.example.com/a.jpg"}}}]})
        read = dict(message, status={"S": "read"})
        deleted = dict(message, deleted={"BOOL": True})
        edited = dict(message, text={"S": "hello again"})
        stored = dict(message, attachments={"L": [{"M": {"url": {"S": "https://cdn.example.com/a.jpg"},
                                                         "stored": {"M": {"key": {"S": "media/x"}}}}}]})
        admitted = {
            "Message Stored": stream_record("INSERT", keys, None, message),
            "Message Updated (status)": stream_record("MODIFY", keys, message, read),
            "Message Updated (deleted)": stream_record("MODIFY", keys, message, deleted),
            "Message Updated (content)": stream_record("MODIFY", keys, message, edited),
            "Attachment Stored": stream_record("MODIFY", keys, message, stored),
            "a removal (the summary)": stream_record("REMOVE", keys, message, None),
        }
        for what, record in admitted.items():
            self.assertTrue(pattern_matches(pattern, record), f"the projector's filter drops {what}")
        # Its own writes (the summaries) and the id and quarantine items never wake it.
        for sk in ("SUMMARY", "ID#m1", "2024-05-01T10:00:00.000Z#abc"):
            other = {"pk": {"S": "partoo#c1"}, "sk": {"S": sk}}
            self.assertFalse(pattern_matches(pattern, stream_record("MODIFY", other, other, other)), sk)


    # The inbox (the read API).

    def inbox(self):
        return self.functions[INBOX_FUNCTION][1]

    def api_body(self):
        api = next(iter(self.of_type("AWS::Serverless::HttpApi").values()))
        return api["Properties"]["DefinitionBody"]

    def test_inbox_routes_are_the_contracts_on_the_webhooks_api_behind_iam_or_jwt(self):
        body = self.api_body()
        self.assertEqual(set(body["paths"]), INBOX_ROUTES, "the API's own paths are the read API's")
        function = self.functions[INBOX_FUNCTION][0]
        conditional = {"Fn::If": ["InboxUsesJwt", [{"InboxJwt": []}], [{"AWS_IAM": []}]]}
        for path, item in body["paths"].items():
            self.assertEqual(set(item), {"x-amazon-apigateway-any-method"},
                             f"{path}: every method reaches the inbox (405 from it, not 404)")
            method = item["x-amazon-apigateway-any-method"]
            self.assertEqual(method["security"], conditional, f"{path}: IAM, or JWT when configured")
            integration = method["x-amazon-apigateway-integration"]
            self.assertEqual((integration["type"], integration["payloadFormatVersion"]), ("aws_proxy", "2.0"))
            self.assertIn("${" + function + ".Arn}", json.dumps(integration["uri"]), path)
        schemes = body["components"]["securitySchemes"]
        self.assertEqual(schemes["AWS_IAM"]["x-amazon-apigateway-authtype"], "awsSigv4")
        condition, jwt, otherwise = schemes["InboxJwt"]["Fn::If"]
        self.assertEqual((condition, otherwise), ("InboxUsesJwt", {"Ref": "AWS::NoValue"}))
        authorizer = jwt["x-amazon-apigateway-authorizer"]
        self.assertEqual(authorizer["type"], "jwt")
        self.assertEqual(authorizer["jwtConfiguration"]["issuer"], {"Ref": "InboxJwtIssuer"})
        self.assertEqual(authorizer["jwtConfiguration"]["audience"],
                         {"Fn::Split": [",", {"Ref": "InboxJwtAudience"}]})
        self.assertEqual(self.t["Conditions"]["InboxUsesJwt"], {"Fn::And": [
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "InboxJwtIssuer"}, ""]}]},
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "InboxJwtAudience"}, ""]}]}]})
        for name in ("InboxJwtIssuer", "InboxJwtAudience"):
            self.assertEqual(self.t["Parameters"][name]["Default"], "", "IAM unless configured")
        # The webhook routes stay open: no authorizer on their events, none by default.
        api = next(iter(self.of_type("AWS::Serverless::HttpApi").values()))
        self.assertNotIn("Auth", api["Properties"])
        for binary in CONTRACT_ROUTES:
            for event in self.functions[binary][1]["Properties"]["Events"].values():
                self.assertNotIn("Auth", event["Properties"], binary)
        # No separate ApiGatewayV2 routes: a SAM update of the API's definition deletes them.
        self.assertFalse(self.of_type("AWS::ApiGatewayV2::Route"))
        permissions = [p["Properties"] for p in self.of_type("AWS::Lambda::Permission").values()]
        self.assertEqual([p["FunctionName"] for p in permissions], [{"Ref": function}])
        self.assertEqual(permissions[0]["Principal"], "apigateway.amazonaws.com")
        outputs = {name: json.dumps(o["Value"]) for name, o in self.t["Outputs"].items()}
        self.assertIn("${WebhooksApi}.execute-api", outputs["InboxUrl"])

    def test_the_transformed_api_has_the_read_routes_authorized_and_the_webhooks_open(self):
        # What SAM makes of the template (its translator, offline): one API holding both.
        from samtranslator.translator.transform import transform
        template = json.loads(json.dumps(self.t))
        template["Globals"]["Function"]["CodeUri"] = "s3://bucket/code.zip"

        class NoManagedPolicies:
            def load(self):
                return {}

        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        out = transform(template, {"InboxJwtIssuer": "", "InboxJwtAudience": ""}, NoManagedPolicies())
        apis = [r for r in out["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Api"]
        self.assertEqual(len(apis), 1)
        paths = apis[0]["Properties"]["Body"]["paths"]
        self.assertEqual(set(paths), INBOX_ROUTES | set(CONTRACT_ROUTES.values()))
        for path in INBOX_ROUTES:
            self.assertIn("security", paths[path]["x-amazon-apigateway-any-method"], path)
        for path in CONTRACT_ROUTES.values():
            self.assertEqual(set(paths[path]), {"post"}, path)
            self.assertNotIn("security", paths[path]["post"], f"{path} stays open")

    def test_inbox_reads_only(self):
        table = next(iter(self.of_type("AWS::DynamoDB::Table")))
        bucket = next(iter(self.of_type("AWS::S3::Bucket")))
        definition = json.loads(ingest_dev("table-definition"))
        indexes = {index["IndexName"] for index in definition["GlobalSecondaryIndexes"]}
        granted = set()
        for policy in self.inbox()["Properties"]["Policies"]:
            self.assertIsInstance(policy, dict, "no SAM policy templates")
            for statement in policy["Statement"]:
                self.assertEqual(statement["Effect"], "Allow")
                actions = statement["Action"]
                actions = [actions] if isinstance(actions, str) else actions
                resources = statement["Resource"]
                resources = resources if isinstance(resources, list) else [resources]
                for action in actions:
                    self.assertNotIn("*", action)
                    for resource in resources:
                        granted.add((action, json.dumps(resource, sort_keys=True)))
        res = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
        arn = res({"Fn::GetAtt": [table, "Arn"]})
        expected = {("dynamodb:GetItem", arn), ("dynamodb:BatchGetItem", arn), ("dynamodb:Query", arn),
                    ("s3:GetObject", res({"Fn::Sub": "${" + bucket + ".Arn}/media/*"}))}
        expected |= {("dynamodb:Query", res({"Fn::Sub": "${" + table + ".Arn}/index/" + index}))
                     for index in indexes}
        self.assertEqual(indexes, {"by_activity", "by_phone", "by_email"})
        self.assertEqual(granted, expected, "reads only: no Scan, no write, every index the code queries")
        variables = self.inbox()["Properties"]["Environment"]["Variables"]
        self.assertEqual(variables["MEDIA_BUCKET"], {"Ref": bucket})
        self.assertNotIn("Events", self.inbox()["Properties"])

    def test_the_read_sides_indexes_are_sparse_sharded_and_small(self):
        # docs/CONTRACT.md, "Our design": the list's activity index over 16 shards (no partition
        # takes every write), the customer indexes keyed by what never changes for a
        # conversation (KEYS_ONLY, so a moved conversation writes nothing to them); each holds
        # only the summaries, the items that carry its key.
        props = next(iter(self.of_type("AWS::DynamoDB::Table").values()))["Properties"]
        indexes = {index["IndexName"]: index for index in props["GlobalSecondaryIndexes"]}
        self.assertEqual(set(indexes), {"by_activity", "by_phone", "by_email"})
        keys = {name: [(k["AttributeName"], k["KeyType"]) for k in index["KeySchema"]]
                for name, index in indexes.items()}
        self.assertEqual(keys, {
            "by_activity": [("activity_shard", "HASH"), ("activity_key", "RANGE")],
            "by_phone": [("customer_phone", "HASH")],
            "by_email": [("customer_email", "HASH")],
        })
        self.assertEqual(indexes["by_activity"]["Projection"], {
            "ProjectionType": "INCLUDE",
            "NonKeyAttributes": ["provider", "account_id", "channel", "awaiting_reply"]})
        for name in ("by_phone", "by_email"):
            self.assertEqual(indexes[name]["Projection"], {"ProjectionType": "KEYS_ONLY"}, name)
        types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
        for attribute in ("activity_shard", "activity_key", "customer_phone", "customer_email"):
            self.assertEqual(types.get(attribute), "S", attribute)
        # On demand: no index has capacity of its own to run out of.
        for name, index in indexes.items():
            self.assertNotIn("ProvisionedThroughput", index, name)

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
