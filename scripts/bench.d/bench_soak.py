#!/usr/bin/env python3
"""Soak: W3 for BENCH_SOAK seconds with two local agents, RSS of every process sampled as it goes
(see scripts/bench-local.sh and docs/PERFORMANCE.md, "Long runs: BENCH_SOAK").

Two `sai3 agent` processes on 127.0.0.1 and one `sai3 ctl run` (shared file system, file:// under
BENCH_DIR, default /var/tmp/sai3-bench-soak). The mix is bench_local's W3 — 70 % GET / 20 % PUT /
5 % LIST / 5 % STAT of 64 KiB objects over a prepared set of 2,000 files, 16 workers (concurrency
8 per agent) — plus one share this script adds: PUTs never overwrite (every PUT gets a new name,
docs/CONFIG.md), and at 20 % of ~10,000 ops/s they would write ~400 GiB in an hour. So the mix has
a DELETE `from: written` of `new/*` with the PUT's weight (20): each agent deletes what its own
PUTs wrote, the set of new objects stays small (a random walk from zero, ~1,000 files after two
minutes, a few thousand expected after an hour; the `new_objs` column), and the agents'
written-object pools are soaked with it. LIST reads `data/` only, so it lists the same 2,000
entries all along. The run is also stopped (and fails) if the file system of BENCH_DIR gets below
BENCH_SOAK_MIN_FREE_GIB (default 2) GiB free.

Every BENCH_SOAK_EVERY (default 60) seconds: VmRSS of the controller and of each agent, one line
printed and one row of soak_rss.tsv in the work dir. At the end, per process: RSS at the first
sample of the workload (after prepare), at 25/50/75/100 % of the workload samples and the max,
growth first -> last; "NOT FLAT" when the last sample is more than 10 % above the 25 % one. Then
ops/s and errors from the run's results.tsv. Exits non-zero if the controller or an agent failed.
BENCH_DIR is removed at the end unless BENCH_KEEP=1; the work dir (logs, config, results) stays.
"""
import argparse, csv, glob, os, shutil, signal, subprocess, sys, tempfile, threading, time

AGENTS = 2
PER_AGENT = 8                  # 16 workers in all, as bench_local's W3
FILES, KIB = 2000, 64
FLAT = 0.10                    # allowed growth from the 25 % sample to the last
MIB = 1024


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def soak_yaml(root, secs, addrs):
    agents = "".join(f'    - address: "{a}"\n      id: "a{i}"\n' for i, a in enumerate(addrs))
    return (f'target: "file://{root}/"\nduration: {secs}s\nconcurrency: {PER_AGENT}\n'
            "distributed:\n  shared_filesystem: true\n  start_delay: 2\n  agents:\n" + agents +
            f'prepare:\n  ensure_objects:\n    - base_uri: "data/"\n      count: {FILES}\n'
            f'      size_spec: {KIB}KiB\n      fill: random\n'
            'workload:\n'
            '  - op: get\n    path: "data/*"\n    weight: 70\n'
            f'  - op: put\n    path: "new/obj-{{}}.dat"\n    object_size: {KIB}KiB\n    weight: 20\n'
            '  - op: list\n    path: "data/"\n    weight: 5\n'
            '  - op: stat\n    path: "data/*"\n    weight: 5\n'
            '  - op: delete\n    from: written\n    path: "new/*"\n    weight: 20\n')


def start_agent(sai3, i, work):
    p = subprocess.Popen([sai3, "agent", "--listen", "127.0.0.1:0", "--id", f"a{i}"], stdout=subprocess.PIPE,
                         stderr=open(os.path.join(work, f"agent-{i}.log"), "w"), text=True)
    line = p.stdout.readline()
    if "listening" not in line:
        sys.exit(f"soak FAILED: agent a{i} did not start: {line!r}; see {work}/agent-{i}.log")
    return p, line.strip().rsplit(" ", 1)[1]


