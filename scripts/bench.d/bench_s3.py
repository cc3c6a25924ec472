"""sai3 against the testbed's local S3 endpoints; see scripts/bench-s3.sh."""
import argparse, csv, glob, os, shutil, subprocess, sys, tempfile, time

TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    """user+system CPU seconds of a process (and its reaped children)."""
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in f[11:15]) / TICKS
    except OSError:
        return 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sai3", required=True)
    ap.add_argument("--state", required=True)
    a = ap.parse_args()
    secs = int(os.environ.get("BENCH_SECS", "15"))
    conc = int(os.environ.get("BENCH_CONC", "16"))
    uri1, uri2 = os.environ["SAI3_TEST_S3_URI"], os.environ["SAI3_TEST_S3_URI2"]
    # One server process may serve both endpoints (the testbed does): count each process once.
    pids = sorted({open(os.path.join(a.state, f"s3-{i}.pid")).read().strip() for i in (1, 2)})
    work = tempfile.mkdtemp(prefix="sai3-bench-s3-")
    prefix = f"bench-{os.getpid()}"
    print(f"sai3 on the testbed's S3 endpoints ({uri1}, {uri2}, s3s-fs), {conc} workers, {secs} s per run; logs in {work}")
    print(f"machine: {os.cpu_count()} cores, {os.uname().release}")
    # Each workload with each client: sai3's own HTTP data path on the async runtime
    # (storage.s3_client: auto) and on blocking sockets from OS-thread workers (threads), and
    # object_store's client (object_store), so they are compared in one invocation.
    clients = os.environ.get("BENCH_S3_CLIENTS", "auto,threads,object_store").split(",")
    print(f"{'workload':<14} {'client':<13} {'ops/s':>9} {'MiB/s':>9} {'p50 us':>9} {'p99 us':>9} {'sai3 CPU s/1k ops':>18} {'server CPU s/1k ops':>20}")
    for size, label, op, client in ((s, l, o, c) for s, l in ((4096, "4KiB"), (1 << 20, "1MiB"))
                                    for o in ("get", "put") for c in clients):
        count = 400 if size == 4096 else 100
        ep = f'storage:\n  s3_client: {client}\n' + \
            f'multi_endpoint:\n  strategy: round_robin\n  endpoints: ["{uri1}{prefix}/", "{uri2}{prefix}/"]\n'
        prep = (f'prepare:\n  ensure_objects:\n    - base_uri: "{label}/"\n      count: {count}\n'
                f'      size_spec: {size}\n      fill: random\n')
        if op == "get":
            wl = f'workload:\n  - op: get\n    path: "{label}/*"\n'
        else:
            wl = f'workload:\n  - op: put\n    path: "put-{label}/o-{{}}"\n    object_size: {size}\n'
        cfg = os.path.join(work, f"{op}-{label}-{client}.yaml")
        with open(cfg, "w") as f:
            # Prepare runs in its own invocation (duration 0) so it is not measured.
            f.write(f"duration: 0s\nconcurrency: {conc}\n{ep}{prep}")
        subprocess.run([a.sai3, "ctl", "run", "--config", cfg, "--results-dir", work], check=True,
                       stdout=subprocess.DEVNULL)
        with open(cfg, "w") as f:
            f.write(f"duration: {secs}s\nconcurrency: {conc}\ncleanup: false\n{ep}{wl}")
        res = os.path.join(work, f"res-{op}-{label}-{client}")
        os.makedirs(res)
        s0 = sum(proc_cpu(p) for p in pids)
        p = subprocess.Popen([a.sai3, "ctl", "run", "--config", cfg, "--results-dir", res],
                             stdout=open(os.path.join(work, f"{op}-{label}-{client}.log"), "w"), stderr=subprocess.STDOUT)
        _, status, ru = os.wait4(p.pid, 0)
        s1 = sum(proc_cpu(p) for p in pids)
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"sai3 {op} {label} failed; see {work}/{op}-{label}-{client}.log")
        (d,) = glob.glob(os.path.join(res, "sai3-*"))
        rows = list(csv.DictReader(open(os.path.join(d, "results.tsv")), delimiter="\t"))
        r = next(x for x in rows if x["operation"] == op.upper() and x["size_bucket"] == "ALL")
        n = int(r["count"])
        cpu = ru.ru_utime + ru.ru_stime
        if int(r["errors"]) > 0:
            print(f"  warning: {r['errors']} errors in {op} {label} ({client}); see {work}")
        print(f"{op.upper() + ' ' + label:<14} {client:<13} {float(r['ops_per_sec']):>9,.0f} {float(r['throughput_mibps']):>9,.1f} "
              f"{float(r['p50_us']):>9,.0f} {float(r['p99_us']):>9,.0f} {1000 * cpu / max(n, 1):>18.3f} "
              f"{1000 * (s1 - s0) / max(n, 1):>20.3f}")
    data = os.environ.get("SAI3_TEST_S3_DIR")
    if data:
        shutil.rmtree(os.path.join(data, prefix), ignore_errors=True)
    if os.environ.get("BENCH_KEEP") != "1":
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
