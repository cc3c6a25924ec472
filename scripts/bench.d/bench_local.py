#!/usr/bin/env python3
"""sai3 vs fio on the same local files (see scripts/bench-local.sh). Prints one table per workload."""
import argparse, csv, glob, json, os, shutil, subprocess, sys, tempfile, time

W = 16


SETTLE = int(os.environ.get("BENCH_SETTLE", "30"))
deleted = [False]


def settle():
    """Write back dirty data of earlier runs so it does not slow the next one (not measured).
    After files were deleted, wait BENCH_SETTLE seconds: ext4 avoids reusing recently freed
    inodes for a while, which makes file creation right after a mass delete far slower."""
    os.sync()
    time.sleep(SETTLE if deleted[0] else 1)
    deleted[0] = False


def remove(path):
    if os.path.exists(path):
        shutil.rmtree(path, ignore_errors=True)
        deleted[0] = True


def run_measured(cmd, log):
    """Run cmd to completion; return (exit code, user+system CPU seconds of it and its children)."""
    settle()
    with open(log, "w") as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        _, status, ru = os.wait4(p.pid, 0)
    return os.waitstatus_to_exitcode(status), ru.ru_utime + ru.ru_stime


def sai3_yaml(root, secs, kind, oplog=False):
    prep = ('prepare:\n  ensure_objects:\n    - base_uri: "data/"\n      count: 2000\n'
            '      size_spec: 64KiB\n      fill: random\n')
    head = f'target: "file://{root}/"\nduration: {secs}s\nconcurrency: {W}\n'
    if oplog:
        head += "op_log:\n  enabled: true\n"
    if kind == "prep":
        return head.replace(f"duration: {secs}s", "duration: 0s") + prep
    if kind == "W1":
        ops = '  - op: get\n    path: "data/*"\n    weight: 100\n'
    elif kind == "W2":
        return head + 'workload:\n  - op: put\n    path: "new/obj-{}.dat"\n    object_size: 1MiB\n    weight: 100\n'
    else:
        ops = ('  - op: get\n    path: "data/*"\n    weight: 70\n'
               '  - op: put\n    path: "new/obj-{}.dat"\n    object_size: 64KiB\n    weight: 20\n'
               '  - op: list\n    path: "data/"\n    weight: 5\n'
               '  - op: stat\n    path: "data/*"\n    weight: 5\n')
    return head + prep + "workload:\n" + ops


def sai3_run(sai3, root, secs, kind, work, rnd=0, oplog=False):
    tag = kind + ("-oplog" if oplog else "")
    cfg = os.path.join(work, f"{tag}.yaml")
    with open(cfg, "w") as f:
        f.write(sai3_yaml(root, secs, kind, oplog))
    res = os.path.join(work, f"res-{tag}-{rnd}")
    os.makedirs(res, exist_ok=True)
    rc, cpu = run_measured([sai3, "ctl", "run", "--config", cfg, "--results-dir", res], os.path.join(work, f"sai3-{kind}-{rnd}.log"))
    if rc != 0:
        sys.exit(f"sai3 {kind} failed (exit {rc}); see {work}/sai3-{kind}.log")
    if kind == "prep":
        return None
    (d,) = glob.glob(os.path.join(res, "sai3-*"))
    dropped = None
    if oplog:
        dropped = json.load(open(os.path.join(d, "metadata.json")))["oplog_dropped"]
    rows = list(csv.DictReader(open(os.path.join(d, "results.tsv")), delimiter="\t"))
    totals = [r for r in rows if r["size_bucket"] == "ALL" and r["operation"] in ("GET", "PUT", "META")]
    ops = sum(int(r["count"]) for r in totals)
    ops_s = sum(float(r["ops_per_sec"]) for r in totals)
    mib_s = sum(float(r["throughput_mibps"]) for r in totals)
    main = max(totals, key=lambda r: int(r["count"]))
    return dict(ops_s=ops_s, mib_s=mib_s, p50=float(main["p50_us"]), p99=float(main["p99_us"]),
                cpu_us=cpu * 1e6 / max(ops, 1), note=f"p50/p99 of {main['operation']}", dropped=dropped)


