"""The benchmark's outputs: percentiles, the printed table, bench/results/latest.json, two charts."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any


def pct_ms(values: list[float], p: float) -> float:
    """The p-quantile (nearest rank) of latencies in seconds, in milliseconds; NaN when empty."""
    if not values:
        return float("nan")
    s = sorted(values)
    return round(s[min(len(s) - 1, int(len(s) * p))] * 1000, 3)


def summary_ms(values: list[float]) -> dict[str, float]:
    return {"p50": pct_ms(values, 0.50), "p90": pct_ms(values, 0.90), "p99": pct_ms(values, 0.99),
            "max": round(max(values) * 1000, 3) if values else float("nan")}


def machine() -> dict[str, Any]:
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {"cpu_model": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "load_avg_1m_at_end": round(load, 2)}


def stable(figures: dict[str, Any]) -> dict[str, Any]:
    """Exactly the keys issue 13 names (plus `machine`), and issue 12's `jetstream` (its
    `preconf_latency_ms.<rate>.<per>` and `ingest.stream_tx_per_s`): what other tools may read."""
    return {k: figures[k] for k in ("ceilings", "ingest", "preconf_latency_ms", "echo_latency_ms", "jetstream",
                                    "subscriber_latency_ms", "memory", "restart_s_100k_blocks", "machine")}


def write_json(figures: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(stable(figures), indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b and b == b and a == a else "-"


def table(f: dict[str, Any], notes: dict[str, Any]) -> str:
    c, i = f["ceilings"], f["ingest"]
    m = f["machine"]
    lines = [f"machine: {m['cpu_model']}, {m['cores']} cores, Python {m['python']}, "
             f"load average {m['load_avg_1m_at_end']} at the end",
             "", "ceilings (same run)",
             f"  grpc.aio echo, single-tx messages, {notes['ingest_streams']}"
             f"  {c['grpc_echo_msgs_per_s']:>10,.0f} msg/s",
             f"  secp256k1 recoveries, one core                       {c['secp256k1_recover_per_s']:>10,.0f} /s",
             f"  fsync'd SQLite commit (median)                       {c['sqlite_commit_ms']:>10.2f} ms",
             "", "ingest (closed loop, signed EIP-1559)                        tx/s   vs ceiling"]
    for key, label in (("stream_tx_per_s", f"StreamSubmit lists of {notes['list_size']}, {notes['ingest_streams']}"),
                       ("single_msg_tx_per_s", f"single-tx messages, {notes['ingest_streams']}"),
                       ("unary_tx_per_s", f"unary SubmitTransaction, {notes['unary_calls']}"),
                       ("bundles_per_s", f"bundles of {notes['bundle_legs']} (bundles/s)")):
        ceiling = c["grpc_echo_msgs_per_s"] if key == "single_msg_tx_per_s" else c["secp256k1_recover_per_s"]
        which = "echo" if key == "single_msg_tx_per_s" else "recover"
        lines.append(f"  {label:52s} {i[key]:>10,.0f}   {ratio(i[key], ceiling)} of {which}")
    js = f["jetstream"]
    js_stream = js["ingest"]["stream_tx_per_s"]
    lines.append(f"  {'StreamSubmit lists, JetStream log (3 replicas)':52s} {js_stream:>10,.0f}   "
                 f"{ratio(js_stream, i['stream_tx_per_s'])} of SQLite's")
    for key, text in notes.get("ingest_errors", {}).items():
        lines.append(f"    ({key}: {text})")
    lines += ["", "preconfirmation latency (open loop, receipt - scheduled send), ms; echo at the same message rate",
              "  tx/s   per msg   p50      p90      p99      max     | echo p50  echo p99 | p99 ratio  late sends"]
    for rate, shapes in f["preconf_latency_ms"].items():
        for per, s in shapes.items():
            e = f["echo_latency_ms"][rate][per]
            late = notes["late"].get(f"{rate}/{per}", "")
            lines.append(f"  {rate:>6} {per:>6}  {s['p50']:8.2f} {s['p90']:8.2f} {s['p99']:8.2f} {s['max']:8.2f} |"
                         f" {e['p50']:8.2f}  {e['p99']:8.2f} | {ratio(s['p99'], e['p99']):>9}  {late}")
    lines += ["", *jetstream_table(f, notes)]
    lines += ["", "seal-to-subscriber latency (header timestamp -> received), ms"]
    for n, s in f["subscriber_latency_ms"].items():
        lines.append(f"  {n:>4} subscribers: p50 {s['p50']:.2f}  p99 {s['p99']:.2f}  "
                     f"({notes['subscriber_blocks'].get(n, 0)} blocks received)")
    for n, s in notes.get("scale", {}).items():
        lines.append(f"  {n:>4} rollups registered, 3 subscribers: p50 {s['p50']:.2f}  p99 {s['p99']:.2f}")
    mem = f["memory"]
    lines += ["", f"memory: RSS {mem['rss_mb_start']:.1f} MB -> {mem['rss_mb_end']:.1f} MB over a "
              f"{notes['soak_s']:.0f} s soak at {notes['soak_rate']:.0f} tx/s ({notes['soak_txs']:,} receipts)",
              f"restart from {notes['restart_blocks']:,} blocks: {f['restart_s_100k_blocks']:.2f} s from process start "
              f"to serving,\n  of which opening the log and resuming {notes['restart_open_s']:.2f} s "
              f"(a start on an empty log: {notes['empty_start_s']:.2f} s to serving)"]
    return "\n".join(lines)


def jetstream_table(f: dict[str, Any], notes: dict[str, Any]) -> list[str]:
    """The JetStream log's latency beside the SQLite log's at each rate and message size, with the
    phase's note (its setup, or why its figures are NaN)."""
    lines = ["preconfirmation latency, the SQLite log beside the JetStream log (a stream of 3 replicas: a "
             "receipt waits for a quorum's ack), ms",
             f"  ({notes.get('jetstream', '')})",
             "  tx/s   per msg | SQLite p50    p99 | JetStream p50      p90      p99      max | p99 JS/SQLite"
             "  late sends (JetStream)"]
    for rate, shapes in f["jetstream"]["preconf_latency_ms"].items():
        for per, q in shapes.items():
            sq = f["preconf_latency_ms"].get(rate, {}).get(per)
            sq50, sq99 = (sq["p50"], sq["p99"]) if sq else (float("nan"), float("nan"))
            late = notes["late"].get(f"jetstream {rate}/{per}", "")
            lines.append(f"  {rate:>6} {per:>6}  | {sq50:10.2f} {sq99:8.2f} | {q['p50']:13.2f} {q['p90']:8.2f} "
                         f"{q['p99']:8.2f} {q['max']:8.2f} | {ratio(q['p99'], sq99):>13}  {late}")
    return lines


