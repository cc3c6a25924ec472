#!/usr/bin/env python3
"""sai3 vs fio and the syscall floor on the same local files (see scripts/bench-local.sh).
Prints one table per workload."""
import argparse, csv, glob, json, os, shutil, subprocess, sys, tempfile, time

W = 16
FILES = 2000                # files of each prepared set (sai3, the floor) and of fio's layout
PER_JOB = FILES // W        # fio: each job reads its own 125 files
CORES = os.cpu_count() or 1
STARVED = 0.9               # a reference using less than this share of the cores is flagged
HERE = os.path.dirname(os.path.abspath(__file__))

# kind -> object size in KiB, sai3's prepared set, fio's directory, floor mode (None: no floor)
KINDS = {
    "W1": dict(kib=64, data="data", fio="fio64k", floor="get",
               title="random GET of 2,000 x 64 KiB files"),
    "W1-4k": dict(kib=4, data="data4k", fio="fio4k", floor="get",
                  title="random GET of 2,000 x 4 KiB files"),
    "W2": dict(kib=1024, data=None, fio="fio1m", floor="put",
               title="PUT of new 1 MiB objects"),
    "W3": dict(kib=64, data="data", fio="fio64k", floor=None,
               title="70 % GET / 20 % PUT / 5 % LIST / 5 % STAT, 64 KiB (fio: 78/22 randrw, no list/stat)"),
    "W3-4k": dict(kib=4, data="data4k", fio="fio4k", floor=None,
                  title="70 % GET / 20 % PUT / 5 % LIST / 5 % STAT, 4 KiB (fio: 78/22 randrw, no list/stat)"),
}
NOTES = {"fio-read": f"fio: {W} jobs x {PER_JOB} files each, kept open (no open/close per read): an upper bound",
         "floor-get": "floor: open, one read, close per GET, nothing else",
         "floor-put": "floor: open(O_CREAT|O_TRUNC), one write, close per PUT of a new file, nothing else",
         "floor-uring": "the same GET as one io_uring chain (open into the ring's file table, read, close), "
                        "a thread's chains submitted together, nothing else"}
# The floor's threads each have a private descriptor table and credentials, as processes do
# (floor.c); FLOOR_SHARED=1 in the environment keeps them shared.
SHARED = os.environ.get("FLOOR_SHARED", "0") not in ("", "0")
for _k in ("floor-get", "floor-put"):
    NOTES[_k] += " (threads share one descriptor table)" if SHARED else ""

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


