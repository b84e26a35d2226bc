"""The shell commands the README and docs/ show run as written (issue 23).

Every fenced ```sh / ```bash block of README.md, docs/*.md, events/README.md and
fuzz/README.md is read command by command
(continuation lines joined, comments dropped, `;`, `&&`, `|` split). Each command is classified:

- local: `scripts/*.sh` and `bench/*.sh` (the script must exist, and every option given must be
  one its own option handling knows — its `case` arms — and its `--help` names; positional
  arguments only where the script takes them: fuzz.sh's targets are checked against
  `scripts/fuzz.sh --list`); `cargo run -p devtools -- …` and `ingest-dev …` (every subcommand
  and option checked against `ingest-dev --help` and `ingest-dev <command> --help`, level by
  level); `cargo lambda …` (options against `cargo lambda <command> --help`); other cargo and
  small shell commands (below) are accepted as they are;
- deploy-only: `sam …`, `aws …` (they need an AWS account; not run here; sam's options are
  checked against `sam <command> --help`, offline).

A command of any other kind fails the test, so that a new kind of command is classified on
purpose. Run by scripts/test.sh after it has built ingest-dev (target/debug/ingest-dev); run
alone, this test builds it (`cargo build --workspace --bin ingest-dev`) rather than skip.
"""

import os
import re
import shlex
import shutil
import subprocess
import unittest
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
             ROOT / "events" / "README.md", ROOT / "fuzz" / "README.md"]
INGEST_DEV = ROOT / "target" / "debug" / "ingest-dev"

# Deploy-only commands: they talk to an AWS account.
DEPLOY_ONLY = {"sam", "aws"}
# Plain tools the README uses around the project's commands (secret edits, clean-up, curl);
# nothing project-specific to check.
PLAIN = {"jq", "rm", "curl", "openssl", "umask", "echo", "export", "cd", "python3", "python", "cat",
         "tail", "head",
         "mkdir", "cp", "true", "timeout", "env"}
# Local cargo commands other than `cargo run -p devtools` and `cargo lambda`.
CARGO_PLAIN = {"test", "build", "bench", "fmt", "clippy", "fuzz", "install"}
# Scripts whose positional arguments are checked against a list the script prints itself.
POSITIONAL = {"scripts/fuzz.sh": ["--list"]}
# Scripts whose first argument is a command (a word of their `case` arms); the rest are its
# arguments (a port).
SUBCOMMANDS = {"scripts/dynamodb-local.sh", "scripts/aws-local.sh"}
OPERATORS = {";", "&&", "||", "|", "&"}
REDIRECTS = {">", ">>", "<", "2>"}


