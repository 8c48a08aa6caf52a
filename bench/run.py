"""Run the whole benchmark table and write it to docs/benchmarks.md.

    .venv/bin/python bench/run.py [--quick] [--out docs/benchmarks.md] [--sim process|thread] [--only ROWS] [--json]

Rows: (1) the order path (orch plugin and Orchestrator.place) against raw httpx, alpaca-py, ccxt and
ib_async on the same simulators; (2) CLI cold start against importing ccxt; (3) stream decode rate of
every plugin's decoder against a bare decode; (4) 1,000 quotes across three brokers at their published
rate limits against the bound those limits allow; (5) resident memory with all five official plugins
connected. Each row calls one script of this directory (each runnable on its own; the markdown says how).

``--quick`` runs every row with tiny counts: a smoke test of the machinery (tests/test_bench_smoke.py),
whose figures mean nothing. ``--json`` prints every figure as JSON on stdout as well. A row that fails is
written as failed, the others still run, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))  # the scripts import each other by bare name, as when run on their own

PACKAGES = ("orch-core", "httpx", "trio", "ccxt", "alpaca-py", "ib_async", "msgpack", "hypercorn", "attrs")

# Counts per mode. Full: about 80 s on a 2-core machine (one core busy elsewhere).
FULL = {"alpaca": (300, 3), "place": (100, 4), "binance": (200, 3), "ibkr": (100, 5), "cold": 15,
        "stream": (30_000, 3), "quotes": 1000, "rss": 5.0}
QUICK = {"alpaca": (10, 1), "place": (5, 1), "binance": (10, 1), "ibkr": (10, 1), "cold": 1,
         "stream": (600, 1), "quotes": 300, "rss": 0.5}

PY = ".venv/bin/python"


# ------------------------------------------------------------------------------------------- machine


def _first(path: str, prefix: str, sep: str = ":") -> str | None:
    """The value of the first ``prefix<sep>value`` line of a file (/proc/cpuinfo, /etc/os-release)."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(sep, 1)[1].strip().strip('"')
    except (OSError, IndexError):
        pass
    return None


def machine() -> dict[str, Any]:
    mem_kb = _first("/proc/meminfo", "MemTotal")
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=False).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        commit, dirty = "", ""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _first("/proc/cpuinfo", "model name") or platform.processor() or platform.machine(),
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_gib": round(int(mem_kb.split()[0]) / 1024 / 1024, 1) if mem_kb else None,
        "os": f"{_first('/etc/os-release', 'PRETTY_NAME=', '=') or platform.system()} (kernel {platform.release()})",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": versions,
        "commit": f"{commit}{' (uncommitted changes)' if dirty else ''}" if commit else "unknown",
        "load_before": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


# ------------------------------------------------------------------------------------------- rows


def row_orders(p: dict[str, Any]) -> dict[str, Any]:
    import tempfile

    import alpaca_orders
    import binance_orders
    import ibkr_orders
    import place_overhead
    from _sims import simulator

    sim = p["sim"]
    n, r = p["alpaca"]
    pn, pr = p["place"]
    with simulator("alpaca", sim) as running, tempfile.TemporaryDirectory(prefix="orch-bench-") as tmp:
        alpaca = alpaca_orders.rows(alpaca_orders.measure(n, r, sim, running))
        seconds, per_order = place_overhead.measure(running, pn, pr, Path(tmp))
    overhead = place_overhead.rows(seconds, per_order, pn)
    bn, br = p["binance"]
    binance = binance_orders.order_rows(binance_orders.measure_orders(bn, br, sim))
    kn, kr = p["ibkr"]
    ibkr = ibkr_orders.rows(ibkr_orders.measure(kn, kr, sim))
    return {"alpaca": alpaca, "place_overhead": overhead, "binance": binance, "ibkr": ibkr, "sim": sim,
            "commands": [f"{PY} bench/alpaca_orders.py -n {n} -r {r} --sim {sim}",
                         f"{PY} bench/place_overhead.py -n {pn} -r {pr} --sim {sim}",
                         f"{PY} bench/binance_orders.py -n {bn} -r {br} --sim {sim}",
                         f"{PY} bench/ibkr_orders.py -n {kn} -r {kr} --sim {sim}"]}


def row_cold_start(p: dict[str, Any]) -> dict[str, Any]:
    import cold_start

    return {"rows": cold_start.rows(cold_start.measure(p["cold"])), "runs": p["cold"],
            "commands": [f"{PY} bench/cold_start.py -n {p['cold']}"]}


def row_stream(p: dict[str, Any]) -> dict[str, Any]:
    import stream_decode

    m, r = p["stream"]
    return {"rows": stream_decode.measure(m, r), "frames": m, "rounds": r,
            "commands": [f"{PY} bench/stream_decode.py -m {m} -r {r}"]}


