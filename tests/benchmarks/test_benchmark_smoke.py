"""The benchmarks' --quick modes, run as a user runs them, with their JSON checked exactly (counts, not times)."""

from __future__ import annotations

import json
import pstats
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from examples.services.catalog import seed_products
from examples.services.orders import seed_orders

ROOT = Path(__file__).parents[2]


def run_benchmark(name: str, tmp_path: Path, *args: str) -> dict[str, Any]:
    """Run `python -m benchmarks.NAME --quick` with --json and --plot; the JSON it wrote (the PNG checked)."""
    output, picture = tmp_path / f"{name}.json", tmp_path / f"{name}.png"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            f"benchmarks.{name}",
            "--quick",
            "--json",
            str(output),
            "--plot",
            str(picture),
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip(), "the benchmark prints a table"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return json.loads(output.read_text())


def distinct_products(n: int) -> int:
    return len({row[2] for row in sorted(seed_orders())[:n]})


def distinct_buyers_and_sellers(n: int) -> tuple[int, int, int]:
    """Distinct buyers, distinct sellers, and distinct accounts among both, of the first n orders."""
    orders = sorted(seed_orders())[:n]
    seller_of = {row[0]: row[3] for row in seed_products()}
    buyers, sellers = {row[1] for row in orders}, {seller_of[row[2]] for row in orders}
    return len(buyers), len(sellers), len(buyers | sellers)


def test_batching_quick(tmp_path: Path) -> None:
    result = run_benchmark("batching", tmp_path)
    assert result["benchmark"] == "batching"
    runs = {(r["query"], r["n"], r["mode"]): r for r in result["runs"]}
    modes = ("on", "on-per-level", "off", "federation-on", "federation-off")
    assert sorted(runs) == sorted((q, n, m) for q in ("flat", "deep") for n in (10, 100) for m in modes)
    for (query, n, mode), run in runs.items():
        assert run["errors"] == 0 and run["complete"] is True, run
        products = distinct_products(n)
        buyers, sellers, everyone = distinct_buyers_and_sellers(n)
        batched = not mode.endswith("off")
        # Batching off, one call per parent: the federation asks catalog for each product's fields (flat: name
        # and price; deep: name and seller) in one `_entities` call, as the annotations do in one batch field.
        if query == "flat":
            expected_calls = {
                "orders": 1,
                "catalog": 1 if batched else n,
                "accounts": 0,
                "reviews": 0,
            }
            expected_keys = {
                "orders": 0,
                "catalog": products if batched else n,
                "accounts": 0,
                "reviews": 0,
            }
        elif mode in ("on", "federation-on"):  # the buyers (level 1) wait for the sellers (level 2): one call
            expected_calls = {"orders": 1, "catalog": 1, "accounts": 1, "reviews": 1}
            expected_keys = {"orders": 0, "catalog": products, "accounts": everyone, "reviews": products}
        elif mode == "on-per-level":  # one call per service per level: accounts twice (buyers, then sellers)
            expected_calls = {"orders": 1, "catalog": 1, "accounts": 2, "reviews": 1}
            expected_keys = {
                "orders": 0,
                "catalog": products,
                "accounts": buyers + sellers,
                "reviews": products,
            }
        else:  # one call per parent
            expected_calls = {"orders": 1, "catalog": n, "accounts": 2 * n, "reviews": n}
            expected_keys = {"orders": 0, "catalog": n, "accounts": 2 * n, "reviews": n}
        assert run["calls"] == expected_calls, (query, n, mode)
        assert run["keys"] == expected_keys, (query, n, mode)
        assert run["p50_ms"] > 0 and run["p95_ms"] >= run["p50_ms"]
    for query in ("flat", "deep"):
        for n in (10, 100):
            on, federated = runs[(query, n, "on")], runs[(query, n, "federation-on")]
            assert federated["latency_ratio_federation_annotation"] == federated["p50_ms"] / on["p50_ms"]
            off = runs[(query, n, "federation-off")]
            assert federated["latency_ratio_off_on"] == off["p50_ms"] / federated["p50_ms"]


def test_overhead_quick(tmp_path: Path) -> None:
    result = run_benchmark("overhead", tmp_path)
    assert result["benchmark"] == "overhead"
    # observability off, and each mode on, side by side in the one run (the test extra installs their packages)
    modes = ["off", "metrics", "metrics+tracing", "metrics+tracing+logs"]
    assert result["settings"]["observability"] == modes
    runs = {(r["query"], r["observability"]): r for r in result["runs"]}
    assert sorted(runs) == sorted((q, m) for q in ("deep", "flat") for m in modes)
    for (query, _mode), run in runs.items():
        # every resolved field counted: orders + per order (flat) id, product, name, price / (deep) id, product,
        # name, seller, name, buyer, name
        assert run["fields"] == 1 + 100 * (4 if query == "flat" else 7)
        assert run["gateway_p50_ms"] > 0 and run["floor_p50_ms"] > 0
        assert run["latency_ratio"] == run["gateway_p50_ms"] / run["floor_p50_ms"]
        # every mode of a query is measured against the same floor samples
        assert run["floor_p50_ms"] == runs[(query, "off")]["floor_p50_ms"]
        off = runs[(query, "off")]
        assert run["cpu_us_vs_off"] == (run["gateway_cpu_ms"] - off["gateway_cpu_ms"]) * 1e3
        assert run["latency_ratio_vs_off"] == run["gateway_p50_ms"] / off["gateway_p50_ms"]
    assert all(runs[(q, "off")]["cpu_us_vs_off"] == 0 for q in ("deep", "flat"))


