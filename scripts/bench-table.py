#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# The README's benchmark table from a benchmark run's JSON: every row with
# its ratio, the ratio the README's table of the same mode shows now (the
# "last stop" column: run this before pasting), issue #13's target and
# whether the row meets it.
#
#   scripts/bench-table.py build/bench-icount.json icount > table.md
#   scripts/bench-table.py build/bench.json wall > table.md
import json
import sys

# Issue #13's targets: kqueue / native.
EXACT = {
    "null_call": "<= 1.1",
    "close_registered_vs_plain": "<= 1.05",
    "mem_per_fd": "<= 1.0",
    "echo_tcp": ">= 0.95",
    "timer_cpu": "<= 0.33",
    "timer_cpu_per_event": "<= 0.33",
    "wakeup_user": ">= 0.95",
    "wakeup_pipe": ">= 0.95",
}
PREFIX = [
    ("register_", "<= 0.66"),
    ("scale_register", "<= 0.66"),
    ("add_one_call", "<= 0.66"),
    ("modify_one_call", "<= 0.66"),
    ("delete_one_call", "<= 0.66"),
    ("wait_idle", "<= 1.2"),
    ("scale_wait", "<= 1.2"),
]


def target(name):
    if name in EXACT:
        return EXACT[name]
    for prefix, t in PREFIX:
        if name.startswith(prefix):
            return t
    return ""


def last_ratios(readme, mode):
    """(name, params) -> ratio of the README's current table of this mode."""
    marker = "**icount mode**" if mode == "icount" else "**Wall-clock mode**"
    text = readme[readme.index(marker):]
    text = text[text.index("\n|"):]
    old = {}
    for line in text.split("\n")[1:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        try:
            old[(cells[0], cells[1])] = float(cells[5])
        except (IndexError, ValueError):
            pass
    return old


def fmt(v):
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in ("icount", "wall"):
        sys.exit("usage: bench-table.py RESULTS.json icount|wall")
    rows = [r for r in json.load(open(sys.argv[1])) if "name" in r]
    old = last_ratios(open("README.md").read(), sys.argv[2])
    print("| benchmark | params | kqueue | native | unit | ratio | last stop | target | |")
    print("|---|---|---:|---:|---|---:|---:|---|---|")
    for r in rows:
        params = ", ".join(f"{k}={v}" for k, v in r["params"].items())
        t = target(r["name"])
        verdict = ""
        if t:
            op, bound = t.split()
            ok = r["ratio"] <= float(bound) if op == "<=" else r["ratio"] >= float(bound)
            verdict = "met" if ok else "missed"
        last = old.get((r["name"], params))
        print(f"| {r['name']} | {params} | {fmt(r['kqueue_median'])} | "
              f"{fmt(r['native_median'])} | {r['unit']} | {r['ratio']:.3f} | "
              f"{'' if last is None else f'{last:.3f}'} | {t} | {verdict} |")


main()
