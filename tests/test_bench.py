"""The bench's arithmetic and rendering (bench/): what Lambda bills, the CPU shares, the
callgrind and local.env readers, and docs/PERFORMANCE.md rendered from a made-up run, every
section present. Standard library only; run by scripts/test.sh and at the start of
scripts/bench.sh (python -m unittest tests/test_bench.py)."""

import json
import math
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import cgroups  # noqa: E402
import cost  # noqa: E402
import harness  # noqa: E402
import report  # noqa: E402
import write_units  # noqa: E402


class Cost(unittest.TestCase):
    def test_billed_duration_is_rounded_up_to_the_millisecond(self):
        self.assertEqual(cost.billed_ms(0.2), 1)
        self.assertEqual(cost.billed_ms(1.0), 1)
        self.assertEqual(cost.billed_ms(1.0001), 2)
        self.assertEqual(cost.billed_ms(12.5), 13)
        self.assertEqual(cost.billed_ms(3.0000000000004), 3)  # float noise is not a millisecond
        self.assertEqual(cost.billed_ms(0), 1)
        with self.assertRaises(ValueError):
            cost.billed_ms(-1)

    def test_the_mean_of_billed_durations_not_the_billed_mean(self):
        # 1.1 and 1.1 bill 2 ms each; their mean (1.1) would bill 2 too, but 0.5 and 1.5 bill
        # 1 and 2 (mean 1.5), not 1.
        self.assertEqual(cost.mean_billed_ms([1.1, 1.1]), 2)
        self.assertEqual(cost.mean_billed_ms([0.5, 1.5]), 1.5)
        with self.assertRaises(ValueError):
            cost.mean_billed_ms([])

    def test_a_million_invocations(self):
        # 128 MB for 10 ms on x86_64: 0.125 GB × 0.01 s × $0.0000166667 = $2.0833e-8 each,
        # $0.0208 a million, plus $0.20 of requests.
        self.assertAlmostEqual(cost.per_million_usd(128, 10, "x86_64"), 0.20 + 0.0208333750, places=9)
        # 512 MB for 100 ms on arm64: 0.5 × 0.1 × 0.0000133334 × 1e6 = $0.66667, plus $0.20.
        self.assertAlmostEqual(cost.per_million_usd(512, 100, "arm64"), 0.20 + 0.66667, places=6)
        # Twice the memory for the same time costs twice the duration part.
        a = cost.per_million_usd(256, 7, "arm64") - 0.20
        b = cost.per_million_usd(128, 7, "arm64") - 0.20
        self.assertAlmostEqual(a, 2 * b, places=12)
        self.assertAlmostEqual(cost.invocation_usd(1024, 1000, "x86_64"), 0.2e-6 + 0.0000166667, places=15)

    def test_prices_are_the_published_first_tier(self):
        self.assertEqual(cost.PRICES["gb_second_usd"], {"arm64": 0.0000133334, "x86_64": 0.0000166667})
        self.assertAlmostEqual(cost.PRICES["request_usd"] * 1e6, 0.20)
        self.assertIn("aws.amazon.com/lambda/pricing", cost.PRICES["source"])


    def test_the_rest_of_a_messages_bill(self):
        # A GiB kept twelve months at $0.25 a GB-month: $3.00; a million messages of 8 write
        # units at $0.625 a million: $5.00; a million read units: $0.125.
        self.assertAlmostEqual(cost.storage_year_usd(1024 ** 3), 3.00)
        self.assertAlmostEqual(cost.writes_usd(8 * 1_000_000), 5.00)
        self.assertAlmostEqual(cost.reads_usd(1_000_000), 0.125)
        self.assertAlmostEqual(cost.OTHER_PRICES["http_api_request_usd"] * 1e6, 1.00)
        self.assertIn("aws.amazon.com/dynamodb/pricing/on-demand", cost.OTHER_PRICES["source"])
        self.assertIn("aws.amazon.com/api-gateway/pricing", cost.OTHER_PRICES["source"])