def row_quotes(p: dict[str, Any]) -> dict[str, Any]:
    import quotes_at_limits

    result = quotes_at_limits.measure(p["quotes"])
    result["commands"] = [f"{PY} bench/quotes_at_limits.py -n {p['quotes']} "
                          f"--brokers {','.join(result['brokers'])}"]
    return result


def row_rss(p: dict[str, Any]) -> dict[str, Any]:
    import rss

    return {"rows": rss.measure(p["rss"]), "steady_seconds": p["rss"],
            "commands": [f"{PY} bench/rss.py --steady {p['rss']:g}"]}


ROWS: list[tuple[str, str, Callable[[dict[str, Any]], dict[str, Any]]]] = [
    ("orders", "1. Order path vs peers on the same simulators", row_orders),
    ("cold_start", "2. CLI cold start vs importing ccxt", row_cold_start),
    ("stream", "3. Stream decode rate", row_stream),
    ("quotes", "4. 1,000 quotes across three brokers at their rate limits", row_quotes),
    ("rss", "5. Resident memory, all five official plugins connected", row_rss),
]


# ------------------------------------------------------------------------------------------- markdown


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    def cell(value: Any) -> str:
        return "–" if value is None else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def _x(value: float | None) -> str | None:
    return None if value is None else f"{value:.2f}x"


def _orders_md(d: dict[str, Any]) -> list[str]:
    out = ["Orders per second, one order at a time, each acknowledged before the next; resting limit orders; "
           "every rate limiter lifted (orch's, the simulator's, ib_async's throttle). Median round; contenders "
           "rotate who goes first. " + (
               "Each simulator runs in a child process (on the other core of a 2-core machine), so the "
               "client's own cost shows; the simulator's still bounds every rate: read the ratios."
               if d.get("sim") == "process" else
               "Simulators run on a thread of the benchmark's process and share its GIL: every request pays "
               "GIL hand-overs, which blur the clients' differences."), "",
           "**Alpaca simulator** (vs raw httpx and alpaca-py):", ""]
    out += _table(["client", "orders/s", "vs raw httpx", "vs alpaca-py"],
                  [[r["client"], r["orders_per_s"], _x(r["vs_raw_httpx"]), _x(r["vs_alpaca_py"])]
                   for r in d["alpaca"]])
    out += ["", "**Orchestrator.place over the bare plugin call** (Alpaca simulator, one orchestrator, resting "
            "orders accumulate):", ""]
    out += _table(["path", "ms/order", "orders/s", "HTTP requests/order", "vs bare"],
                  [[r["path"], r["ms_per_order"], r["orders_per_s"], r["http_requests_per_order"],
                    _x(r["ratio_to_bare"])] for r in d["place_overhead"]])
    out += ["", "**Binance simulator** (vs a raw HMAC-signed httpx loop and ccxt async):", ""]
    out += _table(["client", "orders/s", "vs raw httpx", "vs ccxt"],
                  [[r["client"], r["orders_per_s"], _x(r["vs_raw_httpx"]), _x(r["vs_ccxt"])]
                   for r in d["binance"]])
    out += ["", "**IBKR fake TWS** (vs ib_async `placeOrder`, waiting for `Submitted`):", ""]
    out += _table(["client", "orders/s", "vs ib_async"],
                  [[r["client"], r["orders_per_s"], _x(r["vs_ib_async"])] for r in d["ibkr"]])
    return out


def _cold_md(d: dict[str, Any]) -> list[str]:
    out = [f"Wall time of a fresh process, {d['runs']} interleaved runs each after one discarded warm-up round.", ""]
    out += _table(["command", "median ms", "min ms", "vs import ccxt"],
                  [[f"`{r['command']}`", r["median_ms"], r["min_ms"], _x(r["ratio_to_ccxt"])] for r in d["rows"]])
    return out


def _stream_md(d: dict[str, Any]) -> list[str]:
    out = [f"Frames per second through each plugin's decoder (frame in, Quote/Kline out) vs a bare decode of the "
           f"same {d['frames']:,} frames ({d['rounds']} round(s), median).", ""]
    out += _table(["decoder", "frames/s", "items out", "bare peer", "peer frames/s", "vs peer"],
                  [[r["decoder"], f"{r['frames_per_s']:,}", r["items"], f"`{r['peer']}`",
                    f"{r['peer_frames_per_s']:,}", _x(r["vs_peer"])] for r in d["rows"]])
    return out


