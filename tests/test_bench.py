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
    variants = ["tiktok-shop", report.WARM_UP, report.PEER, "partoo", "callbell"]

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
        cold[f"tls-{mb}"] = {v: runs(50 if v == report.PEER else 1, True) for v in variants}
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
                        "## Reading the figures"):
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


if __name__ == "__main__":
    unittest.main()
