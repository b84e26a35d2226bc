"""template.yaml as CloudFormation would deploy it with given parameters: Conditions evaluated,
Fn::If taken, what a false condition leaves out removed, then every reference checked to
name something the stack still has. Then the dashboard, its body resolved to JSON: every
MessageIngest metric it shows is one the code emits (shared/src)."""

import itertools
import json
import os
import re
import unittest
from pathlib import Path

from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parent.parent
NO_VALUE = object()
PSEUDO = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws",
          "AWS::StackName": "ingest", "AWS::URLSuffix": "amazonaws.com"}


def load():
    template, errors = decode(str(ROOT / "template.yaml"))
    assert not errors, errors
    return json.loads(json.dumps(template))


def parameter_values(template, overrides):
    values = {name: p.get("Default") for name, p in template["Parameters"].items()}
    values.update(overrides)
    values.update(PSEUDO)
    return values


class Stack:
    """The template as deployed with `overrides` (parameter values): conditions evaluated and
    applied. Other intrinsics stay as they are, except through `text` (below)."""

    def __init__(self, template, overrides=None):
        self.template = template
        self.parameters = parameter_values(template, overrides or {})
        self.conditions = {}
        for name in template.get("Conditions", {}):
            self.condition(name)
        self.resources = {name: self.apply(r) for name, r in template["Resources"].items()
                          if self.condition(r.get("Condition"))}
        self.outputs = {name: self.apply(o) for name, o in template.get("Outputs", {}).items()
                        if self.condition(o.get("Condition"))}
        self.globals = self.apply(template.get("Globals", {}))

    def condition(self, name):
        if name is None:
            return True
        if name not in self.conditions:
            self.conditions[name] = self.boolean(self.template["Conditions"][name])
        return self.conditions[name]

    def boolean(self, node):
        (function, args), = node.items()
        if function == "Condition":
            return self.condition(args)
        if function == "Fn::Equals":
            left, right = (self.value(a) for a in args)
            return str(left) == str(right)
        if function == "Fn::Not":
            return not self.boolean(args[0])
        if function == "Fn::And":
            return all(self.boolean(a) for a in args)
        if function == "Fn::Or":
            return any(self.boolean(a) for a in args)
        raise ValueError(f"not a condition function: {function}")

    def value(self, node):
        """A value computed from parameters alone (as in Conditions)."""
        if isinstance(node, (str, int, float, bool)):
            return node
        if isinstance(node, list):
            return [self.value(v) for v in node]
        (function, args), = node.items()
        if function == "Ref":
            return self.parameters[args]
        if function == "Fn::Join":
            return args[0].join(str(v) for v in self.value(args[1]))
        if function == "Fn::Split":
            return self.value(args[1]).split(args[0])
        if function == "Fn::Select":
            return self.value(args[1])[int(self.value(args[0]))]
        if function == "Fn::Sub":
            text, variables = (args, {}) if isinstance(args, str) else args
            variables = {k: self.value(v) for k, v in variables.items()}
            return re.sub(r"\$\{([^}!]+)\}",
                          lambda m: str(variables.get(m.group(1), self.parameters.get(m.group(1)))), text)
        raise ValueError(f"{function} in a condition")

    def apply(self, node):
        """`node` with every Fn::If taken and what AWS::NoValue removes removed."""
        if isinstance(node, list):
            return [v for v in (self.apply(v) for v in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if set(node) == {"Fn::If"}:
            name, then, otherwise = node["Fn::If"]
            return self.apply(then if self.condition(name) else otherwise)
        if node == {"Ref": "AWS::NoValue"}:
            return NO_VALUE
        return {k: v for k, v in ((k, self.apply(v)) for k, v in node.items()) if v is not NO_VALUE}

    def text(self, node):
        """A value as a string: parameters and pseudo parameters substituted, a resource's Ref
        as <Name>, its attributes as <Name.Attr>."""
        if isinstance(node, str):
            return node
        (function, args), = node.items()
        if function == "Fn::Join":
            return args[0].join(self.text(v) for v in args[1])
        if function == "Fn::Sub":
            text, variables = (args, {}) if isinstance(args, str) else args

            def substitute(match):
                name = match.group(1)
                if name in variables:
                    return self.text(variables[name])
                if name in self.parameters:
                    return str(self.parameters[name])
                return f"<{name}>"
            return re.sub(r"\$\{([^}!]+)\}", substitute, text)
        if function == "Ref":
            return str(self.parameters[args]) if args in self.parameters else f"<{args}>"
        if function == "Fn::GetAtt":
            return f"<{args[0]}.{args[1]}>"
        raise ValueError(f"{function} in a text")

    def references(self, node, found=None):
        """Every logical id `node` refers to (Ref, Fn::GetAtt, Fn::Sub's ${Name} and ${Name.Attr})."""
        found = set() if found is None else found
        if isinstance(node, list):
            for v in node:
                self.references(v, found)
        elif isinstance(node, dict):
            for k, v in node.items():
                if k == "Ref" and isinstance(v, str):
                    found.add(v)
                elif k == "Fn::GetAtt":
                    found.add(v[0] if isinstance(v, list) else v.split(".")[0])
                elif k == "Fn::Sub":
                    text, variables = (v, {}) if isinstance(v, str) else v
                    found |= {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text)} - set(variables)
                    self.references(variables, found)
                else:
                    self.references(v, found)
        return found

    def dangling(self):
        """References to what is neither a resource, a parameter nor a pseudo parameter of the stack."""
        known = set(self.resources) | set(self.parameters)
        everything = {"Resources": self.resources, "Outputs": self.outputs, "Globals": self.globals}
        return self.references(everything) - known


def emitted_metrics():
    """The metric names the code declares (telemetry's `metric("Name", "Unit")`)."""
    names = set()
    for path in (ROOT / "shared" / "src").rglob("*.rs"):
        names |= set(re.findall(r'metric\("(\w+)",\s*"\w+"\)', path.read_text()))
    return names


def dashboard_metrics(body):
    """(namespace, metric name) of every metric the dashboard shows: metric arrays and the
    MetricName="…" of SEARCH expressions."""
    shown = set()
    for widget in body["widgets"]:
        for metric in widget.get("properties", {}).get("metrics", []):
            if isinstance(metric[0], dict) and "expression" in metric[0]:
                expression = metric[0]["expression"]
                for schema, names in re.findall(r"\{(\w[^,}]*)[^}]*\}([^']*)", expression):
                    for name in re.findall(r'MetricName="(\w+)"', names):
                        shown.add((schema, name))
                continue
            namespace, name = metric[0], metric[1]
            shown.add((namespace, name))
    return shown


class DashboardTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.template = load()
        cls.stack = Stack(cls.template)

    def body(self, stack):
        dashboards = {n: r for n, r in stack.resources.items() if r["Type"] == "AWS::CloudWatch::Dashboard"}
        self.assertEqual(list(dashboards), ["Dashboard"])
        text = stack.text(dashboards["Dashboard"]["Properties"]["DashboardBody"])
        return json.loads(text)

    def test_the_dashboard_shows_only_metrics_the_code_emits(self):
        body = self.body(self.stack)
        shown = dashboard_metrics(body)
        ours = {name for namespace, name in shown if namespace == "MessageIngest"}
        emitted = emitted_metrics()
        self.assertTrue({"Requests", "Latency", "Quarantined", "MediaCopied", "ProjectedRecords"} <= emitted,
                        "the metric declarations are still found in shared/src")
        missing = ours - emitted
        self.assertFalse(missing, f"the dashboard shows metrics no code emits: {sorted(missing)}")
        namespaces = {namespace for namespace, _ in shown}
        self.assertLessEqual(namespaces, {"MessageIngest", "AWS/SQS", "AWS/Lambda", "AWS/ApiGateway"})

    def test_the_dashboard_covers_what_issue_23_asks(self):
        body = self.body(self.stack)
        shown = {name for _, name in dashboard_metrics(body)}
        for name in ("Requests", "Latency", "ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage",
                     "Quarantined", "MediaCopied", "MediaFailedRecords", "EventsPublished", "EventsDeadLettered",
                     "Errors", "Throttles"):
            self.assertIn(name, shown)
        text = json.dumps(body)
        functions = {r["Metadata"]["BuildProperties"]["Binary"]: n for n, r in self.stack.resources.items()
                     if r["Type"] == "AWS::Serverless::Function"}
        for binary, logical in functions.items():
            self.assertIn(f'"FunctionName", "<{logical}>"', text, f"{binary}: its Lambda errors and throttles")
        queues = [n for n, r in self.stack.resources.items() if r["Type"] == "AWS::SQS::Queue"]
        for queue in queues:
            self.assertIn(f'"<{queue}.QueueName>"', text, f"{queue} is on the dashboard")
        # The outcomes per provider: a search over the Function, Outcome dimensions of Requests.
        for binary in ("tiktok-shop", "partoo", "callbell"):
            self.assertIn(f'Function=\\"{binary}\\"', text, binary)
        outputs = self.stack.outputs
        self.assertEqual(outputs["DashboardName"]["Value"], {"Ref": "Dashboard"})
        self.assertIn("${Dashboard}", json.dumps(outputs["DashboardUrl"]["Value"]))


class EventBusTest(unittest.TestCase):
    """Parameter EventBusName: blank makes the stack's bus, a name uses that bus."""

    @classmethod
    def setUpClass(cls):
        cls.template = load()

    def published_on(self, stack):
        projector = stack.resources["ProjectorFunction"]["Properties"]
        bus = stack.text(projector["Environment"]["Variables"]["EVENT_BUS_NAME"])
        granted = [stack.text(st["Resource"]) for policy in projector["Policies"] for st in policy["Statement"]
                   if st["Action"] == "events:PutEvents"]
        return bus, granted, stack.text(stack.outputs["EventBusName"]["Value"])

    def test_the_stacks_own_bus(self):
        stack = Stack(self.template)
        self.assertIn("MessagesEventBus", stack.resources)
        self.assertEqual(stack.text(stack.resources["MessagesEventBus"]["Properties"]["Name"]), "ingest-messages")
        self.assertEqual(self.published_on(stack), ("<MessagesEventBus>", ["<MessagesEventBus.Arn>"],
                                                    "<MessagesEventBus>"))
        self.assertFalse(stack.dangling())

    def test_a_named_bus(self):
        stack = Stack(self.template, {"EventBusName": "shared-bus"})
        self.assertNotIn("MessagesEventBus", stack.resources)
        self.assertEqual(self.published_on(stack), (
            "shared-bus", ["arn:aws:events:us-east-1:123456789012:event-bus/shared-bus"], "shared-bus"))
        self.assertFalse(stack.dangling())


SUBSETS = [",".join(c) for n in (1, 2, 3) for c in itertools.combinations(["tiktok-shop", "partoo", "callbell"], n)]
# Each provider's logical-id prefix and its secret keys (only tiktok-shop and callbell have any).
PREFIX = {"tiktok-shop": "TikTokShop", "partoo": "Partoo", "callbell": "Callbell"}
SECRET_KEYS = {"tiktok-shop": {"TIKTOK_SHOP_APP_KEY", "TIKTOK_SHOP_APP_SECRET", "TIKTOK_SHOP_APPS"},
               "partoo": set(),
               "callbell": {"CALLBELL_WEBHOOK_SECRET", "CALLBELL_URL_TOKEN"}}


class ProvidersTest(unittest.TestCase):
    """Parameter Providers (issue 23): a stack of some providers has only theirs."""

    @classmethod
    def setUpClass(cls):
        cls.template = load()

    def stack(self, providers, **overrides):
        return Stack(self.template, dict(overrides, Providers=providers))

    def functions(self, stack):
        return {r["Metadata"]["BuildProperties"]["Binary"]: n for n, r in stack.resources.items()
                if r["Type"] == "AWS::Serverless::Function"}

    def webhook_functions(self, stack):
        return {b for b, n in self.functions(stack).items()
                if any(e["Type"] == "HttpApi" for e in stack.resources[n]["Properties"].get("Events", {}).values())}

    def alarm_expressions(self, stack):
        """Each alarm's metric-math expression as deployed, and the ids of its metrics."""
        found = {}
        for name, r in stack.resources.items():
            if r["Type"] != "AWS::CloudWatch::Alarm" or "Metrics" not in r["Properties"]:
                continue
            metrics = r["Properties"]["Metrics"]
            expressions = [stack.text(m["Expression"]) for m in metrics if "Expression" in m]
            self.assertEqual(len(expressions), 1, name)
            found[name] = (expressions[0], {m["Id"] for m in metrics if "MetricStat" in m})
        return found

    def test_the_parameter(self):
        parameter = self.template["Parameters"]["Providers"]
        self.assertEqual(parameter["Type"], "String")
        self.assertEqual(parameter["Default"], "tiktok-shop,partoo,callbell")
        pattern = re.compile(parameter["AllowedPattern"])
        for value in SUBSETS + ["callbell,partoo", "partoo,partoo"]:
            self.assertTrue(pattern.fullmatch(value), value)
        for value in ("", "partoo, callbell", "whatsapp", "partoo,", "tiktok_shop", "all"):
            self.assertFalse(pattern.fullmatch(value), value)
        # Its values are the webhook functions (the providers' binaries).
        names = set(re.findall(r"[a-z-]+", parameter["AllowedPattern"]))
        self.assertEqual(names, self.webhook_functions(Stack(self.template)))
        self.assertEqual(set(PREFIX), names)

    def test_the_membership_conditions(self):
        for providers in SUBSETS + ["callbell,partoo", "partoo,partoo"]:
            stack = self.stack(providers)
            listed = set(providers.split(","))
            for provider, prefix in PREFIX.items():
                self.assertEqual(stack.condition(f"Deploys{prefix}"), provider in listed, (providers, provider))

    def test_every_subset_deploys_exactly_its_providers_and_nothing_dangles(self):
        for providers in SUBSETS:
            with self.subTest(providers=providers):
                stack = self.stack(providers)
                listed = set(providers.split(","))
                self.assertEqual(self.webhook_functions(stack), listed)
                self.assertEqual(set(self.functions(stack)), listed | {"media", "projector", "inbox"})
                self.assertFalse(stack.dangling(), "references to what the stack does not have")
                for name in list(stack.resources) + list(stack.outputs):
                    for provider, prefix in PREFIX.items():
                        if provider not in listed:
                            self.assertFalse(name.startswith(prefix), f"{name} of an absent provider")
                # Every alarm's expression names exactly its metrics' ids, all of present providers.
                for alarm, (expression, ids) in self.alarm_expressions(stack).items():
                    self.assertEqual(set(re.findall(r"[a-z]\w*", expression)) - {"MAX"},
                                     ids, f"{alarm}: {expression}")
                # The dashboard's body is JSON, and shows the listed providers' widgets only.
                body = json.loads(stack.text(stack.resources["Dashboard"]["Properties"]["DashboardBody"]))
                titles = " ".join(w["properties"].get("title", "") for w in body["widgets"])
                for provider in PREFIX:
                    self.assertEqual(f"{provider}: messages by outcome" in titles, provider in listed, provider)
                # The secret: only the listed providers' keys are referenced.
                referenced = set(re.findall(r"SecretString:(\w+)\}\}", json.dumps(stack.resources)))
                allowed = set().union(*(SECRET_KEYS[p] for p in listed))
                self.assertLessEqual(referenced, allowed)

    def test_a_partoo_stack(self):
        stack = self.stack("partoo")
        resources = set(stack.resources)
        self.assertLessEqual({"PartooFunction", "PartooSpoolQueue", "PartooSpoolDeadLetterQueue", "PartooLogGroup"},
                             resources)
        for prefix in ("TikTokShop", "Callbell"):
            self.assertFalse({r for r in resources if r.startswith(prefix)}, prefix)
        queues = {n for n, r in stack.resources.items() if r["Type"] == "AWS::SQS::Queue"}
        self.assertEqual(queues, {"PartooSpoolQueue", "PartooSpoolDeadLetterQueue", "MediaDeadLetterQueue",
                                  "ProjectorDeadLetterQueue", "EventsDeadLetterQueue"})
        # Partoo needs no secret at all: not one dynamic reference is left.
        self.assertNotIn("resolve:secretsmanager", json.dumps(stack.resources))
        self.assertEqual({"PartooWebhookUrl", "PartooSpoolDeadLetterQueueUrl"},
                         {o for o in stack.outputs if "Webhook" in o or "Spool" in o})
        expressions = self.alarm_expressions(stack)
        self.assertEqual(expressions["QuarantineAlarm"], ("partoo", {"partoo"}))
        self.assertEqual(expressions["SpoolDeadLetterAlarm"], ("partoo", {"partoo"}))
        self.assertEqual(expressions["SpoolAgeAlarm"], ("MAX([partoo])", {"partoo"}))
        self.assertEqual(expressions["ForeignAccountAlarm"], ("partoo", {"partoo"}))
        body = stack.text(stack.resources["Dashboard"]["Properties"]["DashboardBody"])
        self.assertNotIn("tiktok-shop", body)
        self.assertNotIn("callbell", body)

    def test_a_callbell_stack_has_no_allow_list_alarm_and_only_its_keys(self):
        for authentication, keys in (("signature", {"CALLBELL_WEBHOOK_SECRET"}), ("token", {"CALLBELL_URL_TOKEN"}),
                                     ("both", {"CALLBELL_WEBHOOK_SECRET", "CALLBELL_URL_TOKEN"})):
            stack = self.stack("callbell", CallbellAuthentication=authentication)
            self.assertNotIn("ForeignAccountAlarm", stack.resources)
            referenced = set(re.findall(r"SecretString:(\w+)\}\}", json.dumps(stack.resources)))
            self.assertEqual(referenced, keys, authentication)

    def test_the_default_stack_is_all_three_as_before(self):
        stack = Stack(self.template)
        self.assertEqual(self.webhook_functions(stack), set(PREFIX))
        self.assertEqual(stack.parameters["Providers"], "tiktok-shop,partoo,callbell")
        expressions = self.alarm_expressions(stack)
        self.assertEqual(expressions["QuarantineAlarm"][0], "tiktok + partoo + callbell")
        self.assertEqual(expressions["SpoolDeadLetterAlarm"][0], "tiktok + partoo + callbell")
        self.assertEqual(expressions["SpoolAgeAlarm"][0], "MAX([tiktok, partoo, callbell])")
        self.assertEqual(expressions["ForeignAccountAlarm"][0], "tiktok + partoo")
        self.assertEqual(expressions["TableThrottleAlarm"][0], "reads + writes")
        for prefix in PREFIX.values():
            for suffix in ("Function", "SpoolQueue", "SpoolDeadLetterQueue", "LogGroup"):
                self.assertIn(prefix + suffix, stack.resources, "the same logical ids: nothing replaced")
            for output in ("WebhookUrl", "SpoolDeadLetterQueueUrl"):
                self.assertIn(prefix + output, stack.outputs)
        referenced = set(re.findall(r"SecretString:(\w+)\}\}", json.dumps(stack.resources)))
        self.assertEqual(referenced, {"TIKTOK_SHOP_APP_KEY", "TIKTOK_SHOP_APP_SECRET", "CALLBELL_WEBHOOK_SECRET"},
                         "TikTokShopAuthentication=app, CallbellAuthentication=signature")
        self.assertFalse(stack.dangling())

    def test_the_transformed_api_routes_only_the_listed_providers(self):
        # What SAM makes of a one-provider template: its routes go, with their functions.
        from samtranslator.translator.transform import transform

        class NoManagedPolicies:
            def load(self):
                return {}

        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        for providers in ("partoo", "tiktok-shop,callbell"):
            template = json.loads(json.dumps(self.template))
            template["Globals"]["Function"]["CodeUri"] = "s3://bucket/code.zip"
            out = transform(template, {"Providers": providers}, NoManagedPolicies())
            stack = Stack(out, {"Providers": providers})
            apis = [r for r in stack.resources.values() if r["Type"] == "AWS::ApiGatewayV2::Api"]
            self.assertEqual(len(apis), 1)
            # SAM makes an absent function's method conditional: its path is left with no method,
            # which makes no route.
            webhooks = {p for p, item in apis[0]["Properties"]["Body"]["paths"].items()
                        if p.startswith("/webhooks/") and item}
            self.assertEqual(webhooks, {f"/webhooks/{p}" for p in providers.split(",")}, providers)
            permissions = {json.dumps(r["Properties"]["FunctionName"]) for r in stack.resources.values()
                           if r["Type"] == "AWS::Lambda::Permission"}
            for provider, prefix in PREFIX.items():
                self.assertEqual(any(prefix in p for p in permissions), provider in providers.split(","))
            self.assertFalse(stack.dangling(), providers)


if __name__ == "__main__":
    unittest.main()