def _quotes_md(d: dict[str, Any]) -> list[str]:
    out = [f"{d['quotes']:,} quotes split evenly across {', '.join(d['brokers'])}, asked side by side "
           f"({d['concurrency']} caller per broker), each client with its plugin's published limits, on trio's "
           "MockClock with the simulators in the same trio run (virtual time; the simulators answer in zero "
           "virtual time). Bound: the earliest instant the limits allow the last request, replaying the "
           "recorded limiter charges through orch's budget arithmetic. measured/bound 1.00 is perfect; "
           "– where the limits need no waiting at all.", ""]
    rows = [[r["broker"], r["quotes"], r["requests_per_quote"],
             "; ".join(f"{k}: {v}" for k, v in r["limits"].items()), r["bound_s"], r["measured_s"],
             _x(r["ratio"]), r["retries"], r["failed"]] for r in d["rows"]]
    rows.append(["**all**", d["quotes"], None, None, d["bound_s"], d["measured_s"], _x(d["ratio"]), None, None])
    out += _table(["broker", "quotes", "requests/quote", "limits", "bound s", "measured s (virtual)",
                   "measured/bound", "retries", "failed"], rows)
    out += ["", f"Real time for the whole run: {d['wall_s']} s wall, {d['cpu_s']} s CPU."]
    failures = [f"{r['broker']}: {r['first_failure']}" for r in d["rows"] if r["first_failure"]]
    if failures:
        out += ["", "First failure per broker: " + "; ".join(failures)]
    return out


def _rss_md(d: dict[str, Any]) -> list[str]:
    out = [f"Resident set from `/proc/self/status`: peak (`VmHWM`) and steady (`VmRSS`, median over the second "
           f"half of {d['steady_seconds']:g} s idle after connecting). Simulators run in separate processes.", ""]
    out += _table(["process", "steady MiB", "peak MiB", "vs bare python", "vs import ccxt"],
                  [[r["process"], r["steady_mib"], r["peak_mib"], _x(r["vs_bare"]), _x(r["vs_ccxt"])]
                   for r in d["rows"]])
    return out


RENDER = {"orders": _orders_md, "cold_start": _cold_md, "stream": _stream_md, "quotes": _quotes_md,
          "rss": _rss_md}


def markdown(info: dict[str, Any], results: dict[str, Any], quick: bool) -> str:
    out = ["# Benchmarks", "",
           f"Generated by `{PY} bench/run.py{' --quick' if quick else ''}` on {info['date']} "
           f"(commit {info['commit']}). Each section says how to rerun its row alone; "
           "[bench/README.md](../bench/README.md) describes the scripts.", ""]
    if quick:
        out += ["> **--quick run**: tiny counts to check the machinery. These figures are not measurements.", ""]
    p = info["packages"]
    out += ["## Machine", ""]
    out += _table(["", ""], [
        ["CPU", info["cpu"]], ["nproc", info["nproc"]], ["RAM", f"{info['ram_gib']} GiB"], ["OS", info["os"]],
        ["Python", info["python"]],
        ["packages", ", ".join(f"{k} {v}" for k, v in p.items())],
        ["load average before / after", f"{info['load_before']} / {info.get('load_after')}"],
        ["run time", f"{info.get('total_s')} s"],
    ])
    out.append("")
    for key, title, _ in ROWS:
        out += [f"## {title}", ""]
        result = results.get(key)
        if result is None:
            out += ["Not run.", ""]
            continue
        if "error" in result:
            out += [f"**Failed**: {result['error']}", ""]
        else:
            out += RENDER[key](result)
            out.append("")
        out += [f"Took {result.get('seconds')} s. Rerun this row alone:", "", "```sh"]
        out += result.get("commands", [])
        out += ["```", ""]
    return "\n".join(out)


# ------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts: check the machinery, not the figures")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"), help="where to write the markdown")
    parser.add_argument("--sim", choices=("process", "thread"), default="process",
                        help="where the order benchmarks' simulators run (a thread shares the client's GIL)")
    parser.add_argument("--only", help=f"comma-separated rows to run (of {', '.join(k for k, _, _ in ROWS)})")
    parser.add_argument("--json", action="store_true", help="also print every figure as JSON on stdout")
    args = parser.parse_args(argv)
    keys = [k for k, _, _ in ROWS]
    only = [k.strip() for k in args.only.split(",")] if args.only else keys
    unknown = [k for k in only if k not in keys]
    if unknown:
        parser.error(f"unknown row(s) {', '.join(unknown)}; rows are {', '.join(keys)}")
    params = {**(QUICK if args.quick else FULL), "sim": args.sim}
    info = machine()
    results: dict[str, Any] = {}
    started = time.perf_counter()
    failed = False
    for key, title, run in ROWS:
        if key not in only:
            continue
        print(f"{title} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            results[key] = run(params)
        except (Exception, SystemExit) as exc:
            failed = True
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            results[key] = {"error": detail.splitlines()[-1]}
            print(f"  failed: {detail}", file=sys.stderr, flush=True)
        results[key]["seconds"] = round(time.perf_counter() - t0, 1)
        print(f"  {results[key]['seconds']} s", file=sys.stderr, flush=True)
    info["total_s"] = round(time.perf_counter() - started, 1)
    info["load_after"] = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown(info, results, args.quick))
    print(f"wrote {out} in {info['total_s']} s", file=sys.stderr)
    if args.json:
        print(json.dumps({"quick": args.quick, "machine": info, "results": results}, indent=2, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
