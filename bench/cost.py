"""What Lambda charges for the figures the harness measures.

On-demand Lambda charges per request and per GB-second: the memory configured (MB / 1024)
times the billed duration, which is the invocation's duration rounded up to the next
millisecond, each invocation on its own. Since 1 August 2025 the init phase is billed as well,
for managed runtimes (the Python peer's) as for custom ones (ours): a cold start's billed
duration is init plus the first invocation, rounded up together, as Lambda's REPORT line shows
it for a custom runtime.

The prices are Lambda's first tier in US East (N. Virginia); see PRICES["source"] for where and
when they were taken.
"""
from __future__ import annotations

import math

PRICES = {
    "region": "us-east-1",
    "request_usd": 0.20 / 1_000_000,
    "gb_second_usd": {"arm64": 0.0000133334, "x86_64": 0.0000166667},
    "source": "https://aws.amazon.com/lambda/pricing/ (first tier: the first 7.5 billion arm64 / "
              "6 billion x86_64 GB-seconds of a month), as transcribed from that page by "
              "secondary sources (the page renders its rates in the browser); taken 2026-11-29. "
              "Unchanged since the tiered prices of August 2022; check the page before deciding "
              "on them.",
    "taken": "2026-11-29",
}

ARCHITECTURES = ("arm64", "x86_64")


def billed_ms(duration_ms: float) -> int:
    """Lambda's billed duration: rounded up to the next whole millisecond (at least 1)."""
    if duration_ms < 0:
        raise ValueError(f"a negative duration: {duration_ms}")
    # A duration that is a whole number of milliseconds up to float noise is not rounded up.
    return max(1, math.ceil(round(duration_ms, 6)))


def gb(memory_mb: int) -> float:
    return memory_mb / 1024


def invocation_usd(memory_mb: int, billed: float, architecture: str, prices: dict = PRICES) -> float:
    """One request of `billed` milliseconds (already rounded, or a mean of rounded figures)."""
    return prices["request_usd"] + gb(memory_mb) * billed / 1000 * prices["gb_second_usd"][architecture]


def per_million_usd(memory_mb: int, mean_billed_ms: float, architecture: str, prices: dict = PRICES) -> float:
    """A million invocations whose billed durations average `mean_billed_ms`."""
    return 1_000_000 * invocation_usd(memory_mb, mean_billed_ms, architecture, prices)


def mean_billed_ms(durations_ms: list[float]) -> float:
    """The mean of the billed (rounded-up) durations: what a million such invocations cost is
    this mean's, not the median's, nor the rounded mean's."""
    if not durations_ms:
        raise ValueError("no durations")
    return sum(billed_ms(d) for d in durations_ms) / len(durations_ms)


# What the rest of a message's bill is made of, beside Lambda: the API Gateway request that
# delivers it and the DynamoDB table that keeps it (bench/write_units.py measures the table's
# units, bench/report.py prices them). US East (N. Virginia), list prices, no free tier.
OTHER_PRICES = {
    "region": "us-east-1",
    # HTTP APIs, first 300 million requests a month; metered in 512 KB increments, so one
    # webhook (a few KB) is one request.
    "http_api_request_usd": 1.00 / 1_000_000,
    # On-demand throughput, Standard table class (halved on 1 November 2024).
    "write_request_unit_usd": 0.625 / 1_000_000,
    "read_request_unit_usd": 0.125 / 1_000_000,
    # Standard table class storage, beyond the first 25 GB a month; DynamoDB bills the item's
    # bytes plus 100 bytes of overhead per item (bench/meter.py, [SIZES]).
    "storage_gb_month_usd": 0.25,
    "source": "https://aws.amazon.com/api-gateway/pricing/ (HTTP APIs: $1.00 per million for the "
              "first 300 million requests a month, metered in 512 KB increments) and "
              "https://aws.amazon.com/dynamodb/pricing/on-demand/ (on-demand: $0.625 per million "
              "write request units, $0.125 per million read request units, $0.25 per GB-month "
              "of Standard table class storage after the first 25 GB), as transcribed from those "
              "pages by secondary sources (the pages render their rates in the browser); taken "
              "2026-12-02. The DynamoDB rates are those of the 50% on-demand cut of November "
              "2024; check the pages before deciding on them.",
    "taken": "2026-12-02",
}

GIB = 1024 ** 3


def storage_year_usd(item_bytes: float, prices: dict = OTHER_PRICES) -> float:
    """Keeping `item_bytes` of items (overhead included) for twelve months."""
    return item_bytes / GIB * prices["storage_gb_month_usd"] * 12


def writes_usd(write_units: float, prices: dict = OTHER_PRICES) -> float:
    return write_units * prices["write_request_unit_usd"]


def reads_usd(read_units: float, prices: dict = OTHER_PRICES) -> float:
    return read_units * prices["read_request_unit_usd"]
