"""template.yaml against the contract (docs/CONTRACT.md): a resource for every function of the
workspace, routes, table key schema, least-privilege policies, secrets from Secrets Manager
only, logs with retention, alarms. Run by scripts/test.sh with the project's tool venv (cfn-lint
provides the CloudFormation YAML reader), after `cargo build --bins`.

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


def registered_providers():
    """(function, provider value, sends updates) of every registered provider."""
    built = ROOT / "target" / "debug" / "ingest-dev"
    command = [str(built)] if os.access(built, os.X_OK) else [
        "cargo", "run", "--quiet", "--bin", "ingest-dev", "--"]
    out = subprocess.run(command + ["providers", "--table"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    rows = [line.split("\t") for line in out.splitlines() if line.strip()]
    return [(function, provider, updates == "updates") for function, provider, updates in rows]


PROVIDERS = registered_providers()
WORKSPACE_FUNCTIONS = {p.parent.name for p in (ROOT / "functions").glob("*/Cargo.toml")}
CONTRACT_ROUTES = {function: f"/webhooks/{function}" for function, _, _ in PROVIDERS}
# The item operations each webhook function's code performs (shared/src/storage): transactions
# of Puts, GetItem for duplicates and update lookups, UpdateItem where the provider sends updates.
ALLOWED_ACTIONS = {
    function: {"dynamodb:PutItem", "dynamodb:GetItem"} | ({"dynamodb:UpdateItem"} if updates else set())
    for function, _, updates in PROVIDERS
}


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
                continue
            events = f["Properties"]["Events"]
            self.assertEqual(len(events), 1, binary)
            event = next(iter(events.values()))
            self.assertEqual(event["Type"], "HttpApi")
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
        self.assertEqual(
            sorted((a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"]),
            [("pk", "S"), ("sk", "S")],
        )
        self.assertEqual(props["BillingMode"], "PAY_PER_REQUEST")
        self.assertEqual(props["TimeToLiveSpecification"], {"AttributeName": "expires_at", "Enabled": True})
        self.assertTrue(props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"])
        self.assertEqual(table["DeletionPolicy"], "Retain")
        self.assertEqual(table["UpdateReplacePolicy"], "Retain")

    def test_least_privilege(self):
        table = next(iter(self.of_type("AWS::DynamoDB::Table")))
        for binary, (_, f) in self.functions.items():
            policies = f["Properties"]["Policies"]
            actions = set()
            for policy in policies:
                self.assertIsInstance(policy, dict, f"{binary}: no SAM policy templates (e.g. DynamoDBCrudPolicy)")
                self.assertNotIn("DynamoDBCrudPolicy", json.dumps(policy))
                for statement in policy["Statement"]:
                    self.assertEqual(statement["Effect"], "Allow")
                    stmt_actions = statement["Action"]
                    stmt_actions = [stmt_actions] if isinstance(stmt_actions, str) else stmt_actions
                    for action in stmt_actions:
                        self.assertNotIn("*", action, binary)
                    actions |= set(stmt_actions)
                    self.assertEqual(statement["Resource"], {"Fn::GetAtt": [table, "Arn"]}, binary)
            self.assertEqual(actions, ALLOWED_ACTIONS[binary], binary)

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


if __name__ == "__main__":
    unittest.main()