def fio_run(root, secs, kind, work, rnd=0):
    base = ["fio", "--output-format=json", "--thread", f"--numjobs={W}", "--group_reporting",
            "--ioengine=psync", "--time_based", f"--runtime={secs}", "--invalidate=0"]
    if kind in ("W1", "W3"):
        d = os.path.join(root, "fio64k")
        os.makedirs(d, exist_ok=True)
        files = ["--directory=" + d, "--nrfiles=2000", "--filesize=64k", "--size=128000k", "--bs=64k",
                 "--filename_format=f.$filenum", "--file_service_type=random", "--openfiles=2000"]
        layout = ["fio", "--name=layout", "--create_only=1"] + files + ["--rw=write"]
        subprocess.run(layout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        rw = ["--rw=randread"] if kind == "W1" else ["--rw=randrw", "--rwmixread=78"]
        cmd = base + ["--name=" + kind] + files + rw
    else:
        d = os.path.join(root, "fio1m")
        os.makedirs(d, exist_ok=True)
        # Enough files that no job wraps around within the run (a wrap would overwrite cached
        # pages instead of creating new objects), each closed after it is written, like a PUT.
        cmd = base + ["--name=W2", "--directory=" + d, "--nrfiles=4000", "--filesize=1m", "--size=4000m", "--bs=1m",
                      "--rw=write", "--file_service_type=sequential", "--create_on_open=1", "--openfiles=1"]
    out = os.path.join(work, f"fio-{kind}-{rnd}.json")
    rc, cpu = run_measured(cmd + ["--output=" + out], os.path.join(work, f"fio-{kind}-{rnd}.log"))
    if rc != 0:
        sys.exit(f"fio {kind} failed (exit {rc}); see {work}/fio-{kind}.log")
    job = json.load(open(out))["jobs"][0]
    ios = iops = bw = 0
    lat = None
    for side in ("read", "write"):
        s = job[side]
        ios += s["total_ios"]
        iops += s["iops"]
        bw += s["bw_bytes"]
        if s["total_ios"] and (lat is None or s["total_ios"] > lat[0]):
            pct = s["clat_ns"].get("percentile", {})
            lat = (s["total_ios"], pct.get("50.000000", 0) / 1000, pct.get("99.000000", 0) / 1000, side)
    return dict(ops_s=iops, mib_s=bw / 2**20, p50=lat[1], p99=lat[2], cpu_us=cpu * 1e6 / max(ios, 1),
                note=f"p50/p99 of {lat[3]}")


def show(kind, title, s, f, rounds):
    print(f"\n{kind}: {title}")
    if len(rounds) > 1:
        print("  rounds (ops/s): " + "; ".join(f"sai3 {a['ops_s']:,.0f} / fio {b['ops_s']:,.0f}" for a, b in rounds) + " — best of each shown")
    print(f"  {'':8}{'ops/s':>12}{'MiB/s':>10}{'p50 us':>10}{'p99 us':>10}{'CPU us/op':>11}")
    for name, r in (("sai3", s), ("fio", f)):
        print(f"  {name:8}{r['ops_s']:12,.0f}{r['mib_s']:10,.1f}{r['p50']:10,.1f}{r['p99']:10,.1f}{r['cpu_us']:11,.1f}   {r['note']}")
    ratio = s["ops_s"] / f["ops_s"] if f["ops_s"] else float("nan")
    cpu = s["cpu_us"] / f["cpu_us"] if f["cpu_us"] else float("nan")
    print(f"  sai3/fio: {ratio:.2f}x ops/s, {cpu:.2f}x CPU per op")


def oplog_cost(sai3, root, secs, work, n_rounds):
    """W1 with the op-log off and on, alternating; the best round of each and the cost."""
    rounds = []
    for rnd in range(n_rounds):
        rounds.append((sai3_run(sai3, root, secs, "W1", work, rnd), sai3_run(sai3, root, secs, "W1", work, rnd, oplog=True)))
    off = max((r[0] for r in rounds), key=lambda r: r["ops_s"])
    on = max((r[1] for r in rounds), key=lambda r: r["ops_s"])
    print("\nW1 with the op-log off and on (sai3 only; every operation recorded)")
    print("  rounds (ops/s): " + "; ".join(f"off {a['ops_s']:,.0f} / on {b['ops_s']:,.0f}" for a, b in rounds) + " — best of each shown")
    print(f"  {'':8}{'ops/s':>12}{'p50 us':>10}{'p99 us':>10}{'CPU us/op':>11}{'dropped':>9}")
    for name, r in (("off", off), ("on", on)):
        d = "" if r["dropped"] is None else f"{r['dropped']:,}"
        print(f"  {name:8}{r['ops_s']:12,.0f}{r['p50']:10,.1f}{r['p99']:10,.1f}{r['cpu_us']:11,.2f}{d:>9}")
    cost = 1 - on["ops_s"] / off["ops_s"] if off["ops_s"] else float("nan")
    print(f"  op-log cost: {cost * 100:.1f} % of ops/s, {on['cpu_us'] - off['cpu_us']:.2f} us more CPU per op")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sai3", required=True)
    ap.add_argument("--only", default="W1,W2,W3")
    ap.add_argument("--oplog-cost", action="store_true", help="only W1 with the op-log off and on (no fio)")
    a = ap.parse_args()
    secs = int(os.environ.get("BENCH_SECS", "20"))
    n_rounds = max(1, int(os.environ.get("BENCH_ROUNDS", "2")))
    root = os.environ.get("BENCH_DIR", "/var/tmp/sai3-bench")
    sai3 = os.path.abspath(a.sai3)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    work = tempfile.mkdtemp(prefix="sai3-bench-")
    print(f"sai3 vs fio, {W} workers, {secs} s per run, {n_rounds} alternating rounds, data in {root}, logs in {work}")
    print(f"machine: {os.cpu_count()} cores, {os.uname().release}")
    titles = {"W1": "random GET of 2,000 x 64 KiB files (fio keeps files open: an upper bound)",
              "W2": "PUT of new 1 MiB objects",
              "W3": "70 % GET / 20 % PUT / 5 % LIST / 5 % STAT, 64 KiB (fio: 78/22 randrw, no list/stat)"}
    try:
        sai3_run(sai3, root, secs, "prep", work)
        if a.oplog_cost:
            oplog_cost(sai3, root, secs, work, n_rounds)
            return
        for kind in a.only.split(","):
            # Alternate the tools over several rounds: on a VM, the first writer into fresh
            # memory pays for it, so one round alone would favour whichever tool runs second.
            rounds = []
            for rnd in range(n_rounds):
                s = sai3_run(sai3, root, secs, kind, work, rnd)
                remove(os.path.join(root, "new"))
                f = fio_run(root, secs, kind, work, rnd)
                remove(os.path.join(root, "fio1m"))
                rounds.append((s, f))
            best_s = max((r[0] for r in rounds), key=lambda r: r["ops_s"])
            best_f = max((r[1] for r in rounds), key=lambda r: r["ops_s"])
            show(kind, titles[kind], best_s, best_f, rounds)
    finally:
        if os.environ.get("BENCH_KEEP") != "1":
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