class Shares(unittest.TestCase):
    def test_the_memorys_share_of_a_vcpu(self):
        self.assertAlmostEqual(cgroups.share(1769), 1.0)
        self.assertEqual(round(cgroups.share(128), 4), 0.0724)
        self.assertEqual(round(cgroups.share(256), 3), 0.145)
        self.assertEqual(round(cgroups.share(512), 3), 0.289)

    def test_quotas(self):
        self.assertEqual(cgroups.quota_us(256, 100_000), 14_471)
        self.assertEqual(cgroups.quota_us(128, 100_000), 7_236)
        self.assertEqual(cgroups.quota_us(512, 100_000), 28_943)
        self.assertEqual(cgroups.quota_us(128, 10_000), 1_000)  # the kernel's 1 ms floor


class Readers(unittest.TestCase):
    def test_local_env_reads_as_the_test_kit_reads_it(self):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d, "env")
            path.write_text("# c\nA=1\nexport B = two \nC=\"x=y\"\nD='q'\n\nnot a line\n")
            self.assertEqual(harness.read_env_file(path), {"A": "1", "B": "two", "C": "x=y", "D": "q"})
        local = harness.read_env_file(ROOT / "local.env")
        for name in ("TIKTOK_SHOP_APP_KEY", "TIKTOK_SHOP_APP_SECRET", "PARTOO_PUBLIC_KEYS",
                     "CALLBELL_WEBHOOK_SECRET", "CALLBELL_URL_TOKEN", "TABLE_NAME"):
            self.assertIn(name, local)
        self.assertFalse(local["CALLBELL_WEBHOOK_SECRET"].startswith('"'))

    def test_callgrind_totals(self):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d, "callgrind.out.1.1")
            path.write_text("# callgrind format\nversion: 1\nevents: Ir\npart: 1\nfn=(1) main\n3 5\n"
                            "totals: 123456\n")
            self.assertEqual(harness.callgrind_totals(path), 123456)
            path.write_text("events: Ir\nsummary: 99\n")
            self.assertEqual(harness.callgrind_totals(path), 99)
            path.write_text("events: Ir\n")
            with self.assertRaises(harness.Failed):
                harness.callgrind_totals(path)

    def test_memory_sizes(self):
        self.assertEqual(harness.parse_memory("128,256, 512"), [128, 256, 512])
        with self.assertRaises(Exception):
            harness.parse_memory("64")


class Fractions(unittest.TestCase):
    def test_fractions(self):
        self.assertEqual(report.fraction(1, 50), "1/50")
        self.assertEqual(report.fraction(0.89, 5.88), "1/6.6")
        self.assertEqual(report.fraction(3, 4), "0.75×")
        self.assertEqual(report.fraction(0, 4), "–")


