"""The benchmark, run on demand (`make bench`), never in the tests. Every figure is reported
beside a baseline measured in the same run, as a ratio:

(a) webhook acknowledgements per second through the real intake (token check, JMESPath meta,
    durable store, job queueing) versus a bare Flask endpoint, both served by gunicorn with the
    same settings and driven by the same load generator. Goal: ≥ 0.6× the bare endpoint.
(b) rule evaluation per event through the engine (standard rules, trace, conditions) versus a
    hand-written minimal JMESPath + Jinja mapping of the same fields. Goal: ≤ 1.5× its cost.

The worker's figures, each a module of its own with its own options (`python -m bench.<name>
--help`) and results file (bench/results/<name>.json); here with their defaults:
(d) worker: jobs/s of one worker process versus a requests loop making the same HTTP calls;
(e) sql: SQL statements, commits and pings per job at 20 and 200 tenants (goal ≤ 8, flat);
(f) onboarding: 300 new people under the real limits versus the TH quota minimum;
(g) hung: the healthy tenants' jobs/s with one hung TH portal versus without (goal ≥ 0.9);
(h) memory: RSS of a web and a worker process after 10,000 deliveries versus idle (≤ 1.1);
(i) starvation: jobs/s with webhooks arriving at half the intake's capacity versus none (≥ 0.8).
(c) reconciliation stays `python -m bench.reconcile`.
"""

import argparse
import importlib
import json
import os
import platform
import statistics
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.evaluation import EVENTS, handwritten, run_engine
from bench.load import compare

WORKER_BENCHES = ("worker", "sql", "onboarding", "hung", "memory", "starvation")
RESULTS = Path(__file__).resolve().parent / "results"


def bench_intake(requests_total: int, concurrency: int, rounds: int) -> dict:
    figures = compare(requests_total, concurrency, rounds)
    bare, real = statistics.median(figures["bare"]), statistics.median(figures["intake"])
    ratios = [i / b for i, b in zip(figures["intake"], figures["bare"], strict=True)]
    intake_p99 = statistics.median(figures["intake_p99_ms"])
    return {
        "bare_acks_per_s": round(bare, 1),
        "intake_acks_per_s": round(real, 1),
        "ratio": round(real / bare, 3),
        "ratio_per_round": [round(r, 3) for r in ratios],
        "bare_p99_ms": round(statistics.median(figures["bare_p99_ms"]), 1),
        "intake_p99_ms": round(intake_p99, 1),
        "goal": ">= 0.8, p99 < 20 ms",
        "met": real / bare >= 0.8 and intake_p99 < 20,
    }


def per_event(fn, events, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for event in events:
            fn(event)
        best = min(best, (time.perf_counter() - start) / len(events))
    return best


def bench_rules(rounds: int) -> dict:
    now = datetime(2026, 11, 28, 9, 0, tzinfo=ZoneInfo("Australia/Sydney"))
    events = EVENTS * rounds
    engine_fn, handwritten_fn = run_engine(now), handwritten(now)
    for event in EVENTS:  # both must produce the same payloads before they are timed
        assert engine_fn(event) == handwritten_fn(event), event["employee"]["id"]
    engine = per_event(engine_fn, events, repeat=5)
    baseline = per_event(handwritten_fn, events, repeat=5)
    return {
        "engine_us_per_event": round(engine * 1e6, 1),
        "handwritten_us_per_event": round(baseline * 1e6, 1),
        "ratio": round(engine / baseline, 3),
        "goal": "<= 1.5",
        "met": engine / baseline <= 1.5,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="webhooks per round")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--intake-rounds", type=int, default=5, help="alternating rounds")
    parser.add_argument("--rounds", type=int, default=400, help="rule evaluation rounds")
    parser.add_argument("--only", choices=["intake", "rules", *WORKER_BENCHES])
    args = parser.parse_args()
    report = {
        "machine": f"{platform.node()} {os.cpu_count()} cpu, Python {platform.python_version()}",
        "at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    if args.only in (None, "rules"):
        report["rules"] = bench_rules(args.rounds)
        print_section("(b) rule evaluation", report["rules"])
    if args.only in (None, "intake"):
        report["intake"] = bench_intake(args.requests, args.concurrency, args.intake_rounds)
        print_section("(a) webhook intake", report["intake"])
    for name in WORKER_BENCHES:
        if args.only in (None, name):
            importlib.import_module(f"bench.{name}").main([])
            report[name] = json.loads((RESULTS / f"{name}.json").read_text())
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2))
    print(f"\nwritten to {RESULTS / 'latest.json'}")


def print_section(title: str, figures: dict) -> None:
    print(f"\n{title}")
    for key, value in figures.items():
        print(f"  {key:28} {value}")


if __name__ == "__main__":
    main()
