"""The Markdown table of Benchmarks/run.py, made from its JSON document alone (so that a partial run's
JSON gives the same table as the run printed):

    python3 Benchmarks/bench_report.py DIR/benchmarks.json > benchmarks.md
"""
from __future__ import annotations

import json
import statistics
import sys

TASK_LABEL = {"eval": "ln L + gradient (off the inits)", "fit": "fit", "hypotest": "q̃μ hypotest, μ = 1", "limit": "upper limit (obs.)"}
CHECK_LABEL = {"eval": "ln L 1e-9", "fit": "2NLL 1e-3", "hypotest": "CLs 1e-4", "limit": "limit 1e-3"}


def fmt_time(seconds):
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_ratio(x):
    return f"{x:.1f}×" if x < 10 else f"{x:.0f}×"


def loads(document):
    machine = document["machine"]
    rounds = ", ".join(f"{x[0]:.1f}" for x in machine["load_after_rounds"])
    after = machine.get("load_after")
    return (f"load average (1 min) {machine['load_before'][0]:.1f} before" + (f", after each round {rounds}" if rounds else "")
            + (f", {after[0]:.1f} at the end" if after else ""))


def header(document):
    peers = document["peers"]
    state = {"complete": "complete", "running": "**partial** (the run is still going or was stopped)",
             "failed": "complete, with **FAILED** rows"}[document["status"]]
    lines = [f"`{document['command']}`: {state}; {document['rounds_done']} of {document['rounds']} rounds.", "",
             f"CPU time, medians of the interleaved rounds (range in brackets); {loads(document)}; {document['machine']['cpus']} cores; "
             f"efthf {document['efthf']}. Peers get at most {document['budget_cpu_seconds']:g} CPU-s per row and round "
             "(a peer past it is killed, shown as \"> N CPU-s (budget)\", and not asked that row again)."]
    if "root" in peers:
        s = document["root_settings"]
        lines += ["", "ROOT 6.40 (PyPI wheel) runs on efthf's HS3 export (`efthf export --hs3`, imported by RooJSONFactoryWSTool), "
                  f"every NLL with `EvalBackend(\"{s['backend']}\")` (RooFit's vectorised CPU backend, once BatchMode); its NLL is related "
                  "to efthf's ln L by the constant at efthf's inits (Specs/hs3.md §2). ROOT's eval row is the **NLL value alone** (its "
                  "gradient is numerical), every parameter moved between calls in a C++ loop; efthf's is ln L + exact gradient. "
                  f"Fits: Minuit2 migrad, **strategy {s['strategy']}**, `Offset(True)`, tolerance 0.01, no hesse; hypotest: RooStats "
                  f"AsymptoticCalculator (Minuit2 strategy {s['strategy']}, no NLL offset), one-sided q̃μ at μ = 1; limit: "
                  "HypoTestInverter (CLs, 95 %, automatic scan) on it; eft: migrad + hesse (efthf's eft command also searches for "
                  "minima and computes profile intervals). ROOT's importer sets `positiveDefinite` on every histosys "
                  "PiecewiseInterpolation, which clamps a sample's interpolated yield at 0 where pyhf's code4p goes below it "
                  "(Specs/hs3.md §2.3); the eval check compares the same ROOT NLL with that clamp off to 1e-9 and states the "
                  "clamp's own |Δ ln L| where it is not 0."]
    return lines


def cell(row, peer, budget):
    times = row["cpu_seconds"].get(peer)
    if peer in row.get("over_budget", []):
        return f"> {budget:g} CPU-s (budget)"
    if times:
        return f"{fmt_time(times['median'])} [{fmt_time(times['min'])}–{fmt_time(times['max'])}]"
    result = row["results"].get(peer)
    if isinstance(result, dict) and "error" in result:
        return "cannot (below)"
    return "not run" if row["status"] != "FAILED" else "—"


