#!/usr/bin/env python3
"""Renders docs/PERFORMANCE.md from one bench run: criterion's estimates, the harness's JSON and
the zipped bootstraps, with the issues' targets checked against the figures.

The discussion of the figures (bench/ANALYSIS.md, written by hand after reading them) is
appended as it is; everything above it is made here, from files of this run only.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cost  # noqa: E402
import meter  # noqa: E402

PROVIDERS = ["tiktok_shop", "partoo", "callbell"]
FUNCTIONS = ["tiktok-shop", "partoo", "callbell"]
PEER = "python peer (tiktok)"
WARM_UP = "tiktok-shop, no warm-up"  # the variant beside the default (harness.NO_WARM_UP)
ZIP_LIMIT = 3_500_000

# The issue's targets for the TLS + CPU share figures (issue 13).
COLD_START_RATIO = 20  # init + first invocation ≤ 1/20 of the peer's
STARTUP_INSTRUCTIONS_RATIO = 80  # start-up instructions ≤ 1/80 of the peer's
WARM_INSTRUCTIONS_RATIO = 10  # instructions per warm invocation ≤ 1/10 of the peer's
PEAK_RSS_MIB = 8  # a warm function's peak RSS (VmHWM), issue 19


def criterion_medians(root: Path) -> dict[tuple[str, str], float]:
    """(group, function) -> median in nanoseconds, from target/criterion/**/new."""
    medians = {}
    for benchmark in root.glob("**/new/benchmark.json"):
        meta = json.loads(benchmark.read_text())
        estimates = json.loads((benchmark.parent / "estimates.json").read_text())
        medians[(meta["group_id"], meta["function_id"])] = estimates["median"]["point_estimate"]
    return medians


def us(ns: float) -> str:
    return f"{ns / 1000:.2f} µs"


def ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


def mega(count: float) -> str:
    return f"{count / 1e6:.2f} M" if count < 1e9 else f"{count / 1e9:.2f} G"


def fraction(part: float, whole: float) -> str:
    """`part` as a fraction of `whole`: 1/N below one half (N to a tenth below 20, where
    targets such as 1/10 are read), N× above."""
    if part <= 0 or whole <= 0:
        return "–"
    if part * 2 > whole:
        return f"{part / whole:.2f}×"
    n = whole / part
    return f"1/{n:.1f}" if n < 20 else f"1/{n:.0f}"


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def cold_total(runs: list[dict]) -> float:
    """Median over the runs of init + first invocation: what a cold start's caller waits."""
    return statistics.median(r["init_ms"] + r["first_ms"] for r in runs)


def usd(value: float) -> str:
    return f"${value:.3f}" if value < 10 else f"${value:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--criterion", type=Path)
    parser.add_argument("--harness", type=Path)
    parser.add_argument("--zips", type=Path, help="target/lambda")
    parser.add_argument("--meta", type=Path, help="JSON: date, commit, commands, tools")
    parser.add_argument("--analysis", type=Path)
    parser.add_argument("--write-units", type=Path, help="bench/write_units.py's results")
    parser.add_argument("--write-units-only", action="store_true",
                        help="put only the write units section into --out (an existing report), "
                             "leaving every other section as it is")
    parser.add_argument("--inbox-only", action="store_true",
                        help="put only the inbox's section into --out (an existing report), from "
                             "--harness (scripts/bench.sh --only inbox), every other section left as it is")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    if args.inbox_only:
        if args.harness is None:
            parser.error("--inbox-only needs --harness")
        document = args.out.read_text() if args.out.exists() else "# Performance\n"
        meta = json.loads(args.meta.read_text()) if args.meta else None
        lines = render_inbox(json.loads(args.harness.read_text()), meta)
        args.out.write_text(insert_section(document, "\n".join(lines), INBOX_HEADING, INBOX_BEFORE))
        print(f"wrote the inbox's section of {args.out}")
        return 0

    if args.write_units_only:
        if args.write_units is None:
            parser.error("--write-units-only needs --write-units")
        document = args.out.read_text() if args.out.exists() else "# Performance\n"
        lambda_figures, lambda_source = lambda_figures_from_report(document)
        if args.harness is not None:
            lambda_figures, lambda_source = lambda_figures_from_harness(json.loads(args.harness.read_text()))
        lines, targets = render_write_units(json.loads(args.write_units.read_text()), lambda_figures, lambda_source)
        args.out.write_text(insert_section(document, "\n".join(lines)))
    else:
        missing = [f"--{n}" for n in ("criterion", "harness", "zips", "meta", "analysis") if getattr(args, n) is None]
        if missing:
            parser.error(f"the whole report needs {', '.join(missing)}")
        medians = criterion_medians(args.criterion)
        harness = json.loads(args.harness.read_text())
        meta = json.loads(args.meta.read_text())
        write_units = json.loads(args.write_units.read_text()) if args.write_units else None
        text, targets = render(medians, harness, meta, args.zips, args.analysis.read_text(), write_units)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    missed = [name for name, _, ok in targets if not ok]
    print(f"wrote {args.out}: {len(targets) - len(missed)} of {len(targets)} targets met"
          + (f"; missed: {', '.join(missed)}" if missed else ""))
    return 0