def free_gib(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize / 2**30


def count(path):
    try:
        return len(os.listdir(path))
    except OSError:
        return 0


def results(res):
    """ops/s and errors of the workload, from the run's results.tsv."""
    found = glob.glob(os.path.join(res, "sai3-*", "results.tsv"))
    if not found:
        return None
    rows = list(csv.DictReader(open(found[0]), delimiter="\t"))
    tot = [r for r in rows if r["size_bucket"] == "ALL" and r["operation"] in ("GET", "PUT", "META")]
    per_op = {r["operation"]: float(r["ops_per_sec"]) for r in rows
              if r["size_bucket"] == "ALL" and r["operation"] in ("GET", "PUT", "LIST", "STAT", "DELETE")}
    return dict(ops_s=sum(float(r["ops_per_sec"]) for r in tot), errors=sum(int(r["errors"]) for r in tot),
                ops=sum(int(r["count"]) for r in tot), per_op=per_op, dir=os.path.dirname(found[0]))


def summary(names, samples):
    """samples: (elapsed, phase, [kib per process]); summarise those of the workload.
    Returns whether memory stayed flat, None without a workload sample."""
    load = [s for s in samples if s[1] == "load"]
    if not load:
        print("no RSS sample during the workload")
        return None
    at = lambda frac: load[min(len(load) - 1, round(frac * (len(load) - 1)))]
    print(f"\nRSS in MiB over the workload ({len(load)} samples, {load[0][0]:.0f} s to {load[-1][0]:.0f} s of the run):")
    print(f"  {'process':10}{'first':>9}{'25 %':>9}{'50 %':>9}{'75 %':>9}{'100 %':>9}{'max':>9}"
          f"{'growth MiB':>12}{'growth %':>10}")
    flat = True
    for i, name in enumerate(names):
        first, last, q25 = load[0][2][i], load[-1][2][i], at(0.25)[2][i]
        mx = max(s[2][i] for s in load)
        grow = last - first
        note = ""
        if q25 and last > q25 * (1 + FLAT):
            note, flat = f"  NOT FLAT (+{(last - q25) / q25 * 100:.1f} % from the 25 % sample)", False
        print(f"  {name:10}{first / MIB:9.1f}" + "".join(f"{at(f)[2][i] / MIB:9.1f}" for f in (0.25, 0.5, 0.75, 1.0))
              + f"{mx / MIB:9.1f}{grow / MIB:12.1f}{(grow / first * 100 if first else 0):10.1f}{note}")
    return flat


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sai3", required=True)
    a = ap.parse_args()
    sai3 = os.path.abspath(a.sai3)
    secs = int(os.environ.get("BENCH_SOAK", "3600"))
    every = float(os.environ.get("BENCH_SOAK_EVERY", "60"))
    min_free = float(os.environ.get("BENCH_SOAK_MIN_FREE_GIB", "2"))
    root = os.environ.get("BENCH_DIR", "/var/tmp/sai3-bench-soak")
    # SIGTERM and Ctrl-C both unwind through the finally below, which stops every process.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)     # even when started with SIGINT ignored
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    work = tempfile.mkdtemp(prefix="sai3-soak-")
    procs, ctl, failed = [], None, []
    try:
        for i in range(AGENTS):
            procs.append(start_agent(sai3, i, work))
        cfg = os.path.join(work, "soak.yaml")
        with open(cfg, "w") as f:
            f.write(soak_yaml(root, secs, [addr for _, addr in procs]))
        res = os.path.join(work, "results")
        os.makedirs(res)
        print(f"soak: W3 (+ DELETE of written objects) for {secs} s, {AGENTS} agents x {PER_AGENT} workers, "
              f"RSS every {every:g} s; data in {root}, logs and soak_rss.tsv in {work}")
        print(f"machine: {os.cpu_count()} cores, {os.uname().release}; {free_gib(root):.1f} GiB free in {root}")
        t0 = time.monotonic()
        ctl_log = open(os.path.join(work, "ctl.log"), "w")
        ctl = subprocess.Popen([sai3, "ctl", "run", "--config", cfg, "--results-dir", res],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        phase = ["prepare"]

        def follow():
            """Copy the controller's output to ctl.log; note when the workload starts and ends."""
            for line in ctl.stdout:
                ctl_log.write(line)
                ctl_log.flush()
                if "Starting workload now" in line:
                    phase[0] = "load"
                elif phase[0] == "load" and ("completed" in line or "Distributed Results" in line):
                    phase[0] = "done"
        reader = threading.Thread(target=follow, daemon=True)
        reader.start()
        names = ["controller"] + [f"agent a{i}" for i in range(AGENTS)]
        tsv = open(os.path.join(work, "soak_rss.tsv"), "w")
        tsv.write("elapsed_s\tphase\tctl_rss_mib\t" + "\t".join(f"a{i}_rss_mib" for i in range(AGENTS))
                  + "\tnew_objs\tfree_gib\n")
        samples, due, seen = [], 0.0, "prepare"
        while ctl.poll() is None:
            now = time.monotonic() - t0
            if phase[0] != seen:
                seen = phase[0]
                if seen == "load":
                    due = now                              # the first workload sample right away
            if now >= due and seen != "done":
                kib = [rss_kib(ctl.pid)] + [rss_kib(p.pid) for p, _ in procs]
                new, free = count(os.path.join(root, "new")), free_gib(root)
                samples.append((now, seen, kib))
                tsv.write(f"{now:.1f}\t{seen}\t" + "\t".join(f"{k / MIB:.1f}" for k in kib) + f"\t{new}\t{free:.2f}\n")
                tsv.flush()
                print(f"  {now:7.0f} s  {seen:8}" + "".join(f"  {n} {k / MIB:7.1f} MiB" for n, k in zip(names, kib))
                      + f"  new objects {new:5}  free {free:6.1f} GiB", flush=True)
                due += every
                if free < min_free and ctl.returncode is None and not failed:
                    failed.append(f"stopped: {free:.1f} GiB free in {root} (< {min_free:g})")
                    ctl.terminate()
            for i, (p, _) in enumerate(procs):
                if p.poll() is not None and not failed:
                    failed.append(f"agent a{i} exited ({p.returncode}) during the run; see {work}/agent-{i}.log")
            time.sleep(0.2)
        reader.join(timeout=5)
        if ctl.returncode != 0:
            failed.append(f"controller failed (exit {ctl.returncode}); see {work}/ctl.log")
        flat = summary(names, samples)
        r = results(res)
        if r:
            ops = ", ".join(f"{op} {v:,.0f}" for op, v in r["per_op"].items())
            print(f"\nworkload: {r['ops']:,} ops, {r['ops_s']:,.0f} ops/s ({ops}), {r['errors']:,} errors; results in {r['dir']}")
            if r["errors"]:
                print(f"ERRORS: {r['errors']:,} requests failed; see {r['dir']}/console_log.txt")
        else:
            failed.append(f"no results.tsv under {res}")
        if flat is not None:
            print(f"memory: flat (no process more than {FLAT * 100:.0f} % above its 25 % sample at the end)" if flat else
                  f"memory: NOT FLAT (a process ended more than {FLAT * 100:.0f} % above its 25 % sample)")
    finally:
        for p in [ctl] + [p for p, _ in procs]:
            if p is not None and p.poll() is None:
                p.kill()
        for p in [ctl] + [p for p, _ in procs]:
            if p is not None:
                p.wait()
        if os.environ.get("BENCH_KEEP") != "1":
            shutil.rmtree(root, ignore_errors=True)
    if failed:
        sys.exit("soak FAILED: " + "; ".join(failed))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("soak interrupted; agents and controller stopped")