def test_load_quick(tmp_path: Path) -> None:
    result = run_benchmark("load", tmp_path)
    assert result["benchmark"] == "load"
    n = result["settings"]["n"]
    runs = {r["mode"]: r for r in result["runs"]}
    assert sorted(runs) == ["off", "on"]
    for mode, run in runs.items():
        assert run["errors"] == 0 and run["requests"] > 0, run
        assert run["peak_rss_mb"] > 0
        # every request of the run cost exactly this downstream: the minimum with batching, one per parent off
        catalog = 1 if mode == "on" else n
        assert run["calls_per_request"] == {"accounts": 0, "catalog": catalog, "orders": 1, "reviews": 0}


def test_peer_quick(tmp_path: Path) -> None:
    result = run_benchmark("peer", tmp_path)
    assert result["benchmark"] == "peer"
    runs = {r["mode"]: r for r in result["runs"]}
    assert list(runs) == ["floor", "funnel", "funnel-2w"]
    # the floor is the optimal plan: one call per service, buyers and sellers in one accounts call; so is
    # Funnel's, the buyers waiting for the sellers' level (every answer was checked equal to the floor's)
    assert runs["floor"]["calls_per_query"] == {"orders": 1, "catalog": 1, "accounts": 1}
    for mode in ("funnel", "funnel-2w"):
        assert runs[mode]["calls_per_query"] == {"orders": 1, "catalog": 1, "accounts": 1}
    for run in runs.values():
        assert run["errors"] == 0 and run["rps"] > 0 and run["cpu_ms_per_request"] > 0, run
        assert run["peak_rss_mb"] > 0
    assert runs["funnel"]["cpu_ratio_to_floor"] == (
        runs["funnel"]["cpu_ms_per_request"] / runs["floor"]["cpu_ms_per_request"]
    )


def test_faults_quick(tmp_path: Path) -> None:
    result = run_benchmark("faults", tmp_path, "--fault", "error")
    assert result["benchmark"] == "faults"
    runs = {(r["mode"], r["phase"]): r for r in result["runs"]}
    assert sorted(runs) == sorted((m, p) for m in ("on", "off") for p in ("healthy", "failing", "recovered"))
    for (mode, phase), run in runs.items():
        assert run["requests"] > 0, (mode, phase)
        # a failing catalog costs only its own fields: orders and buyers stay whole in every phase
        assert run["success"]["orders"] == 1.0 and run["success"]["buyer"] == 1.0, (mode, phase)
        if phase != "recovered":  # (an open breaker may still be failing fast through a short recovery)
            assert run["catalog_attempts"] > 0, (mode, phase)
    for mode in ("on", "off"):
        assert runs[(mode, "healthy")]["success"] == {
            "orders": 1.0,
            "buyer": 1.0,
            "product": 1.0,
            "reviews": 1.0,
        }
        assert runs[(mode, "failing")]["success"]["product"] < 1.0
    assert (
        len(result["series"]["on"]) == len(result["series"]["off"]) == int(result["settings"]["seconds"]) + 1
    )


def test_abuse_quick(tmp_path: Path) -> None:
    result = run_benchmark("abuse", tmp_path)
    assert result["benchmark"] == "abuse"
    runs = {r["scenario"]: r for r in result["runs"]}
    assert list(runs) == ["baseline", "amplification", "alias-flood", "big-documents", "slowloris"]
    # every attack is refused exactly as the default limits say (big documents are valid, and answered)
    expected = {
        "baseline": set(),
        "amplification": {"400 COST_LIMIT_EXCEEDED", "400 QUERY_TOO_DEEP"},
        "alias-flood": {"400 TOO_MANY_TOKENS"},
        "big-documents": {"200 ok"},
    }
    for scenario, outcomes in expected.items():
        assert set(runs[scenario]["attacker_outcomes"]) == outcomes, scenario
    # 200 slow sockets from one address: max_connections_per_address (100) admitted, cut off by the body timeout
    # (its 408), the rest closed unanswered at once
    slow = runs["slowloris"]["attacker_outcomes"]
    assert set(slow) == {"408 Request Timeout", "closed unanswered"}, slow
    assert slow["408 Request Timeout"] >= 100
    for scenario, run in runs.items():
        assert run["good_failures"] == 0 and run["good_requests"] > 0, scenario
        assert (scenario == "baseline") == (run["attacker_requests"] == 0), scenario
        assert run["attacker_requests"] == sum(run["attacker_outcomes"].values())
        assert (
            run["gateway_cpu_s"] > 0
            and run["peak_rss_mb"] >= run["rss_end_mb"] > 0
            and run["rss_half_mb"] > 0
        )
        assert run["p50_ratio"] == run["good_p50_ms"] / runs["baseline"]["good_p50_ms"]