def render(medians: dict, harness: dict, meta: dict, zips: Path, analysis: str,
           write_units: dict | None = None) -> tuple[str, list]:
    machine = harness["machine"]
    targets: list[tuple[str, str, bool]] = []
    out: list[str] = []
    w = out.append
    settings = harness["settings"]
    tls_keys = [k for k, s in settings.items() if s["tls"]]

    w("# Performance\n")
    w("Generated by `bash scripts/bench.sh` (bench/report.py) from one run; the discussion at the end")
    w("is bench/ANALYSIS.md. Absolute times on a shared machine are noise: read the ratios, which")
    w("come from figures taken side by side in the same run, and the instruction counts, which do")
    w("not depend on the machine's load.\n")
    w(f"- **Run:** {meta['date']}, commit `{meta['commit']}`")
    w(f"- **Machine:** {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, "
      f"Linux {machine['kernel']}; CPU quotas through cgroup {harness.get('cgroup', '?')}")
    w(f"- **Tools:** {meta['rustc']}; {meta['cargo_lambda']}; peer: Python {machine['python']}, "
      f"{meta['peer_packages']}; DynamoDB Local {meta['dynamodb_local']} on {meta['java']}; "
      f"{meta.get('valgrind', 'valgrind')}; {meta.get('socat', 'socat')}")
    w("")

    # --- sizes
    w("## Zipped bootstraps\n")
    w("`cargo lambda build --release --output-format zip --bin tiktok-shop --bin partoo --bin callbell`\n")
    w("| function | bootstrap.zip | bootstrap (unzipped) | target ≤ 3.5 MB |")
    w("| --- | ---: | ---: | --- |")
    for function in FUNCTIONS:
        zipped = (zips / function / "bootstrap.zip").stat().st_size
        unzipped = meta["unzipped_sizes"][function]
        ok = zipped <= ZIP_LIMIT
        targets.append((f"{function} zip ≤ 3.5 MB", f"{zipped / 1e6:.2f} MB", ok))
        w(f"| {function} | {zipped / 1e6:.2f} MB ({zipped:,} B) | {unzipped / 1e6:.2f} MB | {verdict(ok)} |")
    w("")

    # --- micro-benchmarks
    w("## Parsing and verification (criterion)\n")
    w("`cargo bench -p ingest --bench pipeline` — medians. Each provider's text-message sample, compact,")
    w("with its text grown to exactly 1 KiB (Partoo, whose smallest message event is ~1.3 KiB: 2 KiB)")
    w("and 4 KiB, accents and an emoji included. *Floor*: `serde_json`")
    w("reading the same bytes into `IgnoredAny`. *Primitive*: the bare HMAC-SHA256 or Ed25519")
    w("`verify_strict` over the same bytes.\n")
    w("| provider | size | floor | parse + normalize | ratio | primitive | verify | ratio |")
    w("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for provider in PROVIDERS:
        # The sizes the bench used for this provider ("1KiB", "4KiB", ...), smallest first.
        sizes = sorted({group.split("/")[2] for group, _ in medians
                        if group.startswith(f"parse/{provider}/")}, key=lambda s: int(s[:-3]))
        for size in sizes:
            floor = medians[(f"parse/{provider}/{size}", "floor: serde_json IgnoredAny")]
            parse = medians[(f"parse/{provider}/{size}", "Provider::read")]
            # The bench names its primitive after the provider's (the test kit's primitive_name).
            primitive = next(value for (group, function), value in medians.items()
                             if group == f"verify/{provider}/{size}" and function.startswith("primitive:"))
            verify = medians[(f"verify/{provider}/{size}", "Verifier::verify")]
            w(f"| {provider} | {size} | {us(floor)} | {us(parse)} | {parse / floor:.2f}× | "
              f"{us(primitive)} | {us(verify)} | {verify / primitive:.2f}× |")
            targets.append((f"parse {provider} {size} ≤ 2× floor", f"{parse / floor:.2f}×", parse <= 2 * floor))
            if size == "4KiB":
                targets.append((f"parse {provider} 4 KiB < 10 µs", us(parse), parse < 10_000))
            targets.append((f"verify {provider} {size} ≤ 1.2× primitive", f"{verify / primitive:.2f}×",
                            verify <= 1.2 * primitive))
    w("")

    cold = harness["cold"]
    sizes = harness.get("event_sizes", {})
    size_text = ", ".join(f"{f}: {s['body']:,} B body in a {s['event']:,} B event" for f, s in sizes.items())

    # --- as AWS runs it
    w("## Cold starts as AWS runs them: TLS to DynamoDB, the memory's share of a vCPU\n")
    w(f"bench/harness.py, {harness['runs']} cold starts per variant and setting, interleaved and "
      f"rotated; after each, {harness['warm']} warm invocations. Each invocation is a new message "
      f"signed by the crate's test kit (`ingest-dev bench-events`; {size_text}) and must be "
      "stored: a conditional write to DynamoDB Local, reached through a local TLS terminator "
      "(below) with the functions and the peer trusting the run's certificate chain through "
      "`AWS_CA_BUNDLE` (theirs in AWS plus the run's root: the compiled-in AWS roots for ours, "
      "botocore's bundle for the peer). Init runs on a whole core (a one-core CFS quota); at its "
      "first `GET /runtime/invocation/next` the process moves into a quota of the memory's share "
      f"of a vCPU (memory / {harness.get('full_vcpu_mb', 1769)} MB of every "
      f"{harness['cfs_period_us'] / 1000:.0f} ms CFS period), where it serves every invocation. "
      "Lambda does not publish its period; this is the kernel's default.\n")
    w("*Init*: spawn to the first `GET /next`. *First*: the first event handed over to its "
      "response posted. *Init + first*: what a cold start's caller waits (the median over the "
      "runs of their sum). *Billed / warm*: the mean of the warm invocations' billed durations "
      "(event handed over to the next `GET /next`, each rounded up to 1 ms). *CPU / warm*: the "
      "process's CPU time (all threads, /proc schedstat) per warm invocation. Medians over the "
      "runs; ratios are to the Python peer.\n")
    for key in tls_keys:
        setting = settings[key]
        runs_by_variant = cold[key]
        peer_total = cold_total(runs_by_variant[PEER])
        w(f"### {setting['memory_mb']} MB: {setting['share']:.3f} of a vCPU "
          f"({setting['quota_us']:,} µs of CPU per {harness['cfs_period_us']:,} µs)\n")
        w("| variant | init | first invocation | init + first | vs the peer (≤ 1/20) | warm latency "
          "| billed / warm | CPU / warm | peak RSS |")
        w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, runs in runs_by_variant.items():
            total = cold_total(runs)
            ratio = "" if name == PEER else fraction(total, peer_total)
            w(f"| {name} | {ms(median_of(runs, 'init_ms'))} | {ms(median_of(runs, 'first_ms'))} | "
              f"{ms(total)} | {ratio} | {median_of(runs, 'warm_ms'):.2f} ms | "
              f"{median_of(runs, 'warm_billed_ms'):.1f} ms | {median_of(runs, 'warm_cpu_us'):.0f} µs | "
              f"{median_of(runs, 'peak_rss_kib') / 1024:.1f} MiB |")
            if name in FUNCTIONS:
                targets.append((f"{name} init + first ≤ 1/{COLD_START_RATIO} of the peer's, "
                                f"{setting['memory_mb']} MB (TLS, CPU share)",
                                fraction(total, peer_total), total * COLD_START_RATIO <= peer_total))
        w("")
    # Issue 19: a warm function's peak RSS under 8 MiB, at every memory size it was run at.
    for name in FUNCTIONS:
        peaks = [median_of(cold[key][name], "peak_rss_kib") for key in tls_keys if name in cold[key]]
        if peaks:
            targets.append((f"{name} peak RSS ≤ {PEAK_RSS_MIB} MiB (TLS, CPU share, the largest median "
                            "over the memory sizes)", f"{max(peaks) / 1024:.2f} MiB",
                            max(peaks) <= PEAK_RSS_MIB * 1024))

    if tls_keys:
        w("CPU time of a cold start and of a warm invocation (medians over every TLS run, all memory "
          "sizes: CPU time hardly depends on the share) and how often the quota held the process "
          "back (CFS periods in which it was throttled, per run, median):\n")
        w("| variant | init CPU | first invocation CPU | CPU / warm | " +
          " | ".join(f"throttled, {settings[k]['memory_mb']} MB" for k in tls_keys) + " |")
        w("| --- | ---: | ---: | ---: | " + " | ".join("---:" for _ in tls_keys) + " |")
        for name in cold[tls_keys[0]]:
            every = [r for k in tls_keys for r in cold[k][name]]
            throttled = [statistics.median(r.get("throttling", {}).get("throttled", 0) for r in cold[k][name])
                         for k in tls_keys]
            w(f"| {name} | {median_of(every, 'init_cpu_ms'):.1f} ms | {median_of(every, 'first_cpu_ms'):.1f} ms | "
              f"{median_of(every, 'warm_cpu_us'):.0f} µs | " + " | ".join(f"{t:.0f}" for t in throttled) + " |")
        w("")

    # --- instructions
    instructions = harness.get("instructions", {})
    w("## Instructions (callgrind)\n")
    if instructions and PEER in instructions:
        runs_text = "one run" if harness["callgrind_runs"] == 1 else f"{harness['callgrind_runs']} runs"
        w(f"valgrind's callgrind on the bootstraps out of the release zips (stripped, as Lambda runs "
          f"them) and on the peer's Python, no quota, {runs_text} of each. The harness dumps the "
          "counters (`callgrind_control --dump`, which reaches a process blocked in a system call) "
          "whenever the process is idle in `GET /next`. *Start-up*: from exec, loader and all, to "
          "the first `GET /next`, in the environment Lambda gives (no `AWS_CA_BUNDLE`: our "
          "functions take their compiled-in roots); *with the bench's CA bundle*: the same in the "
          "TLS runs' environment, where they read and check the run's bundle instead. *Warm*: "
          f"then, over TLS as above, {harness['callgrind_warm']} warm invocations counted in two "
          "halves, instructions per invocation (the median of the halves). Before them, uncounted, "
          "the process is primed with invocations until two in a row are stored: under callgrind a "
          "first invocation, which translates all the code a first call runs and opens the TLS "
          "connection, outlasts the functions' DynamoDB timeouts and answers 503 (for the same "
          "reason start-up is counted with `DYNAMODB_WARM_UP=false`, to the first `GET /next` "
          "with nothing connected, as the peer's: the connection falls to those primed "
          "invocations). Counts are "
          "user-space instructions of the process (all threads), the same on a quiet machine and a "
          "busy one; *spread* is the largest relative difference between the runs' and the halves' "
          "figures.\n")
        peer_runs = instructions[PEER]
        peer_startup = statistics.median(r["startup"] for r in peer_runs)
        peer_warm = statistics.median(w_ for r in peer_runs for w_ in r["warm_per_invocation"])
        w("| variant | start-up | vs the peer (≤ 1/80) | with the bench's CA bundle | warm, per invocation "
          "| vs the peer (≤ 1/10) | spread (start-up, warm) |")
        w("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, runs in instructions.items():
            startups = [r["startup"] for r in runs]
            warms = [w_ for r in runs for w_ in r["warm_per_invocation"]]
            startup, warm = statistics.median(startups), statistics.median(warms)
            bundled = statistics.median(r.get("startup_with_bundle", r["startup"]) for r in runs)
            spread = f"{(max(startups) - min(startups)) / startup:.1%}, {(max(warms) - min(warms)) / warm:.1%}"
            if name == PEER:
                w(f"| {name} | {mega(startup)} | | {mega(bundled)} | {mega(warm)} | | {spread} |")
                continue
            w(f"| {name} | {mega(startup)} | {fraction(startup, peer_startup)} | {mega(bundled)} | "
              f"{mega(warm)} | {fraction(warm, peer_warm)} | {spread} |")
            if name in FUNCTIONS:
                targets.append((f"{name} start-up instructions ≤ 1/{STARTUP_INSTRUCTIONS_RATIO} of the peer's",
                                fraction(startup, peer_startup),
                                startup * STARTUP_INSTRUCTIONS_RATIO <= peer_startup))
                targets.append((f"{name} instructions per warm invocation ≤ 1/{WARM_INSTRUCTIONS_RATIO} of the peer's",
                                fraction(warm, peer_warm), warm * WARM_INSTRUCTIONS_RATIO <= peer_warm))
        w("")
    else:
        w("Not measured in this run (`--callgrind-runs 0`).\n")

    # --- memory size: cold start and cost
    if tls_keys:
        prices = cost.PRICES
        w("## Memory size: cold start and cost per million messages\n")
        w("From the TLS + CPU share runs above. Lambda bills each request and each GB-second: the "
          "memory (MB / 1024) times the billed duration, each invocation's rounded up to 1 ms; "
          "since August 2025 the init phase too, for the peer's managed runtime as for ours. Prices: "
          f"{prices['region']}, ${prices['request_usd'] * 1e6:.2f} per million requests, "
          f"${prices['gb_second_usd']['arm64']:.10f} per GB-second on arm64 and "
          f"${prices['gb_second_usd']['x86_64']:.10f} on x86_64; source: {prices['source']} "
          "The durations were measured on this machine's x86_64 cores and are applied to both "
          "architectures' prices.\n")
        w("**Cold start** — init + first invocation (what the caller waits), and the billed duration "
          "of the two (init + the first invocation up to its next `GET /next`):\n")
        w("| variant | " + " | ".join(f"{settings[k]['memory_mb']} MB" for k in tls_keys) + " |")
        w("| --- | " + " | ".join("---:" for _ in tls_keys) + " |")
        for name in cold[tls_keys[0]]:
            cells = [f"{ms(cold_total(cold[k][name]))} (billed {median_of(cold[k][name], 'cold_billed_ms'):.0f} ms)"
                     for k in tls_keys]
            w(f"| {name} | " + " | ".join(cells) + " |")
        w("")
        w("**A million warm messages** on arm64 / x86_64, requests included (the mean billed duration "
          "of a warm invocation in brackets):\n")
        w("| variant | " + " | ".join(f"{settings[k]['memory_mb']} MB" for k in tls_keys) + " |")
        w("| --- | " + " | ".join("---:" for _ in tls_keys) + " |")
        for name in cold[tls_keys[0]]:
            cells = []
            for k in tls_keys:
                memory, billed = settings[k]["memory_mb"], median_of(cold[k][name], "warm_billed_ms")
                cells.append(f"{usd(cost.per_million_usd(memory, billed, 'arm64'))} / "
                             f"{usd(cost.per_million_usd(memory, billed, 'x86_64'))} ({billed:.1f} ms)")
            w(f"| {name} | " + " | ".join(cells) + " |")
        w("")
        w("**A million cold starts** on arm64 / x86_64 (init and the first invocation, billed together), "
          "what a cold start adds to the message it serves:\n")
        w("| variant | " + " | ".join(f"{settings[k]['memory_mb']} MB" for k in tls_keys) + " |")
        w("| --- | " + " | ".join("---:" for _ in tls_keys) + " |")
        for name in cold[tls_keys[0]]:
            cells = []
            for k in tls_keys:
                memory, billed = settings[k]["memory_mb"], median_of(cold[k][name], "cold_billed_ms")
                cells.append(f"{usd(cost.per_million_usd(memory, billed, 'arm64'))} / "
                             f"{usd(cost.per_million_usd(memory, billed, 'x86_64'))}")
            w(f"| {name} | " + " | ".join(cells) + " |")
        w("")
        w("The warm durations include DynamoDB Local's own time on this machine (a Java server on "
          "the same two cores), which is not DynamoDB's; the part a function's code decides is its "
          "CPU time divided by the share (*CPU / warm* above).\n")

    if write_units is not None:
        figures, source = lambda_figures_from_harness(harness)
        lines, wu_targets = render_write_units(write_units, figures, source)
        out.extend(lines)
        targets.extend(wu_targets)

    if any(INBOX in by_variant for by_variant in cold.values()):
        out.extend(render_inbox(harness))

    if tls_keys:
        # --- warm-up decision
        w("## DYNAMODB_WARM_UP, with TLS and the CPU share\n")
        w("The DynamoDB client readied during init (the default: one GetItem of a key no message "
          "has) against left to the first message (`DYNAMODB_WARM_UP=false`): with TLS the warm-up "
          "moves the handshake into init, which runs on a whole core, out of the first invocation, "
          "which runs at the share.\n")
        w("| memory | tiktok-shop | init | first invocation | init + first | billed cold start |")
        w("| --- | --- | ---: | ---: | ---: | ---: |")
        for k in tls_keys:
            for name, label in (("tiktok-shop", "warm-up on (default)"), (WARM_UP, "`DYNAMODB_WARM_UP=false`")):
                runs = cold[k][name]
                w(f"| {settings[k]['memory_mb']} MB | {label} | {ms(median_of(runs, 'init_ms'))} | "
                  f"{ms(median_of(runs, 'first_ms'))} | {ms(cold_total(runs))} | "
                  f"{median_of(runs, 'cold_billed_ms'):.0f} ms |")
        w("")

    # --- terminator
    terminator = harness.get("terminator")
    if terminator:
        w("## The TLS terminator\n")
        w(f"`{terminator['command']}`: socat, a certificate chain made for the run with the openssl "
          "command line (root, intermediate and server certificate, RSA-2048 and SHA-256 as a "
          "DynamoDB endpoint's; the server sends its certificate and the intermediate), TCP_NODELAY "
          "on both sockets. Checked before the runs: "
          f"{terminator['round_trips']} requests on one connection, each sent in two writes, to an "
          "upstream that answers in two writes — so that Nagle's algorithm and delayed ACKs would "
          "stall either direction by 40 ms — straight and through the terminator, and through a "
          "control terminator without TCP_NODELAY, which must stall for the check to mean "
          "anything. The bench stops when its terminator adds "
          f"{terminator['stall_threshold_ms']:.0f} ms or more. Then the same DynamoDB request (an "
          "error answer, no table work) straight to DynamoDB Local and through the terminator: "
          "what TLS and the extra hop add to a call.\n")
        w("| round trip (median) | direct | through the terminator | without TCP_NODELAY (control) |")
        w("| --- | ---: | ---: | ---: |")
        w(f"| split writes, both directions | {terminator['direct_ms']:.2f} ms | {terminator['terminator_ms']:.2f} ms | "
          f"{terminator['without_nodelay_ms']:.2f} ms{'' if terminator['control_stalled'] else ' (did not stall!)'} |")
        d = terminator.get("dynamodb")
        if d:
            w(f"| a DynamoDB call | {d['plain_ms']:.2f} ms | {d['tls_ms']:.2f} ms | |")
        w("")

    # --- whole core, plain HTTP (the bench's figures before TLS and quotas)
    plain = cold.get("plain")
    if plain:
        peer = plain[PEER]
        w("## Whole core, plain HTTP\n")
        w(f"The same runs' other setting, as the bench measured before: DynamoDB Local over plain "
          "HTTP, the whole process on a one-core quota. Same definitions as above.\n")
        w("| variant | init | first invocation | warm latency | CPU / warm invocation | peak RSS |")
        w("| --- | ---: | ---: | ---: | ---: | ---: |")
        peer_init = median_of(peer, "init_ms")
        peer_first = median_of(peer, "first_ms")
        peer_warm = median_of(peer, "warm_ms")
        peer_cpu = median_of(peer, "warm_cpu_us")
        peer_rss = median_of(peer, "peak_rss_kib")
        for name, runs in plain.items():
            init, first = median_of(runs, "init_ms"), median_of(runs, "first_ms")
            warm, cpu = median_of(runs, "warm_ms"), median_of(runs, "warm_cpu_us")
            rss = median_of(runs, "peak_rss_kib")
            if name == PEER:
                w(f"| {name} | {init:.1f} ms | {first:.1f} ms | {warm:.2f} ms | {cpu:.0f} µs | {rss / 1024:.1f} MiB |")
            else:
                w(f"| {name} | {init:.1f} ms ({fraction(init, peer_init)}) | {first:.1f} ms ({fraction(first, peer_first)}) "
                  f"| {warm:.2f} ms ({warm / peer_warm:.2f}×) | {cpu:.0f} µs ({cpu / peer_cpu:.2f}×) "
                  f"| {rss / 1024:.1f} MiB ({rss / peer_rss:.2f}×) |")
        w("")
        rust = plain["tiktok-shop"]
        init, cpu, rss = median_of(rust, "init_ms"), median_of(rust, "warm_cpu_us"), median_of(rust, "peak_rss_kib")
        targets.append(("tiktok-shop init ≤ 1/20 of the peer's (whole core, plain HTTP)",
                        fraction(init, peer_init), init * 20 <= peer_init))
        targets.append(("tiktok-shop CPU per warm invocation ≤ 1/4 of the peer's (whole core, plain HTTP)",
                        f"{cpu / peer_cpu:.2f}×", cpu * 4 <= peer_cpu))
        targets.append(("tiktok-shop peak RSS ≤ 1/4 of the peer's (whole core, plain HTTP)",
                        f"{rss / peer_rss:.2f}×", rss * 4 <= peer_rss))
        w("| tiktok-shop, whole core, plain HTTP | init | first invocation | init + first |")
        w("| --- | ---: | ---: | ---: |")
        for name in ["tiktok-shop", WARM_UP]:
            runs = plain[name]
            w(f"| {name} | {median_of(runs, 'init_ms'):.1f} ms | {median_of(runs, 'first_ms'):.1f} ms | "
              f"{cold_total(runs):.1f} ms |")
        w("")

    # --- every run
    w("<details><summary>Every run</summary>\n")
    w("| setting | variant | run | init ms | first ms | warm ms | billed / warm ms | CPU/warm µs | "
      "init CPU ms | first CPU ms | peak RSS MiB | throttled periods |")
    w("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for key, by_variant in cold.items():
        for name, runs in by_variant.items():
            for i, r in enumerate(runs, 1):
                throttled = r.get("throttling", {}).get("throttled", "")
                w(f"| {key} | {name} | {i} | {r['init_ms']:.1f} | {r['first_ms']:.1f} | {r['warm_ms']:.2f} | "
                  f"{r['warm_billed_ms']:.1f} | {r['warm_cpu_us']:.0f} | {r['init_cpu_ms']:.1f} | "
                  f"{r['first_cpu_ms']:.1f} | {r['peak_rss_kib'] / 1024:.1f} | {throttled} |")
    if instructions:
        w("")
        w("| variant | callgrind run | start-up | with the bench's CA bundle | warm, per invocation (halves) "
          "| priming invocations | slowest warm invocation |")
        w("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, runs in instructions.items():
            for i, r in enumerate(runs, 1):
                halves = " / ".join(f"{h:,.0f}" for h in r["warm_per_invocation"])
                w(f"| {name} | {i} | {r['startup']:,} | {r.get('startup_with_bundle', r['startup']):,} | {halves} "
                  f"| {r.get('priming_invocations', '')} | {r.get('slowest_warm_ms', 0):.0f} ms |")
    w("\n</details>\n")

    # --- throughput
    if harness.get("throughput"):
        w("## Throughput of one process (bench/harness.py)\n")
        w("One warm process (whole core, plain HTTP), fed by 1 and then 16 concurrent clients for a "
          "fixed time each. A Lambda execution environment runs one invocation at a time, so 16 "
          "clients keep its queue full rather than run in parallel; DynamoDB Local (Java, same two "
          "cores) is in the loop.\n")
        w("| variant | clients | requests | req/s | CPU / request |")
        w("| --- | ---: | ---: | ---: | ---: |")
        for name, rows in harness["throughput"].items():
            for row in rows:
                w(f"| {name} | {row['clients']} | {row['requests']} | {row['requests_per_s']:.0f} | "
                  f"{row['cpu_us_per_request']:.0f} µs |")
        w("")

    # --- targets
    w("## Targets\n")
    w("| target | figure | |")
    w("| --- | --- | --- |")
    for name, figure, ok in targets:
        w(f"| {name} | {figure} | {verdict(ok)} |")
    w("")

    # --- commands
    w("## Commands\n")
    w("```sh")
    for command in meta["commands"]:
        w(command)
    w("```\n")

    w(analysis.strip() + "\n")
    return "\n".join(out), targets


# ---------------------------------------------------------------------------------------------
# Write units per message (bench/write_units.py) and a million messages by line item

WRITE_UNITS_HEADING = "## Write units per message"
WRITE_UNITS_BEFORE = "## DYNAMODB_WARM_UP"  # where the section goes in a report that lacks it
LAMBDA_MEMORY_MB = 256  # the template's memory size and architecture
LAMBDA_ARCHITECTURE = "arm64"
# Issue 19's targets.
MEAN_WRU_TARGET = 2
READ_SIDE_WRU_TARGET = 4  # issue 20: everything written for a new message, the read side in


def lambda_figures_from_harness(harness: dict) -> tuple[dict, str]:
    """Lambda per million warm messages at the template's size, from this run's TLS runs."""
    key = f"tls-{LAMBDA_MEMORY_MB}"
    runs = harness.get("cold", {}).get(key)
    if not runs:
        return {}, f"not measured in this run (no {LAMBDA_MEMORY_MB} MB TLS runs)"
    figures = {name: cost.per_million_usd(LAMBDA_MEMORY_MB, median_of(r, "warm_billed_ms"), LAMBDA_ARCHITECTURE)
               for name, r in runs.items() if r}
    return figures, (f"this run's warm invocations at {LAMBDA_MEMORY_MB} MB on {LAMBDA_ARCHITECTURE} "
                     "(TLS + CPU share, the mean billed duration; requests included)")


def lambda_figures_from_report(document: str) -> tuple[dict, str]:
    """The same figures as an earlier report of this format gives them: its "A million warm
    messages" table, the template's memory column, the arm64 figure."""
    lines = document.splitlines()
    commit = next((l.split("`")[1] for l in lines if l.startswith("- **Run:**") and "`" in l), "?")
    try:
        start = next(i for i, l in enumerate(lines) if l.startswith("**A million warm messages**"))
    except StopIteration:
        return {}, "not measured (no earlier report with Lambda figures)"
    header = next(l for l in lines[start:] if l.startswith("| variant |"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    column = columns.index(f"{LAMBDA_MEMORY_MB} MB")
    figures = {}
    for line in lines[lines.index(header, start) + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        figures[cells[0]] = float(cells[column].split("/")[0].strip().lstrip("$"))
    return figures, (f"the full run of commit `{commit}` in this report (\"A million warm messages\", "
                     f"{LAMBDA_MEMORY_MB} MB, {LAMBDA_ARCHITECTURE}; requests included), not this run")


def insert_section(document: str, section: str, heading: str = WRITE_UNITS_HEADING,
                   before: str = WRITE_UNITS_BEFORE) -> str:
    """`document` with its section under `heading` (the write units' by default) replaced by
    `section`, or `section` put in before the heading that starts with `before` (or at the end):
    nothing else changes."""
    lines = document.split("\n")
    body = section.rstrip("\n").split("\n") + [""]
    if heading in lines:
        start = lines.index(heading)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        return "\n".join(lines[:start] + body + lines[end:])
    at = next((i for i, l in enumerate(lines) if l.startswith(before)), len(lines))
    return "\n".join(lines[:at] + body + lines[at:])


# ---------------------------------------------------------------------------------------------
# The inbox (the read API): a warm page of messages beside a webhook's warm message

INBOX = "inbox"  # the harness's variant (harness.INBOX)
INBOX_HEADING = "## The inbox: a warm page of 50 messages"
INBOX_BEFORE = WRITE_UNITS_BEFORE


def render_inbox(harness: dict, meta: dict | None = None) -> list[str]:
    """The inbox's warm invocations (latency, billed duration, CPU, instructions) beside the
    webhook functions' measured in the same run."""
    cold, settings = harness["cold"], harness["settings"]
    instructions = harness.get("instructions", {})
    out = [INBOX_HEADING, ""]
    w = out.append
    if meta is not None:
        w(f"From its own run ({meta['date']}, commit `{meta['commit']}`: `{meta['command']}`), not the "
          "run of the sections around it; the webhooks beside it were measured in that run too.\n")
    w("The inbox's warm invocation reads one page of 50 messages: `GET /conversations/partoo/<id>/"
      "messages?limit=50` as API Gateway hands it over, one strongly consistent Query of a "
      "conversation partoo's bootstrap stored before the runs (each message grown to the committed "
      "text sample's size, as the webhooks' are), the items turned into the API's JSON and a "
      "cursor; each answer must be 200 with 50 messages. Beside it, from the same runs, a "
      "webhook's warm invocation: one new message verified, normalized and written. Same "
      "definitions as above (medians over the runs; *CPU / warm* from the scheduler's figures, "
      "instructions from callgrind's warm halves).\n")
    webhooks = [f for f in FUNCTIONS if any(f in by for by in cold.values())]
    w("| setting | variant | warm latency | billed / warm | CPU / warm | CPU vs " +
      (webhooks[0] if webhooks else "a webhook") + " |")
    w("| --- | --- | ---: | ---: | ---: | ---: |")
    for key, by_variant in cold.items():
        if not by_variant.get(INBOX):
            continue
        label = settings[key]["label"]
        base = by_variant.get(webhooks[0]) if webhooks else None
        base_cpu = median_of(base, "warm_cpu_us") if base else None
        for name in [INBOX] + webhooks:
            runs = by_variant.get(name)
            if not runs:
                continue
            cpu = median_of(runs, "warm_cpu_us")
            ratio = f"{cpu / base_cpu:.2f}×" if base_cpu and name == INBOX else ""
            w(f"| {label} | {name} | {median_of(runs, 'warm_ms'):.2f} ms | "
              f"{median_of(runs, 'warm_billed_ms'):.1f} ms | {cpu:.0f} µs | {ratio} |")
    w("")
    if INBOX in instructions:
        w("| variant | instructions per warm invocation | start-up | spread (warm) |")
        w("| --- | ---: | ---: | ---: |")
        for name in [INBOX] + webhooks:
            runs = instructions.get(name)
            if not runs:
                continue
            warms = [w_ for r in runs for w_ in r["warm_per_invocation"]]
            warm = statistics.median(warms)
            startup = statistics.median(r["startup"] for r in runs)
            w(f"| {name} | {mega(warm)} | {mega(startup)} | {(max(warms) - min(warms)) / warm:.1%} |")
        w("")
    else:
        w("Instructions not measured in this run (`--callgrind-runs 0`).\n")
    return out


ROLE_ANSWERS = {"new": "stored", "redelivery": "duplicate", "update": "updated"}


def stored_by(entry: dict) -> set[tuple[str, str]]:
    """The bodies `entry` stored as new messages, by corpus and name."""
    return {(c["corpus"], c["name"]) for c in entry["samples"] + entry["golden"]
            if c["role"] == "new" and c["answer"] == "stored"}


def against_the_peer(entry: dict, peer: dict) -> tuple[list[float], list[float]]:
    """Ours and the measured peer's write units per new message over the same bodies: those both
    stored (the peer drops TikTok's second message of one `index` as a duplicate and fails on a
    string `create_time`; what it never wrote cannot be cheaper)."""
    both = stored_by(entry) & stored_by(peer)
    pick = lambda e: [c["wru"] for c in cases_of(e, "new") if (c["corpus"], c["name"]) in both]
    return pick(entry), pick(peer)


def cases_of(entry: dict, role: str) -> list[dict]:
    """The cases of `role` that got the answer the role means: a new message the peer does not
    store (it has no rule for TikTok's shared `index`, and fails on a string `create_time`) is
    not counted as one it stored, nor is sending it again a redelivery."""
    cases = entry["samples"] + entry["golden"]
    stored = {(c["corpus"], c["name"]) for c in cases if c["role"] == "new" and c["answer"] == "stored"}
    return [c for c in cases if c["role"] == role and c["answer"] == ROLE_ANSWERS[role]
            and (role != "redelivery" or (c["corpus"], c["name"]) in stored)]


def mean(values) -> float | None:
    values = list(values)
    return statistics.fmean(values) if values else None


def units(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:.0f}"


def spread(values: list[float]) -> str:
    if not values:
        return "–"
    low, high = min(values), max(values)
    return units(low) if low == high else f"{units(low)}–{units(high)}"


def peer_way(entry: dict) -> list[float]:
    """What one conditional PutItem of each of our message items bills: new, the item's size per
    started KB; sent again, the failed conditional write at the stored item's size: the same."""
    return [c["one_put_wru"] for c in cases_of(entry, "new") if "one_put_wru" in c]


def read_side_figures(variants: dict) -> dict[str, tuple[float, int, int]]:
    """Per batch size: (write units per new message, the read side in; new messages; summary
    writes) over every provider's samples — the message's own writes plus the projector's, of
    the same corpus on a table of its own."""
    out = {}
    batches = sorted({b for e in variants.values() for b in e.get("read_side", {})}, key=int)
    for batch in batches:
        runs = [e["read_side"][batch] for e in variants.values() if batch in e.get("read_side", {})]
        messages = sum(r["new_messages"] for r in runs)
        total = sum(r["message_wru"] + r["wru"] for r in runs)
        out[batch] = (total / messages if messages else None, messages, sum(r["summary_puts"] for r in runs))
    return out


def render_read_side(w, variants: dict) -> list[tuple[str, str, bool]]:
    """The read side's section (issue 20) and its target."""
    if not any(e.get("read_side") for e in variants.values()):
        return []
    w("### With the read side (issue 20)\n")
    w("Each provider's samples again, on tables of their own, then the projector fed the table's "
      "stream by `ingest-dev follow-stream` (the template's filter), every request it makes "
      "metered like the functions'. *One at a time*: a batch per record — every message folded "
      "into its summary on its own, as when a conversation's messages come more than the "
      "mapping's 1 s window apart. *Batches of 100*: the corpus as the event source mapping "
      "hands over a burst (the template's batch size, within its window): one summary write per "
      "conversation per batch. A summary write is its item (1 unit under a kilobyte) and its "
      "`by_activity` entry, whose key moves with the last activity: a delete and a put; the "
      "customer indexes' entries are written once per conversation. Updates' records count "
      "too. Write request units per new message.\n")
    w("| provider | new messages | messages' own | read side, one at a time | total | read side, batches of 100 | total |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, entry in variants.items():
        sides = entry.get("read_side", {})
        one, burst = sides.get("1"), sides.get("100")
        if not one or not burst:
            continue
        n = one["new_messages"]
        own = one["message_wru"] / n if n else None
        w(f"| {name} | {n} | {units(own)} | {units(one['wru'] / n)} ({one['summary_puts']} summary writes) | "
          f"{units(own + one['wru'] / n)} | {units(burst['wru'] / n)} ({burst['summary_puts']} summary writes) | "
          f"{units(own + burst['wru'] / n)} |")
    figures = read_side_figures(variants)
    for batch, (per_message, messages, _) in figures.items():
        label = "one at a time" if batch == "1" else f"batches of {batch}"
        w(f"| all three, {label} | {messages} | | | {units(per_message)} | | |")
    w("")
    burst = figures.get("100")
    if burst is None or burst[0] is None:
        return []
    one = figures.get("1", (None,))[0]
    target = (f"WRU per new message with the read side ≤ {READ_SIDE_WRU_TARGET} (issue 20; batches of 100)",
              f"{units(burst[0])} (one at a time: {units(one)})", burst[0] <= READ_SIDE_WRU_TARGET)
    w("| target (issue 20) | figure | |")
    w("| --- | --- | --- |")
    w(f"| {target[0]} | {target[1]} | {verdict(target[2])} |")
    w("")
    return [target]


def render_write_units(wu: dict, lambda_figures: dict, lambda_source: str) -> tuple[list[str], list]:
    out: list[str] = []
    w = out.append
    targets: list[tuple[str, str, bool]] = []
    variants = wu["variants"]
    peer_name = wu.get("peer", PEER)
    peer = variants.get(peer_name)
    ours = [name for name in variants if name != peer_name]
    prices = cost.OTHER_PRICES

    w(f"{WRITE_UNITS_HEADING}\n")
    w(f"Measured at commit `{wu['commit'] or '?'}`, {wu['date']}, by `bench/write_units.py` "
      f"({wu['binaries']}; `bash scripts/bench.sh --only write-units` runs it alone), apart from the "
      "sections above. What DynamoDB bills, not what DynamoDB Local "
      "reports: every request goes through `bench/meter.py`, a proxy in front of DynamoDB Local that "
      "forwards it unchanged and prices it by AWS's published rules (item size: attribute names "
      "plus values; a write request unit per started KB of the larger of the item before and "
      "after; twice per item in a transaction; a failed condition at the stored item's size; "
      "every global secondary index whose entry changes; the rules and their AWS pages are at the "
      "head of bench/meter.py). The functions and the peer run under the bench's Runtime API; "
      "each corpus on a table of its own, so every message is new to it and its body is the "
      "committed one, byte for byte. *New*: every sample answered `stored` (events/bodies/ in the "
      "order of events/expected-status.tsv, and the golden bodies); *redelivery*: each of them "
      "sent again at once (answered `duplicate`); *update*: Partoo `message_updated` and Callbell "
      "`message_status_updated` samples. Write request units (WRU) per message.\n")
    w("| provider | new: mean (min–max) | golden new | redelivery | update | the peer, same bodies: new / redelivery | new messages |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    all_new = []
    for name in ours:
        entry = variants[name]
        new = [c["wru"] for c in cases_of(entry, "new")]
        all_new += new
        golden = [c["wru"] for c in entry["golden"] if c["role"] == "new"]
        redelivery = [c["wru"] for c in cases_of(entry, "redelivery")]
        update = [c["wru"] for c in cases_of(entry, "update")]
        if peer is not None and peer["function"] == entry["function"]:
            peer_new = [c["wru"] for c in cases_of(peer, "new")]
            peer_again = [c["wru"] for c in cases_of(peer, "redelivery")]
            peer_text = f"{units(mean(peer_new))} / {units(mean(peer_again))} (measured)"
        else:
            way = peer_way(entry)
            peer_text = f"{units(mean(way))} / {units(mean(way))} (computed)"
        w(f"| {name} | {units(mean(new))} ({spread(new)}) | {', '.join(units(g) for g in golden)} | "
          f"{units(mean(redelivery))} | {units(mean(update))} | {peer_text} | {len(new)} |")
    w(f"| all three | {units(mean(all_new))} | | | | | {len(all_new)} |")
    w("")
    w("*The peer*: `../shared/peers/python_tiktok`, unchanged, one conditional PutItem of its record "
      "with `raw` in it, measured on the TikTok Shop samples it stores. It handles TikTok Shop only, "
      "so for Partoo and Callbell its figure is *computed*: one conditional PutItem of the very "
      "message item ours writes (the same record, `raw` uncompressed), billed as the meter bills a "
      "new item (its size per started KB) and, sent again, as the failed conditional write it "
      "would be (the stored item's size: the same units).")
    if peer is not None:
        missed = [f"{c['name']} ({c['answer']})" for c in peer["samples"] + peer["golden"]
                  if c["role"] == "new" and c["answer"] != "stored"]
        if missed:
            w(f"The peer did not store {len(missed)} of the samples it was sent, left out of its "
              f"figures: {', '.join(missed)}; the targets below compare ours with it over the "
              "bodies both stored.")
    w("")

    # Issue 19's own figures, for the golden bodies.
    golden_ours = {name: [c["wru"] for c in variants[name]["golden"] if c["role"] == "new"] for name in ours}
    w("**Against issue 19's figures** for a new golden message (ours 4, 8 and 8; the peer 1, 3 and 3):\n")
    w("| provider | ours, golden new | issue 19 | the peer's way, golden | issue 19 | item bytes (of which `raw`) | one put without `raw` |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    issue = {"tiktok-shop": (4, 1), "partoo": (8, 3), "callbell": (8, 3)}
    differences = []
    for name in ours:
        entry = variants[name]
        golden_new = [c for c in entry["golden"] if c["role"] == "new"]
        if peer is not None and peer["function"] == entry["function"]:
            peer_golden = [c["wru"] for c in peer["golden"] if c["role"] == "new"]
        else:
            peer_golden = [c.get("one_put_wru") for c in golden_new]
        items = ", ".join(f"{c.get('message_item_bytes', 0):,} ({c.get('message_item_bytes', 0) - c.get('message_item_bytes_without_raw', 0):,})"
                          for c in golden_new)
        without = ", ".join(units(c.get("one_put_wru_without_raw")) for c in golden_new)
        mine, theirs = issue.get(entry["function"], ("?", "?"))
        w(f"| {name} | {', '.join(units(g) for g in golden_ours[name])} | {mine} | "
          f"{', '.join(units(p) for p in peer_golden)} | {theirs} | {items} | {without} |")
        for c, peer_units in zip(golden_new, peer_golden):
            if (c["wru"], peer_units) != (mine, theirs) and "message_item_bytes" in c and isinstance(theirs, int):
                size = c["message_item_bytes"]
                differences.append(
                    f"- {name}: the golden body makes a {size:,}-byte message item "
                    f"({size - c['message_item_bytes_without_raw']:,} bytes of it `raw`), "
                    f"{meter.write_units(size)} units a write: {units(c['wru'])} for today's transaction, "
                    f"{units(peer_units)} for one put. Issue 19's {mine} and {theirs} are those of a message "
                    f"item of {(theirs - 1) * 1024 + 1:,} to {theirs * 1024:,} bytes.")
    w("")
    if differences:
        w("Where the measured figures differ from the issue's:\n")
        out.extend(differences)
        w("")

    # Reads.
    w("Read request units (RRU) per message, from the same runs (the functions' GetItems; the "
      "warm-up read at init is not counted):\n")
    w("| provider | new | redelivery | update |")
    w("| --- | ---: | ---: | ---: |")
    for name in ours + ([peer_name] if peer else []):
        entry = variants[name]
        w(f"| {name} | {units(mean(c['rru'] for c in cases_of(entry, 'new')))} | "
          f"{units(mean(c['rru'] for c in cases_of(entry, 'redelivery')))} | "
          f"{units(mean(c['rru'] for c in cases_of(entry, 'update')))} |")
    w("")

    # DynamoDB Local's own figure.
    calibration = wu.get("calibration") or []
    if calibration:
        w("DynamoDB Local's `ConsumedCapacity` beside the meter, for transactions of conditional "
          "puts sent through the meter with `ReturnConsumedCapacity=TOTAL` (new items of the sizes "
          "shown): Local adds up the *distinct* per-item costs, where AWS bills every item twice.\n")
        w("| transaction | item sizes | DynamoDB Local | the meter (AWS's rules) |")
        w("| --- | --- | ---: | ---: |")
        for c in calibration:
            w(f"| {c['case']} | {', '.join(f'{b:,} B' for b in c['sizes'])} | {units(c['dynamodb_local'])} | {units(c['meter'])} |")
        w("")
    w("A cancelled transaction (a redelivery today: both conditions fail) is not priced in AWS's "
      "documentation; the meter bills its prepare phase, each item once at its stored size (the "
      "failed conditional write's rule), so the redelivery figures are an estimate. Write units "
      "were measured with the functions' debug or release builds alike: what is written does not "
      "depend on the build.\n")

    # Targets.
    overall = mean(all_new)
    targets.append((f"mean WRU per new message ≤ {MEAN_WRU_TARGET} (issue 19)", units(overall),
                    overall is not None and overall <= MEAN_WRU_TARGET))
    for name in ours:
        entry = variants[name]
        new = mean(c["wru"] for c in cases_of(entry, "new"))
        if peer is not None and peer["function"] == entry["function"]:
            same, theirs = against_the_peer(entry, peer)
            same_bodies, peer_new = mean(same), mean(theirs)
            figure = f"{units(same_bodies)} against {units(peer_new)} (the {len(same)} bodies both stored)"
        else:
            same_bodies, peer_new = new, mean(peer_way(entry))
            figure = f"{units(new)} against {units(peer_new)}"
        targets.append((f"{name} WRU per new message ≤ the peer's", figure,
                        same_bodies is not None and peer_new is not None and same_bodies <= peer_new))
        again = mean(c["wru"] for c in cases_of(entry, "redelivery"))
        targets.append((f"{name} WRU per redelivery ≤ per new message", f"{units(again)} against {units(new)}",
                        again is not None and new is not None and again <= new))
    w("| target (issue 19) | figure | |")
    w("| --- | --- | --- |")
    for name, figure, ok in targets:
        w(f"| {name} | {figure} | {verdict(ok)} |")
    w("")
    targets += render_read_side(w, {name: variants[name] for name in ours})

    # A million messages by line item.
    w("### A million messages, by line item\n")
    w("New messages, each delivered once, at the means above; the peer's Partoo and Callbell columns "
      "are its way of writing (one conditional PutItem of the same item). *Storage*: the items a "
      "message leaves (its bytes plus DynamoDB's 100 bytes of overhead per item), kept a year. "
      f"*Lambda*: {lambda_source}"
      + ("; the peer's Partoo and Callbell figures are its TikTok figure (the peer runs no other)"
         if lambda_figures.get(peer_name) is not None else "")
      + f". Prices, {prices['region']}: API Gateway HTTP API ${prices['http_api_request_usd'] * 1e6:.2f} per "
      f"million requests; DynamoDB on-demand ${prices['write_request_unit_usd'] * 1e6:.3f} per million "
      f"WRU and ${prices['read_request_unit_usd'] * 1e6:.3f} per million RRU, storage "
      f"${prices['storage_gb_month_usd']:.2f} per GB-month; Lambda as in the section on memory size. "
      f"Source: {prices['source']}\n")
    columns = []  # (label, wru, rru, stored bytes, lambda usd)
    for name in ours:
        entry = variants[name]
        new = cases_of(entry, "new")
        columns.append((name, mean(c["wru"] for c in new), mean(c["rru"] for c in new),
                        mean(c["stored_bytes"] for c in new), lambda_figures.get(name)))
        if peer is not None and peer["function"] == entry["function"]:
            pnew = cases_of(peer, "new")
            columns.append((f"{peer_name}", mean(c["wru"] for c in pnew), mean(c["rru"] for c in pnew),
                            mean(c["stored_bytes"] for c in pnew), lambda_figures.get(peer_name)))
        else:
            way = [c for c in new if "one_put_wru" in c]
            columns.append((f"the peer's way ({name})", mean(c["one_put_wru"] for c in way), 0.0,
                            mean(c["one_put_stored_bytes"] for c in way), lambda_figures.get(peer_name)))
    w("| line item | " + " | ".join(label for label, *_ in columns) + " |")
    w("| --- | " + " | ".join("---:" for _ in columns) + " |")
    million = 1_000_000
    rows = [
        ("API Gateway (HTTP API) requests", [prices["http_api_request_usd"] * million for _ in columns]),
        (f"Lambda ({LAMBDA_MEMORY_MB} MB, {LAMBDA_ARCHITECTURE}, warm)", [c[4] for c in columns]),
        ("DynamoDB writes", [cost.writes_usd(c[1] * million) if c[1] is not None else None for c in columns]),
        ("DynamoDB reads", [cost.reads_usd(c[2] * million) if c[2] is not None else None for c in columns]),
        ("DynamoDB storage, a year", [cost.storage_year_usd(c[3] * million) if c[3] is not None else None
                                      for c in columns]),
    ]
    totals = [0.0 for _ in columns]
    complete = [True for _ in columns]
    for label, values in rows:
        for i, v in enumerate(values):
            if v is None:
                complete[i] = False
            else:
                totals[i] += v
        w(f"| {label} | " + " | ".join("–" if v is None else usd(v) for v in values) + " |")
    w("| **total** | " + " | ".join(f"**{usd(t)}**" + ("" if ok else " (without Lambda)")
                                    for t, ok in zip(totals, complete)) + " |")
    w("| *units: WRU / RRU / stored bytes per message* | " + " | ".join(
        f"{units(c[1])} / {units(c[2])} / " + ("–" if c[3] is None else f"{c[3]:,.0f}") for c in columns) + " |")
    w("")

    # Every sample.
    w("<details><summary>Every sample</summary>\n")
    w("| provider | corpus | sample | role | answer | WRU | RRU | requests | message item bytes |")
    w("| --- | --- | --- | --- | --- | ---: | ---: | --- | ---: |")
    for name, entry in variants.items():
        for c in entry["samples"] + entry["golden"]:
            w(f"| {name} | {c['corpus']} | {c['name']} | {c['role']} | {c['answer']} | {units(c['wru'])} | "
              f"{units(c['rru'])} | {'; '.join(c['operations'])} | "
              f"{c['message_item_bytes']:,} |" if "message_item_bytes" in c else
              f"| {name} | {c['corpus']} | {c['name']} | {c['role']} | {c['answer']} | {units(c['wru'])} | "
              f"{units(c['rru'])} | {'; '.join(c['operations'])} | |")
    w("\n</details>\n")
    return out, targets


if __name__ == "__main__":
    raise SystemExit(main())
