"""Draws bench/scale.sh's cost curves into one PNG: scale-plot.py CURVES_DIR PNG COMMIT.

Reads the TSV files bench/scale.sh wrote (listing.tsv, auth.tsv, idle.tsv, props.tsv; a missing
one leaves its panel empty). One panel per curve, each with its time or rate on the left axis and
memory or size on the right, so a flat line means "does not grow".
"""
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

curves, out, commit = sys.argv[1:4]


def rows(name):
    path = os.path.join(curves, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [r for r in csv.reader(f, delimiter="\t") if r]


def num(v):
    return float(v) if v not in ("", None) else float("nan")


def twin(ax, xs, left, left_label, right, right_label, xlabel, log_x=True, log_y=False):
    ax.plot(xs, left, "o-", color="tab:blue", label=left_label)
    ax.set_ylabel(left_label, color="tab:blue")
    ax.set_xlabel(xlabel)
    if log_x:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    other = ax.twinx()
    other.plot(xs, right, "s--", color="tab:red", label=right_label)
    other.set_ylabel(right_label, color="tab:red")
    other.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    return other


fig, axes = plt.subplots(2, 2, figsize=(13, 9))
fig.suptitle(f"davgate cost curves (bench/scale.sh, commit {commit})")

ax = axes[0][0]
listing = rows("listing.tsv")
if listing:
    n = [num(r[0]) for r in listing]
    twin(ax, n, [num(r[1]) for r in listing], "PROPFIND Depth 1, ms (median)",
         [num(r[6]) / 1024 for r in listing], "peak RSS, MiB", "entries in the folder",
         log_y=True)
ax.set_title("Listing: time grows with entries, memory should not")

ax = axes[0][1]
auth = rows("auth.tsv")
if auth:
    labels = [r[0] for r in auth]
    xs = list(range(len(auth)))
    twin(ax, xs, [num(r[3]) for r in auth], "first request of a new password, ms",
         [num(r[5]) for r in auth], "cached GET 4 KiB, req/s", "", log_x=False)
    ax.set_xticks(xs, labels, rotation=15)
ax.set_title("Authentication: flat as users and app passwords grow")

ax = axes[1][0]
idle = rows("idle.tsv")
if idle:
    for transport in dict.fromkeys(r[0] for r in idle):
        mine = [r for r in idle if r[0] == transport]
        ax.plot([num(r[1]) for r in mine], [num(r[3]) / 1024 for r in mine], "o-",
                label=f"{transport}: server RSS, MiB")
    ax.set_xscale("log")
    ax.set_xlabel("idle kept-alive connections")
    ax.set_ylabel("server RSS, MiB")
    top = max(num(r[3]) / 1024 for r in idle)
    ax.set_ylim(0, max(70, top * 1.1))
    ax.axhline(64, color="grey", linestyle=":", label="64 MiB goal")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    rated = [r for r in idle if len(r) > 6 and r[6] not in ("", "—")]
    if rated:  # a valid client's req/s beside them, once bench/idle-connections.sh prints it
        other = ax.twinx()
        for transport in dict.fromkeys(r[0] for r in rated):
            mine = [r for r in rated if r[0] == transport]
            other.plot([num(r[1]) for r in mine], [num(r[6]) for r in mine], "s--",
                       label=f"{transport}: valid client, req/s")
        other.set_ylabel("a valid client beside them, req/s")
        other.set_ylim(bottom=0)
        other.legend(loc="lower right", fontsize="small")
ax.set_title("Idle connections: memory per connection")

ax = axes[1][1]
props = rows("props.tsv")
if props:
    n = [num(r[0]) for r in props]
    twin(ax, n, [num(r[2]) for r in props], "CLI open of the stopped store, ms",
         [num(r[1]) / 1048576 for r in props], "store file, MiB", "dead properties")
ax.set_title("Dead properties: store size and open time")

fig.tight_layout()
fig.savefig(out, dpi=100)