def made_up_run() -> dict:
    """A harness JSON with every section, as a smoke run produces it."""
    variants = ["tiktok-shop", report.WARM_UP, report.PEER, "partoo", "callbell", report.INBOX]

    def runs(scale: float, throttled: bool) -> list[dict]:
        return [{
            "init_ms": 10 * scale, "init_cpu_ms": 8 * scale, "first_ms": 20 * scale,
            "first_busy_ms": 21 * scale, "first_cpu_ms": 3 * scale,
            "cold_billed_ms": math.ceil(31 * scale), "warm_ms": 4 * scale, "warm_busy_ms": 4.5 * scale,
            "warm_billed_ms": 5 * scale, "warm_cpu_us": 700 * scale, "peak_rss_kib": 8000 * scale,
            **({"throttling": {"periods": 10, "throttled": 3, "throttled_ms": 40.0}} if throttled else {}),
        } for _ in range(2)]

    settings = {"plain": {"label": "whole core, plain HTTP", "tls": False, "memory_mb": 256, "share": 1.0,
                          "quota_us": 100_000}}
    cold = {"plain": {v: runs(40 if v == report.PEER else 1, False) for v in variants}}
    for mb in (128, 256, 512):
        settings[f"tls-{mb}"] = {"label": f"TLS, {mb} MB", "tls": True, "memory_mb": mb,
                                 "share": mb / 1769, "quota_us": round(mb / 1769 * 100_000)}
        cold[f"tls-{mb}"] = {v: runs({report.PEER: 50, report.INBOX: 2}.get(v, 1), True) for v in variants}
    instructions = {v: [{"startup": 3_000_000_000 if v == report.PEER else 20_000_000,
                         "startup_with_bundle": 3_000_000_000 if v == report.PEER else 24_000_000,
                         "priming_invocations": 3,
                         "warm_per_invocation": [10e6, 10.1e6] if v == report.PEER else [0.9e6, 0.91e6],
                         "warm_invocations": 4, "slowest_warm_ms": 120.0}] * 2
                    for v in variants if v != report.WARM_UP}
    return {
        "machine": {"cpu": "x", "cores": 2, "memory_gib": 8, "kernel": "6", "python": "3.11"},
        "runs": 2, "warm": 3, "memory": [128, 256, 512], "cfs_period_us": 100_000, "full_vcpu_mb": 1769,
        "cgroup": "v1 (/sys/fs/cgroup/cpu)", "settings": settings, "cold": cold,
        "throughput": {"tiktok-shop": [{"clients": 1, "requests": 10, "seconds": 1, "requests_per_s": 10,
                                        "cpu_us_per_request": 700}]},
        "instructions": instructions, "callgrind_runs": 2, "callgrind_warm": 4,
        "terminator": {"command": "socat ...", "round_trips": 30, "stall_threshold_ms": 20, "direct_ms": 1.2,
                       "terminator_ms": 1.4, "without_nodelay_ms": 90, "control_stalled": True,
                       "dynamodb": {"round_trips": 30, "plain_ms": 5, "tls_ms": 6}},
        "event_sizes": {"tiktok-shop": {"event": 1500, "body": 512}},
    }


class Rendering(unittest.TestCase):
    def test_every_section_renders(self):
        medians = {}
        for provider in report.PROVIDERS:
            for size in ("1KiB", "4KiB"):
                medians[(f"parse/{provider}/{size}", "floor: serde_json IgnoredAny")] = 1000
                medians[(f"parse/{provider}/{size}", "Provider::read")] = 3000
                medians[(f"verify/{provider}/{size}", "primitive: HMAC-SHA256")] = 1000
                medians[(f"verify/{provider}/{size}", "Verifier::verify")] = 1100
        meta = {"date": "d", "commit": "c", "rustc": "r", "cargo_lambda": "l", "java": "j",
                "dynamodb_local": "2026", "peer_packages": "p", "valgrind": "valgrind-3.19.0",
                "socat": "socat 1.7.4.4", "unzipped_sizes": {f: 6_000_000 for f in report.FUNCTIONS},
                "commands": ["bash scripts/bench.sh"]}
        with tempfile.TemporaryDirectory() as d:
            for function in report.FUNCTIONS:
                Path(d, function).mkdir()
                Path(d, function, "bootstrap.zip").write_bytes(b"z" * 100)
            text, targets = report.render(medians, json.loads(json.dumps(made_up_run())), meta, Path(d),
                                          "## Reading the figures\n")
        for heading in ("## Zipped bootstraps", "## Parsing and verification", "## Cold starts as AWS runs them",
                        "### 128 MB", "### 256 MB", "### 512 MB", "## Instructions (callgrind)",
                        "## Memory size: cold start and cost per million messages",
                        "## DYNAMODB_WARM_UP, with TLS and the CPU share", "## The TLS terminator",
                        "## Whole core, plain HTTP", "## Throughput", "## Targets", "## Commands",
                        "## Reading the figures", report.INBOX_HEADING):
            self.assertIn(heading, text)
        names = [name for name, _, _ in targets]
        for function in report.FUNCTIONS:
            self.assertIn(f"{function} start-up instructions ≤ 1/80 of the peer's", names)
            self.assertIn(f"{function} instructions per warm invocation ≤ 1/10 of the peer's", names)
            self.assertIn(f"{function} init + first ≤ 1/20 of the peer's, 256 MB (TLS, CPU share)", names)
            self.assertIn(f"{function} zip ≤ 3.5 MB", names)
        verdicts = {name: ok for name, _, ok in targets}
        # 20 M against 3 G is 1/150; 0.9 M against 10 M is 1/11; 30 ms against 1500 ms is 1/50.
        self.assertTrue(verdicts["tiktok-shop start-up instructions ≤ 1/80 of the peer's"])
        self.assertTrue(verdicts["tiktok-shop instructions per warm invocation ≤ 1/10 of the peer's"])
        self.assertTrue(verdicts["tiktok-shop init + first ≤ 1/20 of the peer's, 128 MB (TLS, CPU share)"])
        # 128 MB, 5 ms billed: $0.20 + 0.125 × 0.005 × 0.0000133334 × 1e6 = $0.208.
        self.assertIn("$0.208 / $0.210 (5.0 ms)", text)


