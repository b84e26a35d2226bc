"""The configuration tables agree with each other, the template and the code (issue 23).

The sources:

- README.md: every table headed `| variable | meaning |` (the functions' settings) and the
  table headed `| parameter | default | …` (the stack's parameters);
- docs/LOCAL.md: its `| variable | meaning |` table (settings for local runs and tests only);
- docs/CONTRACT.md: its `| variable | meaning |` table ("Configuration (environment)");
- template.yaml: the Globals' and every function's Environment Variables, and the Parameters;
- the code: the setting names shared/src reads (string literals of the settings' shape outside
  the test kit and the unit tests).

A variable in one place only fails, unless it is in one of the lists below, each with its
reason. `DisagreementTest` adds a variable to a copy of each source in turn and checks that
the check reports it. Besides, the README names every output and every alarm of the template.
"""

import copy
import re
import unittest
from pathlib import Path

from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parent.parent

# In the README's table but never set by the template, and why.
NOT_IN_TEMPLATE = {
    "AWS_ENDPOINT_URL_DYNAMODB": "an SDK endpoint override, for a local DynamoDB",
    "AWS_ENDPOINT_URL_SQS": "an SDK endpoint override, for a local SQS (moto)",
    "AWS_ENDPOINT_URL_S3": "an SDK endpoint override, for a local S3 (moto)",
    "AWS_ENDPOINT_URL_EVENTBRIDGE": "an SDK endpoint override, for a local EventBridge (moto)",
    "AWS_ENDPOINT_URL": "the SDK's endpoint override for every service",
    "AWS_LAMBDA_LOG_LEVEL": "Lambda sets it from the function's LoggingConfig",
    "AWS_LAMBDA_LOG_FORMAT": "Lambda sets it from the function's LoggingConfig",
    "RUST_LOG": "the log level outside Lambda",
    "DYNAMODB_WARM_UP": "on by default, and the template keeps the default",
    "AWS_CA_BUNDLE": "only should an AWS endpoint chain to other roots than the compiled-in ones",
}
# Documented, but no code reads it, and why.
NOT_READ = {
    "SECRETS_REVISION": "its change changes the functions' configuration, so that CloudFormation "
                        "resolves the secret again; no function reads it",
}
# Read by the code, documented outside the tables, and why.
CODE_ONLY = {
    "AWS_REGION": "set by Lambda; the paragraph under the README's table says so",
    "AWS_DEFAULT_REGION": "the SDK's fallback for AWS_REGION, outside Lambda",
}
# The shape of a setting's name in the code.
SETTING = re.compile(r'"((?:AWS|TABLE|TIKTOK_SHOP|PARTOO|CALLBELL|MEDIA|SPOOL|RETENTION|DYNAMODB'
                     r'|RUST|INBOX|EVENTS?|SECRETS)_[A-Z0-9_]+)"')


def tables(markdown):
    """Every Markdown table: (header cells, rows of cells)."""
    found, current = [], None
    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if current is None:
                current = (cells, [])
                found.append(current)
            elif not all(re.fullmatch(r":?-+:?", cell) for cell in cells):
                current[1].append(cells)
        else:
            current = None
    return found


def names_in(cell):
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", cell))


def variables(markdown):
    """The variables named in the first cell of the `| variable | meaning |` tables."""
    found = set()
    for header, rows in tables(markdown):
        if [cell.lower() for cell in header[:2]] == ["variable", "meaning"]:
            for row in rows:
                found |= names_in(row[0])
    return found


def parameters(markdown):
    """{parameter: its default cell} of the `| parameter | default | …` table."""
    found = {}
    for header, rows in tables(markdown):
        if [cell.lower() for cell in header[:2]] == ["parameter", "default"]:
            for row in rows:
                for name in re.findall(r"`([A-Za-z][A-Za-z0-9]+)`", row[0]):
                    found[name] = row[1]
    return found