def charts(f: dict[str, Any], folder: Path) -> list[Path]:
    """latency.png (p50/p99 against offered load, sequencer and echo) and throughput.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    m = f["machine"]
    where = f"{m['cpu_model']}, {m['cores']} cores (load {m['load_avg_1m_at_end']})"
    fig, ax = plt.subplots(figsize=(8, 5))
    for per, style in (("1", "o"), ("5", "s")):
        rates = [int(r) for r in f["preconf_latency_ms"] if per in f["preconf_latency_ms"][r]]
        for src, key, ls in (("sequencer", "preconf_latency_ms", "-"), ("echo", "echo_latency_ms", ":")):
            for q in ("p50", "p99"):
                ys = [f[key][str(r)][per][q] for r in rates]
                ax.plot(rates, ys, ls, marker=style, label=f"{src} {q}, {per} tx/msg")
        js = f["jetstream"]["preconf_latency_ms"]
        js_rates = [int(r) for r in js if per in js[r] and js[r][per]["p99"] == js[r][per]["p99"]]  # not NaN
        for q in ("p50", "p99") if js_rates else ():
            ax.plot(js_rates, [js[str(r)][per][q] for r in js_rates], "--", marker=style,
                    label=f"sequencer on JetStream {q}, {per} tx/msg")
    ax.set_xlabel("offered load (tx/s)")
    ax.set_ylabel("latency (ms)")
    ax.set_yscale("log")
    ax.set_title(f"preconfirmation latency (SQLite log, JetStream log) vs the grpc.aio echo floor\n{where}",
                 fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    lat = folder / "latency.png"
    fig.savefig(lat, dpi=100, bbox_inches="tight")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4))
    labels = ["stream lists", "lists, JetStream", "single-tx msgs", "unary", "bundles/s", "echo msgs/s",
              "recover/s (1 core)"]
    i, c = f["ingest"], f["ceilings"]
    js_stream = f["jetstream"]["ingest"]["stream_tx_per_s"]
    vals = [i["stream_tx_per_s"], js_stream if js_stream == js_stream else 0, i["single_msg_tx_per_s"],
            i["unary_tx_per_s"], i["bundles_per_s"], c["grpc_echo_msgs_per_s"], c["secp256k1_recover_per_s"]]
    ax.bar(labels, vals, color=["C0", "C1", "C0", "C0", "C0", "C7", "C7"])
    ax.set_ylabel("per second")
    ax.set_title(f"throughput by mode (grey: ceilings, same run)\n{where}", fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    thr = folder / "throughput.png"
    fig.savefig(thr, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return [lat, thr]