def row_line(row, peers, budget):
    med = {p: t["median"] for p, t in row["cpu_seconds"].items()}
    res = row["results"]
    cells = [cell(row, p, budget) for p in ["efthf", *peers]]
    if row["task"] == "eft":
        cells = [cells[0]] + [cell(row, p, budget) if p == "root" else "no peer" for p in peers]
        ratios = [fmt_ratio(med[p] / med["efthf"]) if p in med and "efthf" in med else "" for p in peers]
        checked = ""
        if "twice_nll" in res:
            checked = (f"converged, 2NLL {res['twice_nll']:.6f} = −2 ln L at the minimum; {res['evaluations']} likelihood "
                       "evaluations in all (fit, search, uncertainties, intervals)")
        if "root" in med:
            checked += "; ROOT's 2NLL (with the §2.1 width term) 1e-2"
        task = f"fit --ops {row['ops']}"
    elif row["task"] == "scan":
        cells = [cells[0]] + ["" for _ in peers]
        ratios = ["" for _ in peers]
        one = res.get("cpu_one_core")
        checked = ""
        if one and "efthf" in med:
            one = statistics.median(one)
            ratio = (f"process CPU / CPU in its fits {statistics.median(res['process_over_fits']):.2f}; "
                     if res.get("process_over_fits") else "")
            checked = (f"{ratio}CPU on all cores / on one core {med['efthf'] / one:.2f} "
                       f"(one core {fmt_time(one)}); same report bytes; "
                       f"{res['failures']} failed points, none bordering the 95 % region inside the model's domain")
        task = "scan cHW=-1:1:41 × cHq3=-0.3:0.3:41"
    else:
        ratios = [fmt_ratio(med[p] / med["efthf"]) if p in med and "efthf" in med else "" for p in peers]
        checked = CHECK_LABEL[row["task"]] if any(p in med for p in peers) else "unchecked: no peer answered"
        jax = res.get("pyhf-jax", {})
        if row["task"] == "eval":
            if "pyhf-jax" in med:
                checked += f", JAX gradient 1e-6; JAX compile {jax['first_call_cpu']:.2f} s CPU"
            if "efthf-before" in med:
                checked += "; efthf-before ln L 1e-12"
            if "python_cpu" in res.get("efthf", {}):
                checked += f"; via Python {fmt_time(res['efthf']['python_cpu'])}"
            if "root" in med:
                clamp = res["root"].get("clamp_delta_logpdf", 0.0)
                checked += "; ROOT: NLL value only" + (f"; ROOT's positive-definite clamp alone moves ln L by {clamp:.2g}" if clamp else "")
        elif "pyhf-jax" in med and "first_call_cpu" in jax:
            checked += f"; JAX first call (tracing, compiling) {jax['first_call_cpu']:.2f} s CPU, untimed"
        task = TASK_LABEL[row["task"]]
    if row["status"] == "FAILED":
        checked = "**FAILED**: " + "; ".join(row["failures"]) + (f" ({checked})" if checked else "")
    elif row["status"] == "pending":
        checked = "not checked yet" + (f" ({checked})" if checked else "")
    return "| " + " | ".join([row["case"], task, *cells, *ratios, checked]) + " |"


def per_event(document):
    c = document["per_event_pass"]
    if not c.get("value_cpu"):
        return []
    kernel = c["kernel"]
    s1, s2 = c["stream_bytes_per_cpu_second"]["1 thread"], c["stream_bytes_per_cpu_second"]["2 threads"]
    value, grad = c["value_cpu"]["median"], c["value_grad_cpu"]["median"]
    rate = kernel["bytes"] / value
    return ["", "Per-event pass against a streaming read, both in CPU time (medians of the rounds):", "",
            "| measurement | bytes per CPU-second | fraction of the 1-thread / 2-thread read |", "|---|---|---|",
            f"| read, 1 thread (Benchmarks/stream.c, cc -O2, {c['stream_mib']} MiB × {c['stream_passes']} passes) | "
            f"{s1['median'] / 1e9:.2f} GB [{s1['min'] / 1e9:.2f}–{s1['max'] / 1e9:.2f}] | |",
            f"| read, 2 threads (bytes per CPU-second of both) | {s2['median'] / 1e9:.2f} GB [{s2['min'] / 1e9:.2f}–{s2['max'] / 1e9:.2f}] | |",
            f"| per-event kernel: ln L of `Data/vh/workspace_events_syst.json` ({kernel['events']} events × "
            f"{kernel['bytes_per_event']} B = {kernel['bytes'] / 1e6:.2f} MB of columns per evaluation), value alone, "
            f"{fmt_time(value)} | {rate / 1e9:.2f} GB | {100 * rate / s1['median']:.0f} % / {100 * rate / s2['median']:.0f} % |",
            f"| the same with the gradient (the kernel's Jacobians too), {fmt_time(grad)} | {kernel['bytes'] / grad / 1e9:.2f} GB | "
            f"{100 * kernel['bytes'] / grad / s1['median']:.0f} % / {100 * kernel['bytes'] / grad / s2['median']:.0f} % |",
            "", f"The example's {kernel['bytes'] / 2**20:.1f} MiB of columns fit in this machine's 32 MiB L3, so its reads "
            "need not come from memory; the read reference is memory-bound (8× the L3). The smoothed kernel also "
            "evaluates the logistic of the edges near each event (one exp per event, a division per edge), so it "
            "is not bound by reading alone."]


def markdown(document):
    peers = document["peers"]
    budget = document["budget_cpu_seconds"]
    lines = header(document)
    columns = ["workspace", "task", "efthf", *peers, *(f"{p} / efthf" for p in peers), "check"]
    lines += ["", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += [row_line(row, peers, budget) for row in document["rows"]]
    cannot = [f"- {p}, {row['case']} {row['task']}: {res['error']}" for row in document["rows"]
              for p, res in row["results"].items() if isinstance(res, dict) and "error" in res]
    if cannot:
        lines += ["", "Rows a peer cannot do (said once):", *cannot]
    failed = [f"- {row['case']} {row['task']}: {f}" for row in document["rows"] for f in row.get("failures", [])]
    if failed:
        lines += ["", "**FAILED** (the run exits with status 1):", *failed]
    return "\n".join(lines + per_event(document)) + "\n"


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        sys.stdout.write(markdown(json.load(f)))