def template_sources():
    template, problems = decode(str(ROOT / "template.yaml"))
    assert not problems, problems
    env = set(template.get("Globals", {}).get("Function", {}).get("Environment", {})
              .get("Variables", {}))
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            env |= set(resource["Properties"].get("Environment", {}).get("Variables", {}))
    params = {name: spec.get("Default") for name, spec in template["Parameters"].items()}
    return env, params


def code_settings():
    found = set()
    for path in (ROOT / "shared" / "src").rglob("*.rs"):
        if "testkit" in path.parts:
            continue
        text = path.read_text()
        tests = re.search(r"^#\[cfg\(test\)\]\s*\nmod tests", text, re.M)
        found |= set(SETTING.findall(text[:tests.start()] if tests else text))
    return found


def read_sources():
    template_env, template_params = template_sources()
    readme = (ROOT / "README.md").read_text()
    return {
        "README.md": variables(readme),
        "docs/LOCAL.md": variables((ROOT / "docs" / "LOCAL.md").read_text()),
        "docs/CONTRACT.md": variables((ROOT / "docs" / "CONTRACT.md").read_text()),
        "template.yaml": template_env,
        "code": code_settings(),
        "README.md parameters": parameters(readme),
        "template.yaml parameters": template_params,
    }


def default_agrees(cell, default):
    """Whether the README's default cell says the template's default."""
    if default in (None, ""):
        return "empty" in cell.lower() or "none" in cell.lower() or cell in ("", "—", "-")
    return str(default) in re.findall(r"`([^`]*)`", cell) or cell.startswith(str(default))


def disagreements(sources):
    readme, local = sources["README.md"], sources["docs/LOCAL.md"]
    contract, template, code = (sources["docs/CONTRACT.md"], sources["template.yaml"],
                                sources["code"])
    documented = readme | local
    out = []

    def report(names, message):
        out.extend(f"{name}: {message}" for name in sorted(names))

    report(template - readme, "the template sets it, the README's configuration table lacks it")
    report(readme - template - set(NOT_IN_TEMPLATE),
           "in the README's table, never set by the template (and not in NOT_IN_TEMPLATE)")
    report(local & template, "a local-only knob (docs/LOCAL.md) that the template sets")
    report(local & readme, "in both the README's table and docs/LOCAL.md's: one place only")
    report(documented - contract, "in the README or docs/LOCAL.md, not in docs/CONTRACT.md's table")
    report(contract - documented, "in docs/CONTRACT.md's table, not in the README or docs/LOCAL.md")
    report(code - documented - set(CODE_ONLY), "the code reads it; no configuration table has it")
    report(documented - code - set(NOT_READ), "documented, but the code never reads it")
    readme_params = sources["README.md parameters"]
    template_params = sources["template.yaml parameters"]
    report(set(template_params) - set(readme_params),
           "a template parameter missing from the README's parameter table")
    report(set(readme_params) - set(template_params),
           "in the README's parameter table, not a template parameter")
    for name in sorted(set(readme_params) & set(template_params)):
        if not default_agrees(readme_params[name], template_params[name]):
            out.append(f"{name}: the README's default {readme_params[name]!r} is not the "
                       f"template's {template_params[name]!r}")
    return out


class ConfigAgreementTest(unittest.TestCase):
    def test_the_tables_the_template_and_the_code_agree(self):
        problems = disagreements(read_sources())
        self.assertEqual(problems, [], "\n" + "\n".join(problems))

    def test_the_sources_were_read(self):
        sources = read_sources()
        for name in ("README.md", "docs/LOCAL.md", "docs/CONTRACT.md", "template.yaml", "code"):
            self.assertGreaterEqual(len(sources[name]), 2 if name == "docs/LOCAL.md" else 10, name)
        self.assertGreaterEqual(len(sources["README.md parameters"]), 10)

    def test_the_exceptions_are_still_needed(self):
        sources = read_sources()
        for name in NOT_IN_TEMPLATE:
            self.assertNotIn(name, sources["template.yaml"], f"{name} is set by the template now")
            self.assertIn(name, sources["README.md"], f"{name}: no longer in the README's table")
        for name in NOT_READ:
            self.assertNotIn(name, sources["code"], f"{name} is read by the code now")
        for name in CODE_ONLY:
            self.assertIn(name, sources["code"], f"{name} is no longer read by the code")