def shell_blocks(markdown):
    """(line number, text) of every command in the Markdown's ```sh and ```bash blocks, with
    continuation lines joined."""
    commands, inside, pending, start = [], False, "", 0
    for number, line in enumerate(markdown.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            inside = not inside and stripped[3:].strip() in ("sh", "bash", "shell", "console")
            pending = ""
            continue
        if not inside:
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        pending += stripped
        if open_quote(pending):
            pending += "\n"  # a quoted string goes on (a JSON secret over several lines)
            continue
        if pending.strip():
            commands.append((start, pending))
        pending = ""
    return commands


def open_quote(text):
    try:
        shlex.split(text, comments=True)
        return False
    except ValueError:
        return True


def split_commands(text):
    """The simple commands of a command line, as token lists: comments dropped, split at the
    control operators, redirections and leading VAR=value assignments removed, and the
    brackets of optional parts (`[--segments 4]`) taken off."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    tokens = list(lexer)
    commands, current, skip_next = [], [], False
    for token in tokens:
        if skip_next:
            skip_next = False
            continue
        if token in OPERATORS:
            if current:
                commands.append(current)
            current = []
            continue
        if token in REDIRECTS or re.match(r"^[0-9]?>", token):
            skip_next = token in REDIRECTS  # the file follows
            continue
        token = token.strip("[]")
        if not token:
            continue
        if not current and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", token):
            continue  # an assignment before the command
        current.append(token)
    if current:
        commands.append(current)
    return commands


def classify(command):
    """'local-script', 'ingest-dev', 'cargo-lambda', 'local', 'sam' (deploy-only, its options
    checked), 'deploy' or 'unknown'."""
    head = command[0]
    if head == "bash" and len(command) > 1:
        head = command[1]
    if re.fullmatch(r"(\./)?(scripts|bench)/[\w.-]+\.sh", head):
        return "local-script"
    if head == "ingest-dev" or head.endswith("/ingest-dev"):
        return "ingest-dev"
    if head == "cargo" and len(command) > 1:
        if command[1] == "lambda":
            return "cargo-lambda"
        if command[1] == "run" and "-p" in command and "devtools" in command and "--" in command:
            return "ingest-dev"
        if command[1] in CARGO_PLAIN or command[1] == "run":
            return "local"
    if head == "sam":
        return "sam"
    if head in DEPLOY_ONLY:
        return "deploy"
    if head in PLAIN or re.fullmatch(r"(bench|scripts)/[\w.-]+\.py", head):
        return "local"
    return "unknown"


def script_options(path):
    """{option: takes a value} from the script's own option handling: its `case` arms."""
    text = path.read_text()
    options = {}
    for patterns, body in re.findall(r"^\s*([-\w|* =\"']+)\)(.*?);;", text, re.M | re.S):
        for pattern in patterns.split("|"):
            pattern = pattern.strip().strip("\"'")
            if not pattern.startswith("-") or pattern in ("-*", "--*"):
                continue
            name = pattern[:-2] if pattern.endswith("=*") else pattern
            takes_value = "$2" in body or "shift 2" in body or pattern.endswith("=*")
            options[name] = options.get(name, False) or takes_value
    return options


@lru_cache(maxsize=None)
def script_help(script):
    result = subprocess.run(["bash", script, "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    return result.returncode, result.stdout + result.stderr


@lru_cache(maxsize=None)
def script_list(script, flag):
    result = subprocess.run(["bash", script, flag], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, check=True)
    return set(result.stdout.split())


def check_script(command):
    """Problems with a `scripts/X.sh …` command."""
    if command[0] == "bash":
        command = command[1:]
    script = command[0].removeprefix("./")
    path = ROOT / script
    if not path.is_file():
        return [f"{script} does not exist"]
    status, help_text = script_help(script)
    if status != 0:
        return [f"`{script} --help` fails ({status}): {help_text.strip()[:200]}"]
    options = script_options(path)
    problems, positional, args = [], [], command[1:]
    index = 0
    while index < len(args):
        arg = args[index]
        if arg.startswith("-"):
            name, _, inline = arg.partition("=")
            if name not in options:
                problems.append(f"{script} has no option {name} (its options: "
                                f"{', '.join(sorted(options)) or 'none'})")
            elif name not in help_text:
                problems.append(f"{script}'s --help does not name {name}")
            elif options[name] and not inline:
                index += 1
        else:
            positional.append(arg)
        index += 1
    if script in SUBCOMMANDS:
        words = set(re.findall(r"^\s*([a-z][\w-]*)\)", path.read_text(), re.M))
        if not positional or positional[0] not in words:
            problems.append(f"{script}: {positional[:1]} is not one of its commands {sorted(words)}")
    elif positional:
        if script in POSITIONAL:
            known = script_list(script, *POSITIONAL[script])
            for arg in positional:
                if arg not in known:
                    problems.append(f"{script}: {arg!r} is not one of "
                                    f"`{script} {' '.join(POSITIONAL[script])}`: {sorted(known)}")
        else:
            problems.append(f"{script} takes no arguments but options; given {positional}")
    return problems


def ingest_dev_binary():
    """target/debug/ingest-dev, built when it is not there (scripts/test.sh has built it)."""
    if not os.access(INGEST_DEV, os.X_OK):
        subprocess.run(["cargo", "build", "--quiet", "--workspace", "--bin", "ingest-dev"],
                       cwd=ROOT, check=True)
    return str(INGEST_DEV)


@lru_cache(maxsize=None)
def clap_help(program, path):
    """(subcommands, {option: takes a value}) of a clap command's --help."""
    result = subprocess.run([*program, *path, "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    if result.returncode != 0:
        raise AssertionError(f"`{' '.join([*program, *path])} --help` failed: {result.stderr}")
    commands, options, section, last = set(), {}, None, None
    for line in result.stdout.splitlines():
        if re.match(r"^[A-Z][\w ]*:\s*$", line):
            section = line.strip().rstrip(":").lower()
            continue
        if section == "commands":
            match = re.match(r"^\s{2}([a-z][\w-]*)", line)
            if match:
                commands.add(match.group(1))
        elif section:  # Options, and cargo's own sections (Compilation Options, ...)
            if line.strip().startswith("-"):
                for match in re.finditer(
                        r"(?:^|[\s,])(--[a-z][\w-]*)(?:[ =](<[^>]+>|\[[^\]]+\]))?", line):
                    last = match.group(1)
                    options[last] = bool(match.group(2))
            aliases = re.search(r"\[alias(?:es)?: ([^\]]+)\]", line)
            if aliases and last:
                for alias in re.findall(r"--[a-z][\w-]*", aliases.group(1)):
                    options[alias] = options[last]
    return commands, options


def check_clap(program, args, label):
    """Problems with a clap program's command line: each subcommand and option, level by
    level."""
    problems, path, index = [], (), 0
    while index < len(args):
        arg = args[index]
        commands, options = clap_help(program, path)
        if arg.startswith("--"):
            name, _, inline = arg.partition("=")
            if name not in options and name != "--help":
                problems.append(f"`{label} {' '.join(path)}` has no option {name} "
                                f"(its options: {', '.join(sorted(options))})")
            elif options.get(name) and not inline:
                index += 1
        elif not path or commands:
            if arg in commands:
                path = (*path, arg)
            elif not path:
                problems.append(f"`{label}` has no command {arg!r} "
                                f"(its commands: {', '.join(sorted(commands))})")
                return problems
            # else: a positional argument (a placeholder such as <MessagesTableName>)
        index += 1
    return problems


def check_ingest_dev(command):
    if command[0] == "cargo":
        command = command[command.index("--") + 1:]
    else:
        command = command[1:]
    return check_clap((ingest_dev_binary(),), command, "ingest-dev")


def check_cargo_lambda(command):
    cargo_lambda = shutil.which("cargo-lambda") or str(ROOT / ".tools" / "venv" / "bin" / "cargo-lambda")
    if not os.access(cargo_lambda, os.X_OK):
        return ["cargo-lambda is not installed (scripts/setup.sh installs it)"]
    return check_clap((cargo_lambda, "lambda"), command[2:], "cargo lambda")


@lru_cache(maxsize=None)
def sam_help(subcommand):
    sam = shutil.which("sam") or str(ROOT / ".tools" / "venv" / "bin" / "sam")
    if not os.access(sam, os.X_OK):
        return None
    result = subprocess.run([sam, subcommand, "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, env={**os.environ, "SAM_CLI_TELEMETRY": "0"})
    return result.stdout if result.returncode == 0 else ""


def check_sam(command):
    """A deploy-only command, not run: its subcommand and options against `sam <sub> --help`
    (offline), so that a misspelt option is caught before someone deploys with it."""
    if len(command) < 2:
        return []
    help_text = sam_help(command[1])
    if help_text is None:
        return ["the SAM CLI is not installed (scripts/setup.sh --deploy-tools installs it)"]
    if not help_text:
        return [f"`sam {command[1]}` is not a SAM command"]
    return [f"`sam {command[1]}` has no option {name}" for name in
            (arg.partition("=")[0] for arg in command[2:] if arg.startswith("--"))
            if not re.search(rf"(^|[\s,/]){re.escape(name)}(\s|$|,)", help_text, re.M)]


CHECKS = {"local-script": check_script, "ingest-dev": check_ingest_dev,
          "cargo-lambda": check_cargo_lambda, "sam": check_sam}


def every_command():
    for document in DOCUMENTS:
        for line, text in shell_blocks(document.read_text()):
            for command in split_commands(text):
                yield f"{document.relative_to(ROOT)}:{line}", text, command


class SplitTest(unittest.TestCase):
    """The reader's own rules, on made-up lines."""

    def test_comments_continuations_and_operators(self):
        self.assertEqual(split_commands('scripts/run-local.sh   # run it: a, b'),
                         [["scripts/run-local.sh"]])
        self.assertEqual(split_commands('A=1 B="x y" cargo run -p devtools -- timeline t >out'),
                         [["cargo", "run", "-p", "devtools", "--", "timeline", "t"]])
        self.assertEqual(split_commands("SECRET=s; umask 077"), [["umask", "077"]])
        self.assertEqual(split_commands("sam build --beta-features && sam deploy"),
                         [["sam", "build", "--beta-features"], ["sam", "deploy"]])
        self.assertEqual(split_commands("x backfill <T> [--segments 4]")[0][-2:],
                         ["--segments", "4"])

    def test_classification(self):
        self.assertEqual(classify(["scripts/fuzz.sh"]), "local-script")
        self.assertEqual(classify(["bash", "scripts/test.sh"]), "local-script")
        self.assertEqual(classify(["cargo", "run", "-p", "devtools", "--", "inbox"]), "ingest-dev")
        self.assertEqual(classify(["cargo", "lambda", "invoke"]), "cargo-lambda")
        self.assertEqual(classify(["sam", "deploy", "--guided"]), "sam")
        self.assertEqual(classify(["aws", "dynamodb", "delete-table"]), "deploy")
        self.assertEqual(classify(["terraform", "apply"]), "unknown")


class ScriptCheckTest(unittest.TestCase):
    """The script check catches what issue 23 found: a fuzz target named after a provider."""

    def test_an_unknown_fuzz_target_is_reported(self):
        problems = check_script(["scripts/fuzz.sh", "--seconds", "60", "partoo"])
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("'partoo' is not one of", problems[0])
        self.assertEqual(check_script(["scripts/fuzz.sh", "--seconds", "60", "webhook_body"]), [])

    def test_unknown_options_and_scripts_are_reported(self):
        self.assertTrue(check_script(["scripts/run-local.sh", "--serve"]))
        self.assertTrue(check_script(["scripts/test.sh", "--quick"]))
        self.assertTrue(check_script(["scripts/nothing.sh"]))
        self.assertEqual(check_script(["scripts/run-local.sh", "--check"]), [])
        self.assertEqual(check_script(["scripts/bench.sh", "--only", "write-units"]), [])


class SamCheckTest(unittest.TestCase):
    def test_a_misspelt_sam_option_is_reported(self):
        self.assertEqual(check_sam(["sam", "deploy", "--guided"]), [])
        self.assertEqual(check_sam(["sam", "deploy", "--parameter-overide", "X=1"]),
                         ["`sam deploy` has no option --parameter-overide"])


class IngestDevCheckTest(unittest.TestCase):
    def test_unknown_commands_and_options_are_reported(self):
        self.assertTrue(check_ingest_dev(["ingest-dev", "replay", "t", "--dryrun"]))
        self.assertTrue(check_ingest_dev(["ingest-dev", "no-such-command"]))
        self.assertEqual(check_ingest_dev(["ingest-dev", "replay", "t", "--dry-run"]), [])
        self.assertEqual(check_ingest_dev(
            ["ingest-dev", "inbox", "--url", "https://x", "messages", "callbell", "c"]), [])


class ReadmeCommandsTest(unittest.TestCase):
    def test_every_command_is_classified(self):
        unknown = [f"{where}: {' '.join(command)}" for where, _, command in every_command()
                   if classify(command) == "unknown"]
        self.assertEqual(unknown, [], "commands of no known kind (classify them in "
                                      "tests/test_readme_commands.py)")

    def test_every_local_command_runs_as_written(self):
        problems = []
        for where, text, command in every_command():
            check = CHECKS.get(classify(command))
            if check:
                problems += [f"{where}: {text.strip()}\n    {problem}" for problem in check(command)]
        self.assertEqual(problems, [], "\n" + "\n".join(problems))

    def test_the_first_screen_runs_and_tests(self):
        first = "\n".join((ROOT / "README.md").read_text().splitlines()[:60])
        firsts = [command[0] for _, text in shell_blocks(first) for command in split_commands(text)]
        self.assertIn("scripts/run-local.sh", firsts, "the run command within the first 60 lines")
        self.assertIn("scripts/test.sh", firsts, "the test command within the first 60 lines")


def anchors(markdown):
    """The anchors of a Markdown page as GitHub makes them: a slug per heading (lower case,
    punctuation dropped, spaces as hyphens, a repeated one numbered) and every <a id>."""
    found, seen, inside = set(), {}, False
    for line in markdown.splitlines():
        if line.startswith("```"):
            inside = not inside
        if inside:
            continue
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).replace("`", "").lower()).replace(" ", "-")
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}-{count}")
    found |= set(re.findall(r'<a id="([^"]+)"', markdown))
    return found


def broken_links(document):
    """Relative links of a page whose file or anchor does not exist."""
    text = document.read_text()
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        linked = (document.parent / path).resolve() if path else document
        if not linked.exists():
            broken.append(f"{target}: no file {path}")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text()):
            broken.append(f"{target}: no heading or anchor #{anchor} in {linked.relative_to(ROOT)}")
    return broken


class DocLinksTest(unittest.TestCase):
    """The README's and docs/' relative links lead somewhere: content moves between them."""

    def test_slugs(self):
        self.assertEqual(anchors("## The projector: conversation summaries\n### 1. Store it\n"
                                 "### Alternative: `cargo lambda deploy`\n## X\n## X\n"),
                         {"the-projector-conversation-summaries", "1-store-it",
                          "alternative-cargo-lambda-deploy", "x", "x-1"})

    def test_every_relative_link_resolves(self):
        broken = [f"{document.relative_to(ROOT)}: {problem}" for document in DOCUMENTS
                  for problem in broken_links(document)]
        self.assertEqual(broken, [], "\n" + "\n".join(broken))


if __name__ == "__main__":
    unittest.main()