def case(name, role, answer, wru, corpus="samples", rru=0.0, message_bytes=None, raw=0, stored=None):
    c = {"name": name, "corpus": corpus, "role": role, "answer": answer, "wru": wru, "rru": rru,
         "operations": ["TransactWriteItems"], "stored_bytes": stored or 0}
    if message_bytes is not None:
        c.update(message_item_bytes=message_bytes, message_item_bytes_without_raw=message_bytes - raw,
                 one_put_wru=-(-message_bytes // 1024), one_put_wru_without_raw=-(-(message_bytes - raw) // 1024),
                 one_put_stored_bytes=message_bytes + 100)
    return c


def made_up_write_units():
    return {
        "commit": "abc1234", "date": "2026-12-02 12:00 UTC", "binaries": "target/debug", "peer": report.PEER,
        "calibration": [{"case": "two small", "sizes": [100, 100], "dynamodb_local": 2, "meter": 4}],
        "variants": {
            "tiktok-shop": {"function": "tiktok-shop", "samples": [
                case("text", "new", "stored", 4, message_bytes=900, raw=470, stored=1300),
                case("text", "redelivery", "duplicate", 2),
                case("video", "new", "stored", 6, message_bytes=1700, raw=950, stored=2100),
                case("video", "redelivery", "duplicate", 3),
                case("bad", "other", "error", 1)],
                "golden": [case("golden t", "new", "stored", 4, corpus="golden", message_bytes=822, raw=470,
                                stored=1264)]},
            "partoo": {"function": "partoo", "samples": [
                case("p", "new", "stored", 8, message_bytes=2600, raw=2000, stored=3000),
                case("p", "redelivery", "duplicate", 4),
                case("u", "update", "updated", 3, rru=2.0)],
                "golden": [case("golden p", "new", "stored", 8, corpus="golden", message_bytes=2636, raw=2037,
                                stored=3068)]},
            "callbell": {"function": "callbell", "samples": [],
                         "golden": [case("golden c", "new", "stored", 10, corpus="golden", message_bytes=3280,
                                         raw=2437, stored=3800)]},
            report.PEER: {"function": "tiktok-shop", "samples": [
                case("text", "new", "stored", 1, message_bytes=900, raw=470, stored=1000),
                case("text", "redelivery", "duplicate", 1),
                case("same-index", "new", "duplicate", 1),
                case("same-index", "redelivery", "duplicate", 1),
                case("video", "new", "stored", 2, message_bytes=1300, raw=950, stored=1400),
                case("video", "redelivery", "duplicate", 2)],
                "golden": [case("golden t", "new", "stored", 1, corpus="golden", message_bytes=822, raw=470,
                                stored=922)]},
        },
    }


class WriteUnits(unittest.TestCase):
    def test_the_section_and_its_targets(self):
        lines, targets = report.render_write_units(made_up_write_units(), {"tiktok-shop": 0.222, report.PEER: 0.311},
                                                   "a run")
        text = "\n".join(lines)
        self.assertTrue(text.startswith("## Write units per message"))
        self.assertIn("`abc1234`", text)
        # TikTok: new 4, 6 and golden 4: mean 4.67; redeliveries 2 and 3; the peer measured: new 1, 2
        # and golden 1 (4/3), the same-index message it did not store left out of both.
        self.assertIn("| tiktok-shop | 4.67 (4–6) | 4 | 2.5 | – | 1.33 / 1.5 (measured) | 3 |", text)
        # Partoo: the peer's way computed from our items: 2,600 B and 2,636 B are 3 units each.
        self.assertIn("| partoo | 8 (8) | 8 | 4 | 3 | 3 / 3 (computed) | 2 |", text)
        self.assertIn("same-index (duplicate)", text)
        # Issue 19's figures: Callbell's golden item is 3,280 B: 4 units, not 3.
        self.assertIn("| callbell | 10 | 8 | 4 | 3 | 3,280 (2,437) | 1 |", text)
        self.assertIn("Issue 19's 8 and 3 are those of a message item of 2,049 to 3,072 bytes", text)
        # A million TikTok messages: 4.67 WRU × $0.625 = $2.917; the peer's 1.33 × $0.625 = $0.833.
        self.assertIn("| DynamoDB writes | $2.917 | $0.833 |", text)
        # Storage: (1300 + 2100 + 1264) / 3 bytes a message, a million of them, a year at $0.25.
        self.assertIn(f"| DynamoDB storage, a year | {report.usd(cost.storage_year_usd(4664 / 3 * 1e6))} |", text)
        self.assertIn("| Lambda (256 MB, arm64, warm) | $0.222 | $0.311 | – | $0.311 | – | $0.311 |", text)
        self.assertIn("(without Lambda)", text)  # partoo's total lacks its Lambda figure
        self.assertIn("| two small | 100 B, 100 B | 2 | 4 |", text)
        verdicts = {name: (figure, ok) for name, figure, ok in targets}
        # Mean over 3 + 2 + 1 new messages: (14 + 16 + 10) / 6 = 6.67.
        self.assertEqual(verdicts["mean WRU per new message ≤ 2 (issue 19)"], ("6.67", False))
        self.assertEqual(verdicts["partoo WRU per new message ≤ the peer's"], ("8 against 3", False))
        self.assertTrue(verdicts["tiktok-shop WRU per redelivery ≤ per new message"][1])
        self.assertEqual(verdicts["tiktok-shop WRU per new message ≤ the peer's"],
                         ("4.67 against 1.33 (the 3 bodies both stored)", False))

    def test_against_the_peer_over_the_bodies_both_stored(self):
        # Ours stores TikTok's second message of one index (two writes: the taken key, then the
        # one beside it), which the peer drops as a duplicate: that body is left out of both.
        ours = {"function": "tiktok-shop", "golden": [], "samples": [
            case("text", "new", "stored", 1), case("same-index", "new", "stored", 2),
            case("video", "new", "stored", 2)]}
        peer = {"function": "tiktok-shop", "golden": [], "samples": [
            case("text", "new", "stored", 1), case("same-index", "new", "duplicate", 1),
            case("video", "new", "stored", 2)]}
        self.assertEqual(report.against_the_peer(ours, peer), ([1, 2], [1, 2]))
        data = made_up_write_units()
        data["variants"]["tiktok-shop"] = ours
        data["variants"][report.PEER] = peer
        _, targets = report.render_write_units(data, {}, "a run")
        verdicts = {name: (figure, ok) for name, figure, ok in targets}
        self.assertEqual(verdicts["tiktok-shop WRU per new message ≤ the peer's"],
                         ("1.5 against 1.5 (the 2 bodies both stored)", True))

    def test_the_read_side_per_new_message(self):
        data = made_up_write_units()
        # TikTok: 3 new messages costing 4 units of their own; the projector one at a time 9
        # units (three summary writes of 3), in one batch 4 (one write, a new conversation).
        data["variants"]["tiktok-shop"]["read_side"] = {
            "1": {"batch": 1, "new_messages": 3, "message_wru": 4, "wru": 9, "rru": 1.5, "summary_puts": 3},
            "100": {"batch": 100, "new_messages": 3, "message_wru": 4, "wru": 4, "rru": 0.5, "summary_puts": 1}}
        data["variants"]["partoo"]["read_side"] = {
            "1": {"batch": 1, "new_messages": 1, "message_wru": 2, "wru": 3, "rru": 0.5, "summary_puts": 1},
            "100": {"batch": 100, "new_messages": 1, "message_wru": 2, "wru": 3, "rru": 0.5, "summary_puts": 1}}
        lines, targets = report.render_write_units(data, {}, "a run")
        text = "\n".join(lines)
        self.assertIn("| tiktok-shop | 3 | 1.33 | 3 (3 summary writes) | 4.33 | 1.33 (1 summary writes) | 2.67 |", text)
        # All: (4 + 9 + 2 + 3) / 4 one at a time, (4 + 4 + 2 + 3) / 4 in batches.
        self.assertIn("| all three, one at a time | 4 | | | 4.5 | | |", text)
        self.assertIn("| all three, batches of 100 | 4 | | | 3.25 | | |", text)
        self.assertIn("| WRU per new message with the read side ≤ 4 (issue 20; batches of 100) | "
                      "3.25 (one at a time: 4.5) | met |", text)
        verdicts = {name: (figure, ok) for name, figure, ok in targets}
        self.assertEqual(verdicts["WRU per new message with the read side ≤ 4 (issue 20; batches of 100)"],
                         ("3.25 (one at a time: 4.5)", True))

    def test_the_whole_report_carries_it(self):
        medians = {}
        for provider in report.PROVIDERS:
            medians[(f"parse/{provider}/1KiB", "floor: serde_json IgnoredAny")] = 1000
            medians[(f"parse/{provider}/1KiB", "Provider::read")] = 3000
            medians[(f"verify/{provider}/1KiB", "primitive: HMAC-SHA256")] = 1000
            medians[(f"verify/{provider}/1KiB", "Verifier::verify")] = 1100
        meta = {"date": "d", "commit": "c", "rustc": "r", "cargo_lambda": "l", "java": "j",
                "dynamodb_local": "2026", "peer_packages": "p", "unzipped_sizes": {f: 1 for f in report.FUNCTIONS},
                "commands": []}
        with tempfile.TemporaryDirectory() as d:
            for function in report.FUNCTIONS:
                Path(d, function).mkdir()
                Path(d, function, "bootstrap.zip").write_bytes(b"z")
            text, targets = report.render(medians, made_up_run(), meta, Path(d), "", made_up_write_units())
        self.assertLess(text.index("## Memory size"), text.index("## Write units per message"))
        self.assertLess(text.index("## Write units per message"), text.index("## DYNAMODB_WARM_UP"))
        self.assertIn("mean WRU per new message ≤ 2 (issue 19)", [name for name, _, _ in targets])
        # Lambda from the same run: 256 MB, 5 ms billed on arm64.
        self.assertIn(f"| Lambda (256 MB, arm64, warm) | {report.usd(cost.per_million_usd(256, 5, 'arm64'))} |", text)

    def test_the_inbox_beside_the_webhooks(self):
        lines = report.render_inbox(made_up_run(), {"date": "d", "commit": "abc1234",
                                                    "command": "bash scripts/bench.sh --only inbox"})
        text = "\n".join(lines)
        self.assertEqual(lines[0], report.INBOX_HEADING)
        self.assertIn("commit `abc1234`", text)
        # At 128 MB the inbox's CPU per warm invocation (1400 µs) is twice tiktok-shop's (700 µs).
        self.assertIn("| TLS, 128 MB | inbox | 8.00 ms | 10.0 ms | 1400 µs | 2.00× |", text)
        self.assertIn("| TLS, 128 MB | partoo | 4.00 ms | 5.0 ms | 700 µs |  |", text)
        self.assertIn("| inbox | 0.91 M | 20.00 M | 1.1% |", text)
        # Without the other webhooks, a run of --only inbox --only partoo, the ratio is to partoo's.
        run = made_up_run()
        for by_variant in run["cold"].values():
            for name in ("tiktok-shop", "callbell", report.WARM_UP, report.PEER):
                by_variant.pop(name)
        run["instructions"] = {}
        text = "\n".join(report.render_inbox(run))
        self.assertIn("| CPU vs partoo |", text)
        self.assertNotIn("tiktok-shop", text)
        self.assertIn("Instructions not measured", text)
        document = "# Performance\n\n## Write units per message\n\nw\n\n## DYNAMODB_WARM_UP, x\n\nkept\n"
        placed = report.insert_section(document, text, report.INBOX_HEADING, report.INBOX_BEFORE)
        self.assertTrue(placed.startswith(document.split("## DYNAMODB")[0] + report.INBOX_HEADING))
        self.assertTrue(placed.endswith("## DYNAMODB_WARM_UP, x\n\nkept\n"))
        again = report.insert_section(placed, text.replace("partoo", "PARTOO"), report.INBOX_HEADING,
                                      report.INBOX_BEFORE)
        self.assertEqual(again, placed.replace("partoo", "PARTOO"))

    def test_the_inboxs_event_and_answers(self):
        event = json.loads(harness.inbox_event("partoo", "123000001", 50))
        self.assertEqual(event["rawPath"], "/conversations/partoo/123000001/messages")
        self.assertEqual(event["requestContext"]["http"]["method"], "GET")
        self.assertEqual(event["queryStringParameters"], {"limit": "50"})
        inbox = harness.Variant(harness.INBOX, harness.INBOX, [], ROOT, {})
        webhook = harness.Variant("partoo", "partoo", [], ROOT, {})

        def answered(variant, status, body):
            invocation = harness.Invocation(b"")
            invocation.response = json.dumps({"statusCode": status, "body": json.dumps(body)}).encode()
            return harness.answered(variant, invocation)

        page = {"messages": [{"message_id": str(i)} for i in range(50)], "next_cursor": "c"}
        self.assertTrue(answered(inbox, 200, page))
        self.assertFalse(answered(inbox, 200, {"messages": page["messages"][:49], "next_cursor": None}))
        self.assertFalse(answered(inbox, 503, {"error": "table unavailable"}))
        self.assertFalse(answered(webhook, 200, page), "a webhook must store")
        self.assertTrue(answered(webhook, 200, {"status": "stored"}))

    def test_the_section_goes_in_alone(self):
        document = "# Performance\n\n## Memory size\n\ncost\n\n## DYNAMODB_WARM_UP, x\n\nkept\n"
        first = report.insert_section(document, "## Write units per message\n\nold\n")
        self.assertEqual(first, "# Performance\n\n## Memory size\n\ncost\n\n## Write units per message\n\n"
                                "old\n\n## DYNAMODB_WARM_UP, x\n\nkept\n")
        second = report.insert_section(first, "## Write units per message\n\nnew\n")
        self.assertEqual(second, first.replace("old", "new"))

    def test_lambda_figures_from_an_earlier_report(self):
        document = "\n".join([
            "- **Run:** 2026-11-29 07:46 UTC, commit `48f2569`", "",
            "**A million warm messages** on arm64 / x86_64, requests included:", "",
            "| variant | 128 MB | 256 MB | 512 MB |", "| --- | ---: | ---: | ---: |",
            "| tiktok-shop | $0.223 / $0.228 (13.5 ms) | $0.222 / $0.228 (6.7 ms) | $0.249 / $0.261 (7.3 ms) |",
            "| python peer (tiktok) | $0.318 / $0.348 (70.9 ms) | $0.311 / $0.339 (33.3 ms) | $0.310 / $0.337 (16.5 ms) |",
            "", "next"])
        figures, source = report.lambda_figures_from_report(document)
        self.assertEqual(figures, {"tiktok-shop": 0.222, "python peer (tiktok)": 0.311})
        self.assertIn("`48f2569`", source)
        self.assertEqual(report.lambda_figures_from_report("# nothing")[0], {})

    def test_an_invocations_records_summed_up(self):
        message = {"table": "t", "key": {"pk": {"S": "tiktok_shop#1"}, "sk": {"S": "MSG#0001"}}, "action": "put",
                   "outcome": "written", "bytes_before": 0, "bytes_after": 2600, "wru": 6, "rru": 0.0,
                   "rule": "", "indexes": [], "attribute_bytes": {"raw": 2000, "pk": 30}}
        id_item = dict(message, key={"pk": {"S": "tiktok_shop#1"}, "sk": {"S": "ID#1"}}, bytes_after=240, wru=2,
                       attribute_bytes={})
        records = [{"operation": "TransactWriteItems", "outcome": "ok", "wru": 8, "rru": 0.0, "note": "",
                    "items": [message, id_item], "reads": []}]
        # A schema-2 item: raw is the body (1,997 bytes) as a string, so the peer's way is that item.
        summary = write_units.summarize(records, 1997)
        self.assertEqual((summary["wru"], summary["stored_items"]), (8, 2))
        self.assertEqual(summary["stored_bytes"], 2600 + 100 + 240 + 100)
        self.assertEqual((summary["message_item_bytes"], summary["message_item_bytes_without_raw"]), (2600, 600))
        self.assertEqual((summary["one_put_wru"], summary["one_put_wru_without_raw"]), (3, 1))
        self.assertEqual(summary["peer_item_bytes"], 2600)
        # A schema-3 item: raw gzip-compressed (700 bytes with its name), and the digest the peer
        # does not keep; the peer's way holds the 1,997-byte body instead.
        schema_3 = dict(message, bytes_after=1100, wru=2,
                        attribute_bytes={"raw": 700, "body_sha256": 75, "pk": 30})
        records = [{"operation": "PutItem", "outcome": "ok", "wru": 2, "rru": 0.0, "note": "",
                    "items": [schema_3], "reads": []}]
        summary = write_units.summarize(records, 1997)
        self.assertEqual(summary["peer_item_bytes"], 1100 - 700 - 75 + 3 + 1997)
        self.assertEqual((summary["wru"], summary["one_put_wru"]), (2, 3))
        self.assertEqual(summary["one_put_stored_bytes"], 100 + summary["peer_item_bytes"])
        self.assertEqual(write_units.item_kind({"pk": {"S": "QUARANTINE#partoo"}, "sk": {"S": "x"}}), "quarantine")

    def test_the_body_of_an_event(self):
        self.assertEqual(write_units.event_body_bytes(b'{"body": "h\\u00e9"}'), 3)
        self.assertEqual(write_units.event_body_bytes(b'{"body": "aGk=", "isBase64Encoded": true}'), 2)

    def test_the_manifest_as_the_step_reads_it(self):
        rows = write_units.manifest(ROOT)
        functions = {f for f, _, _, _ in rows}
        self.assertEqual(functions, set(report.FUNCTIONS))
        self.assertIn(("tiktok-shop", "tiktok-shop/text.json", 200, "stored"), rows)
        self.assertTrue(all((ROOT / "events" / path).is_file() for _, path, _, _ in rows))
        self.assertTrue(any(answer == "updated" for _, _, _, answer in rows))


if __name__ == "__main__":
    unittest.main()