def template_outputs_and_alarms():
    template, problems = decode(str(ROOT / "template.yaml"))
    assert not problems, problems
    alarms = {name for name, resource in template["Resources"].items()
              if resource["Type"] == "AWS::CloudWatch::Alarm"}
    return set(template.get("Outputs", {})), alarms


def unnamed(names, markdown):
    """The names the Markdown never mentions as `code`."""
    mentioned = set(re.findall(r"`([A-Za-z][A-Za-z0-9]*)`", markdown))
    return sorted(set(names) - mentioned)


class OutputsAndAlarmsTest(unittest.TestCase):
    """The README names every output of the stack (what a deployer reads after a deploy) and
    every alarm (what an operator is woken by), so that a new one is documented with it."""

    def test_every_output_and_alarm_is_in_the_readme(self):
        outputs, alarms = template_outputs_and_alarms()
        readme = (ROOT / "README.md").read_text()
        self.assertGreaterEqual(len(outputs), 10)
        self.assertGreaterEqual(len(alarms), 10)
        self.assertEqual(unnamed(outputs, readme), [], "outputs the README does not name")
        self.assertEqual(unnamed(alarms, readme), [], "alarms the README does not name")

    def test_an_alarm_missing_from_the_readme_is_reported(self):
        self.assertEqual(unnamed({"EventsDeadLetterAlarm", "ServerErrorsAlarm"},
                                 "| `ServerErrorsAlarm` | … |"), ["EventsDeadLetterAlarm"])


class DisagreementTest(unittest.TestCase):
    """A variable added to one place only is reported."""

    def setUp(self):
        self.sources = read_sources()
        self.assertEqual(disagreements(self.sources), [])

    def added(self, source, name="NEW_SETTING", value=None):
        sources = copy.deepcopy(self.sources)
        if isinstance(sources[source], dict):
            sources[source][name] = value
        else:
            sources[source].add(name)
        return [problem for problem in disagreements(sources) if problem.startswith(name + ":")]

    def test_a_variable_in_one_place_only(self):
        for source in ("README.md", "docs/LOCAL.md", "docs/CONTRACT.md", "template.yaml", "code"):
            with self.subTest(source=source):
                self.assertTrue(self.added(source, "MEDIA_NEW_SETTING"), source)

    def test_a_variable_documented_everywhere_but_the_template(self):
        sources = copy.deepcopy(self.sources)
        for source in ("README.md", "docs/CONTRACT.md", "code"):
            sources[source].add("EVENTS_EXAMPLE_SETTING")
        self.assertEqual(disagreements(sources), [
            "EVENTS_EXAMPLE_SETTING: in the README's table, never set by the template "
            "(and not in NOT_IN_TEMPLATE)"])
        sources["template.yaml"].add("EVENTS_EXAMPLE_SETTING")
        self.assertEqual(disagreements(sources), [])

    def test_a_local_knob_in_the_template(self):
        sources = copy.deepcopy(self.sources)
        sources["template.yaml"].add("MEDIA_ALLOW_PRIVATE_NETWORKS")
        self.assertIn("MEDIA_ALLOW_PRIVATE_NETWORKS: a local-only knob (docs/LOCAL.md) that the "
                      "template sets", disagreements(sources))

    def test_a_parameter_in_one_place_only(self):
        self.assertTrue(self.added("template.yaml parameters", "EventBusName", "default"))
        self.assertTrue(self.added("README.md parameters", "EventBusName", "`default`"))

    def test_a_default_that_differs(self):
        sources = copy.deepcopy(self.sources)
        sources["template.yaml parameters"]["SpoolMaxReceives"] = 7
        self.assertTrue([p for p in disagreements(sources) if p.startswith("SpoolMaxReceives:")])


if __name__ == "__main__":
    unittest.main()