def machine_busy():
    """CPU seconds all processes of the machine have used since boot (from /proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")   # all but idle and iowait


others = [0.0]     # most cores used by other processes during any run of the current workload


def run_measured(cmd, log):
    """Run cmd to completion; return (exit code, user+system CPU seconds of it and its children,
    wall seconds from start to exit). Notes in `others` how busy the rest of the machine was."""
    settle()
    with open(log, "w") as out:
        b0, t0 = machine_busy(), time.monotonic()
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        _, status, ru = os.wait4(p.pid, 0)
        wall, b1 = time.monotonic() - t0, machine_busy()
    cpu = ru.ru_utime + ru.ru_stime
    others[0] = max(others[0], (b1 - b0 - cpu) / wall)
    return os.waitstatus_to_exitcode(status), cpu, wall


KINDS_BY_SET = {k["data"]: k["kib"] for k in KINDS.values() if k["data"]}


def prep_yaml(sets):
    entries = "".join(f'    - base_uri: "{s}/"\n      count: {FILES}\n      size_spec: {KINDS_BY_SET[s]}KiB\n'
                      '      fill: random\n' for s in sets)
    return "prepare:\n  ensure_objects:\n" + entries


def sai3_yaml(root, secs, kind, oplog=False, sets=()):
    head = f'target: "file://{root}/"\nduration: {secs}s\nconcurrency: {W}\n'
    if oplog:
        head += "op_log:\n  enabled: true\n"
    if kind == "prep":
        return head.replace(f"duration: {secs}s", "duration: 0s") + prep_yaml(sets)
    if kind == "W2":
        return head + 'workload:\n  - op: put\n    path: "new/obj-{}.dat"\n    object_size: 1MiB\n    weight: 100\n'
    k = KINDS[kind]
    data = k["data"]
    if kind.startswith("W1"):
        ops = f'  - op: get\n    path: "{data}/*"\n    weight: 100\n'
    else:
        ops = (f'  - op: get\n    path: "{data}/*"\n    weight: 70\n'
               f'  - op: put\n    path: "new/obj-{{}}.dat"\n    object_size: {k["kib"]}KiB\n    weight: 20\n'
               f'  - op: list\n    path: "{data}/"\n    weight: 5\n'
               f'  - op: stat\n    path: "{data}/*"\n    weight: 5\n')
    return head + prep_yaml([data]) + "workload:\n" + ops


def sai3_run(sai3, root, secs, kind, work, rnd=0, oplog=False, sets=()):
    tag = kind + ("-oplog" if oplog else "")
    cfg = os.path.join(work, f"{tag}.yaml")
    with open(cfg, "w") as f:
        f.write(sai3_yaml(root, secs, kind, oplog, sets))
    res = os.path.join(work, f"res-{tag}-{rnd}")
    os.makedirs(res, exist_ok=True)
    log = os.path.join(work, f"sai3-{tag}-{rnd}.log")
    rc, cpu, wall = run_measured([sai3, "ctl", "run", "--config", cfg, "--results-dir", res], log)
    if rc != 0:
        sys.exit(f"sai3 {kind} failed (exit {rc}); see {log}")
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
                cpu_us=cpu * 1e6 / max(ops, 1), cores=cpu / wall, ref=False,
                note=f"p50/p99 of {main['operation']}", dropped=dropped)


laid_out = set()


def fio_run(root, secs, kind, work, rnd=0):
    base = ["fio", "--output-format=json", "--thread", f"--numjobs={W}", "--group_reporting",
            "--ioengine=psync", "--time_based", f"--runtime={secs}", "--invalidate=0"]
    k = KINDS[kind]
    d = os.path.join(root, k["fio"])
    os.makedirs(d, exist_ok=True)
    if kind != "W2":
        # Each job its own PER_JOB files (f.<job>.<file>), all kept open: W x PER_JOB = FILES
        # files of the size sai3 reads. One shared set of 2,000 files per job starves fio.
        kib = k["kib"]
        files = ["--directory=" + d, f"--nrfiles={PER_JOB}", f"--filesize={kib}k", f"--size={PER_JOB * kib}k",
                 f"--bs={kib}k", "--filename_format=f.$jobnum.$filenum", "--file_service_type=random",
                 f"--openfiles={PER_JOB}"]
        if d not in laid_out:
            layout = ["fio", "--name=layout", "--thread", f"--numjobs={W}", "--create_only=1"] + files + ["--rw=write"]
            subprocess.run(layout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            laid_out.add(d)
        rw = ["--rw=randread"] if kind.startswith("W1") else ["--rw=randrw", "--rwmixread=78"]
        cmd = base + ["--name=" + kind] + files + rw
    else:
        # Enough files that no job wraps around within the run (a wrap would overwrite cached
        # pages instead of creating new objects), each closed after it is written, like a PUT.
        cmd = base + ["--name=W2", "--directory=" + d, "--nrfiles=4000", "--filesize=1m", "--size=4000m", "--bs=1m",
                      "--rw=write", "--file_service_type=sequential", "--create_on_open=1", "--openfiles=1"]
    out = os.path.join(work, f"fio-{kind}-{rnd}.json")
    log = os.path.join(work, f"fio-{kind}-{rnd}.log")
    rc, cpu, wall = run_measured(cmd + ["--output=" + out], log)
    if rc != 0:
        sys.exit(f"fio {kind} failed (exit {rc}); see {log}")
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
                cores=cpu / wall, ref=True, note=f"p50/p99 of {lat[3]}")


def build_floor(work):
    cc = shutil.which("cc")
    if not cc:
        sys.exit("bench-local: no C compiler (cc) for the floor; install gcc (scripts/bench-local.sh does)")
    exe = os.path.join(work, "floor")
    subprocess.run([cc, "-O2", "-pthread", "-o", exe, os.path.join(HERE, "floor", "floor.c")], check=True)
    return exe


def floor_result(log, kind, cpu, wall, note):
    """A floor run's figures from its "mode=... ops=N ... elapsed=S capped=C" line."""
    k = KINDS[kind]
    line = [l for l in open(log) if l.startswith("mode=")][-1]
    f = dict(kv.split("=") for kv in line.split())
    ops, elapsed = int(f["ops"]), float(f["elapsed"])
    return dict(ops_s=ops / elapsed, mib_s=ops * k["kib"] / 1024 / elapsed, p50=None, p99=None,
                cpu_us=cpu * 1e6 / max(ops, 1), cores=cpu / wall, ref=True,
                note=note + (f" (stopped after {elapsed:.1f} s: half the free disk written)"
                             if f.get("capped") == "1" else ""))