def test_cache_quick(tmp_path: Path) -> None:
    # The CI installs redis-server: a missing one is a broken machine, not a reason to skip the redis mode.
    assert shutil.which("redis-server"), "redis-server is not on PATH: apt-get install -y redis-server"
    result = run_benchmark("cache", tmp_path, "--seconds", "1.5", "--replica-requests", "5")
    assert result["benchmark"] == "cache"
    runs = {(r["phase"], r["mode"]): r for r in result["runs"]}
    phases = ("steady", "new replica")
    assert list(runs) == [(p, m) for p in phases for m in ("off", "memory", "redis")]
    for key, run in runs.items():
        assert run["requests"] > 0 and run["checked"] > 0, key
        assert run["mismatches"] == 0 and run["errors"] == 0, run
        # one orders call per request whatever the cache: the root field is not cached
        assert run["calls"]["orders"] == 1.0, key
        assert run["keys_per_request"] == round(sum(run["keys"].values()), 2)
    # each new replica got exactly 5 requests from each of the 8 clients
    assert all(runs[("new replica", m)]["requests"] == 40 for m in ("off", "memory", "redis"))
    for phase in phases:
        off = runs[(phase, "off")]
        # with the cache off every page costs every key: 10 products, 10 reviews lists, 10 buyers and 10
        # sellers (fewer where a page repeats one)
        assert 0 < off["keys"]["catalog"] <= 10 and 0 < off["keys"]["accounts"] <= 20
        assert off["hit_rate"] is None and sum(off["lookups"].values()) == 0  # no rules: nothing looked up
        for mode in ("memory", "redis"):
            run = runs[(phase, mode)]
            assert run["keys_per_request"] < off["keys_per_request"], (phase, mode)
            assert run["keys_saved"] == round(1 - run["keys_per_request"] / off["keys_per_request"], 3)
            # the gateway's view: a key is sent downstream only after it was missed
            lookups = run["lookups"]
            assert 0 <= run["keys_sent"] <= lookups["miss"] and lookups["hit"] > 0, (phase, mode)
            assert run["hit_rate"] == round(
                (lookups["hit"] + lookups["negative_hit"]) / sum(lookups.values()), 3
            )
    # the replicas got the same pages: the cache looked up exactly the keys the off gateway sent
    off_keys = runs[("new replica", "off")]["keys_sent"]
    assert all(sum(runs[("new replica", m)]["lookups"].values()) == off_keys for m in ("memory", "redis"))
    # a new replica's memory starts cold; Redis still holds what the first redis gateway fetched
    assert (
        runs[("new replica", "redis")]["keys_per_request"]
        < runs[("new replica", "memory")]["keys_per_request"]
    )


def test_registry_quick(tmp_path: Path) -> None:
    result = run_benchmark("registry", tmp_path)
    assert result["benchmark"] == "registry"
    runs = {r["mode"]: r for r in result["runs"]}
    assert sorted(runs) == ["registry", "yaml"]
    for run in runs.values():
        assert run["errors"] == 0 and run["requests"] > 0, run
    assert runs["registry"]["rps_ratio_vs_yaml"] == round(runs["registry"]["rps"] / runs["yaml"]["rps"], 3)
    first = result["registration_to_first_call_ms"]
    assert (first["samples"], first["errors"]) == (3, 0)
    assert 0 < first["p50"] <= first["p95"] <= first["max"]


def test_hotspots_profiles_a_served_request(tmp_path: Path) -> None:
    profile = tmp_path / "funnel.prof"
    command = [sys.executable, "-m", "benchmarks.hotspots", "--requests", "40", "--clients", "4"]
    completed = subprocess.run(
        [*command, "--top", "5", "--out", str(profile)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("40 requests (0 failed) in "), completed.stdout[:200]
    assert f"profile in {profile}" in completed.stdout.splitlines()[0]
    profiled = pstats.Stats(str(profile)).get_stats_profile().func_profiles
    functions = {
        (Path(f.file_name).parent.name, Path(f.file_name).name, name) for name, f in profiled.items()
    }
    assert {
        ("gateway", "request.py", "run_request"),
        ("instrumentation", "projection.py", "project"),
    } <= functions