def floor_uring_run(floor, root, secs, kind, work, rnd=0):
    """The GET floor through io_uring, as sai3's ring threads do it: one thread per core, the 16
    requests spread over them, each a linked open/read/close chain; None when io_uring is refused."""
    k = KINDS[kind]
    threads = min(CORES, W)
    depth = -(-W // threads)
    cmd = [floor, "uring", os.path.join(root, k["data"]), str(k["kib"] * 1024), str(threads), str(secs), str(depth)]
    log = os.path.join(work, f"floor-uring-{kind}-{rnd}.log")
    rc, cpu, wall = run_measured(cmd, log)
    if rc == 2:
        return None
    if rc != 0:
        sys.exit(f"floor uring {kind} failed (exit {rc}); see {log}")
    return floor_result(log, kind, cpu, wall, f"{NOTES['floor-uring']} ({threads} threads x {depth} in flight)")


def floor_run(floor, root, secs, kind, work, rnd=0):
    k = KINDS[kind]
    if k["floor"] == "get":
        d = os.path.join(root, k["data"])          # the very files sai3 reads
    else:
        d = os.path.join(root, "floorput")
        os.makedirs(d, exist_ok=True)
    size = k["kib"] * 1024
    cmd = [floor, k["floor"], d, str(size), str(W), str(secs)]
    if k["floor"] == "put":
        st = os.statvfs(d)                      # stop early rather than fill the disk
        cmd.append(str(max(1, st.f_bavail * st.f_frsize // 2 // size)))
    log = os.path.join(work, f"floor-{kind}-{rnd}.log")
    rc, cpu, wall = run_measured(cmd, log)
    if rc != 0:
        sys.exit(f"floor {kind} failed (exit {rc}); see {log}")
    return floor_result(log, kind, cpu, wall, NOTES["floor-" + k["floor"]])


def flag(r):
    """STARVED when a reference used less than 90 % of the machine's cores: it did not show the
    machine at its best, so a ratio against it flatters sai3."""
    return f"  STARVED (< {STARVED * CORES:.1f} of {CORES} cores)" if r["ref"] and r["cores"] < STARVED * CORES else ""


def ratio(a, b):
    return a / b if b else float("nan")


def show(kind, title, best, rounds):
    print(f"\n{kind}: {title}")
    if kind.startswith("W1"):
        print(f"  {NOTES['fio-read']}")
    if len(rounds) > 1:
        for i, rnd in enumerate(rounds, 1):
            print(f"  round {i} (ops/s, cores used): " + " / ".join(
                f"{name} {r['ops_s']:,.0f} ({r['cores']:.2f}{' STARVED' if flag(r) else ''})" for name, r in rnd.items()))
        print("  best round of each tool:")
    print(f"  {'':12}{'ops/s':>12}{'MiB/s':>10}{'p50 us':>10}{'p99 us':>10}{'CPU us/op':>11}{'cores':>7}")
    num = lambda v: f"{v:10,.1f}" if v is not None else f"{'-':>10}"
    for name, r in best.items():
        print(f"  {name:12}{r['ops_s']:12,.0f}{r['mib_s']:10,.1f}{num(r['p50'])}{num(r['p99'])}{r['cpu_us']:11,.1f}"
              f"{r['cores']:7.2f}   {r['note']}{flag(r)}")
    for fl in ("floor", "floor-uring"):
        if len(rounds) > 1 and fl in rounds[0]:
            # The ratio of each round's adjacent sai3 and floor runs, and their median: less
            # exposed to the host's drift than the ratio of each tool's best round.
            ops = sorted(ratio(r["sai3"]["ops_s"], r[fl]["ops_s"]) for r in rounds)
            cpu = sorted(ratio(r["sai3"]["cpu_us"], r[fl]["cpu_us"]) for r in rounds)
            med = lambda v: v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2
            print(f"  sai3/{fl} per round (adjacent runs): ops/s {', '.join(f'{x:.2f}' for x in ops)} "
                  f"(median {med(ops):.2f}x); CPU per op {', '.join(f'{x:.2f}' for x in cpu)} (median {med(cpu):.2f}x)")
    s = best["sai3"]
    for ref in ("fio", "floor", "floor-uring"):
        if ref in best:
            r = best[ref]
            print(f"  sai3/{ref}: {ratio(s['ops_s'], r['ops_s']):.2f}x ops/s, {ratio(s['cpu_us'], r['cpu_us']):.2f}x CPU per op"
                  + ("   (reference starved: ratio not meaningful)" if flag(r) else ""))
    busy_note()


def busy_note():
    if others[0] >= 0.1 * CORES:
        print(f"  MACHINE BUSY: other processes used up to {others[0]:.2f} cores during these runs; "
              "the figures and the STARVED flags are not to be trusted")
    others[0] = 0.0


def oplog_cost(sai3, root, secs, work, n_rounds):
    """W1 with the op-log off and on, alternating; the best round of each and the cost."""
    rounds = []
    for rnd in range(n_rounds):
        rounds.append((sai3_run(sai3, root, secs, "W1", work, rnd), sai3_run(sai3, root, secs, "W1", work, rnd, oplog=True)))
    off = max((r[0] for r in rounds), key=lambda r: r["ops_s"])
    on = max((r[1] for r in rounds), key=lambda r: r["ops_s"])
    print("\nW1 with the op-log off and on (sai3 only; every operation recorded)")
    print("  rounds (ops/s, cores used): " + "; ".join(
        f"off {a['ops_s']:,.0f} ({a['cores']:.2f}) / on {b['ops_s']:,.0f} ({b['cores']:.2f})" for a, b in rounds)
        + " — best of each shown")
    print(f"  {'':8}{'ops/s':>12}{'p50 us':>10}{'p99 us':>10}{'CPU us/op':>11}{'cores':>7}{'dropped':>9}")
    for name, r in (("off", off), ("on", on)):
        d = "" if r["dropped"] is None else f"{r['dropped']:,}"
        print(f"  {name:8}{r['ops_s']:12,.0f}{r['p50']:10,.1f}{r['p99']:10,.1f}{r['cpu_us']:11,.2f}{r['cores']:7.2f}{d:>9}")
    cost = 1 - on["ops_s"] / off["ops_s"] if off["ops_s"] else float("nan")
    print(f"  op-log cost: {cost * 100:.1f} % of ops/s, {on['cpu_us'] - off['cpu_us']:.2f} us more CPU per op")
    busy_note()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sai3", required=True)
    ap.add_argument("--only", default="W1,W1-4k,W2,W3,W3-4k", help="comma-separated kinds: " + ", ".join(KINDS))
    ap.add_argument("--oplog-cost", action="store_true", help="only W1 with the op-log off and on (no fio)")
    a = ap.parse_args()
    kinds = ["W1"] if a.oplog_cost else [k.strip() for k in a.only.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        ap.error(f"unknown kind(s) {', '.join(unknown)}; known: {', '.join(KINDS)}")
    secs = int(os.environ.get("BENCH_SECS", "20"))
    n_rounds = max(1, int(os.environ.get("BENCH_ROUNDS", "2")))
    root = os.environ.get("BENCH_DIR", "/var/tmp/sai3-bench")
    sai3 = os.path.abspath(a.sai3)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    work = tempfile.mkdtemp(prefix="sai3-bench-")
    floor = None
    if not a.oplog_cost and any(KINDS[k]["floor"] for k in kinds):
        floor = build_floor(work)
    print(f"sai3 vs fio and the syscall floor, {W} workers, {secs} s per run, {n_rounds} rounds, "
          f"data in {root}, logs in {work}")
    print(f"machine: {CORES} cores, {os.uname().release}; cores = CPU seconds / wall seconds of each run; "
          f"a reference under {STARVED * CORES:.1f} cores is flagged STARVED")
    sets = sorted({KINDS[k]["data"] for k in kinds if KINDS[k]["data"]})
    try:
        if sets:
            sai3_run(sai3, root, secs, "prep", work, sets=sets)
            others[0] = 0.0
        if a.oplog_cost:
            oplog_cost(sai3, root, secs, work, n_rounds)
            return
        for kind in kinds:
            # Alternate the tools over several rounds: on a VM, the first writer into fresh
            # memory pays for it, so one round alone would favour whichever tool runs second.
            rounds = []
            # sai3 and the floor run back to back, in turns first (the host's speed drifts by
            # 10-20 % over minutes on these VMs: adjacent runs see the same machine), fio after.
            for rnd in range(n_rounds):
                def run_sai3():
                    r["sai3"] = sai3_run(sai3, root, secs, kind, work, rnd)
                    remove(os.path.join(root, "new"))

                def run_floor():
                    r["floor"] = floor_run(floor, root, secs, kind, work, rnd)
                    remove(os.path.join(root, "floorput"))

                def run_floor_uring():
                    u = floor_uring_run(floor, root, secs, kind, work, rnd)
                    if u is not None:
                        r["floor-uring"] = u

                r = {}
                runs = [run_sai3]
                if KINDS[kind]["floor"]:
                    runs.append(run_floor)
                if KINDS[kind]["floor"] == "get":
                    runs.append(run_floor_uring)
                # Each tool first in turn, each run adjacent to sai3's in some rounds.
                for run in runs[rnd % len(runs):] + runs[:rnd % len(runs)]:
                    run()
                r["fio"] = fio_run(root, secs, kind, work, rnd)
                remove(os.path.join(root, "fio1m"))
                rounds.append({k: r[k] for k in ("sai3", "fio", "floor", "floor-uring") if k in r})
            best = {name: max((r[name] for r in rounds), key=lambda x: x["ops_s"]) for name in rounds[0]}
            show(kind, KINDS[kind]["title"], best, rounds)
    finally:
        if os.environ.get("BENCH_KEEP") != "1":
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
