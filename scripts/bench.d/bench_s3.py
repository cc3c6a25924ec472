"""sai3 against the testbed's local S3 endpoints; see scripts/bench-s3.sh."""
import argparse, base64, csv, datetime, glob, hashlib, hmac, os, random, shutil, subprocess, sys, tempfile, time

TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    """user+system CPU seconds of a process (and its reaped children)."""
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in f[11:15]) / TICKS
    except OSError:
        return 0.0


def hmac256(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signed_request(host, path, method, body, creds, when):
    """One SigV4-signed HTTP/1.1 request (head and body) for the floor, signed ahead of time."""
    key_id, secret, region = creds
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    payload = hashlib.sha256(body).hexdigest()
    canonical = (f"{method}\n{path}\n\nhost:{host}\nx-amz-content-sha256:{payload}\nx-amz-date:{amz_date}\n\n"
                 f"host;x-amz-content-sha256;x-amz-date\n{payload}")
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    k = hmac256(hmac256(hmac256(hmac256(f"AWS4{secret}".encode(), day), region), "s3"), "aws4_request")
    sig = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    head = (f"{method} {path} HTTP/1.1\r\nhost: {host}\r\nx-amz-content-sha256: {payload}\r\n"
            f"x-amz-date: {amz_date}\r\nauthorization: AWS4-HMAC-SHA256 Credential={key_id}/{scope}, "
            f"SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={sig}\r\n"
            f"content-length: {len(body)}\r\n\r\n")
    return head.encode() + body


def floor_requests(path, uris, prefix, op, label, size, data_dir):
    """The floor's request file (scripts/bench.d/floor/s3floor.c): every prepared object of the
    workload per endpoint (GET), or 4,000 new keys per endpoint (PUT), signed now."""
    creds = (os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"],
             os.environ.get("AWS_REGION", "us-east-1"))
    when = datetime.datetime.now(datetime.timezone.utc)
    hosts, buckets = [], []
    for u in uris:
        host, bucket = u[len("s3://"):].split("/")[:2]
        hosts.append(host)
        buckets.append(bucket)
    if op == "get":
        root = os.path.join(data_dir, prefix, label)
        names = sorted(os.listdir(root))
        if not names:
            sys.exit(f"bench-s3: no prepared objects in {root} for the floor")
        body = b""
    else:
        names = [f"o-floor-{i:06d}" for i in range(4000)]
        body = random.randbytes(size)
    with open(path, "wb") as f:
        f.write(("endpoints " + " ".join(hosts) + "\n").encode())
        for e, (host, bucket) in enumerate(zip(hosts, buckets)):
            for n in names:
                key = f"/{bucket}/{prefix}/{label}/{n}" if op == "get" else f"/{bucket}/{prefix}/put-{label}/{e}-{n}"
                r = signed_request(host, key, op.upper(), body, creds, when)
                f.write(f"request {e} {len(r)}\n".encode() + r)


def floor_run(floor, reqs, conc, secs, op, work, pids, loop):
    """Runs the floor (with one event loop, or a blocking thread per worker); returns (ops,
    elapsed, its CPU seconds, the server's CPU seconds)."""
    log = os.path.join(work, f"floor-{os.path.basename(reqs)}.log")
    s0 = sum(proc_cpu(p) for p in pids)
    cmd = [floor, reqs, str(conc), str(secs)] + (["sequential"] if op == "put" else [])
    env = dict(os.environ, S3FLOOR_LOOPS="1" if loop else "0")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(log, "w"), text=True, env=env)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    s1 = sum(proc_cpu(p) for p in pids)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench-s3: the floor failed on {op}; see {log}")
    kv = dict(x.split("=") for x in out.split())
    return int(kv["ops"]), float(kv["elapsed"]), ru.ru_utime + ru.ru_stime, s1 - s0


def build_floor(work):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        sys.exit("bench-s3: no C compiler (cc) for the floor; install gcc or set BENCH_S3_CLIENTS without floor")
    exe = os.path.join(work, "s3floor")
    here = os.path.dirname(os.path.abspath(__file__))
    subprocess.run([cc, "-O2", "-pthread", "-o", exe, os.path.join(here, "floor", "s3floor.c")], check=True)
    return exe


def remove_objects(bucket_dir, prefix):
    """Removes the bench's objects from the testbed's data directory: the files under the bucket's
    directory, and the two metadata files s3s-fs keeps per object in the directory above it
    (".bucket-B.object-K.{internal,metadata}.json", B and K the bucket and key in unpadded
    URL-safe base64). Left behind, hundreds of thousands of them slow every later LIST."""
    shutil.rmtree(os.path.join(bucket_dir, prefix), ignore_errors=True)
    root, bucket = os.path.split(bucket_dir.rstrip("/"))
    lead = ".bucket-" + base64.urlsafe_b64encode(bucket.encode()).decode().rstrip("=") + ".object-"
    with os.scandir(root) as entries:
        for e in entries:
            if not e.name.startswith(lead):
                continue
            key = e.name[len(lead):].split(".", 1)[0]
            try:
                name = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)).decode()
            except ValueError:
                continue
            if name.startswith(prefix + "/"):
                os.unlink(e.path)


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
    # The floor (floor/s3floor.c), for 4 KiB: requests signed beforehand, one send and the reads
    # of the answer per request on keep-alive connections, nothing else — from blocking threads
    # (floor) and from one epoll loop (floor-loop).
    clients = os.environ.get("BENCH_S3_CLIENTS", "auto,threads,object_store,floor,floor-loop").split(",")
    floor = build_floor(work) if any(c.startswith("floor") for c in clients) else None
    print(f"{'workload':<14} {'client':<13} {'ops/s':>9} {'MiB/s':>9} {'p50 us':>9} {'p99 us':>9} {'client CPU s/1k ops':>20} {'server CPU s/1k ops':>20}")
    for size, label, op, client in ((s, l, o, c) for s, l in ((4096, "4KiB"), (1 << 20, "1MiB"))
                                    for o in ("get", "put") for c in clients
                                    if s == 4096 or not c.startswith("floor")):
        count = 400 if size == 4096 else 100
        ep = f'storage:\n  s3_client: {"auto" if client.startswith("floor") else client}\n' + \
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
        if client.startswith("floor"):
            reqs = os.path.join(work, f"{op}-{label}.requests")
            floor_requests(reqs, (uri1, uri2), prefix, op, label, size, os.environ["SAI3_TEST_S3_DIR"])
            n, elapsed, cpu, server = floor_run(floor, reqs, conc, secs, op, work, pids, client == "floor-loop")
            print(f"{op.upper() + ' ' + label:<14} {client:<13} {n / elapsed:>9,.0f} {n * size / elapsed / 2**20:>9,.1f} "
                  f"{'-':>9} {'-':>9} {1000 * cpu / max(n, 1):>20.3f} {1000 * server / max(n, 1):>20.3f}")
            continue
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
              f"{float(r['p50_us']):>9,.0f} {float(r['p99_us']):>9,.0f} {1000 * cpu / max(n, 1):>20.3f} "
              f"{1000 * (s1 - s0) / max(n, 1):>20.3f}")
    data = os.environ.get("SAI3_TEST_S3_DIR")
    if data:
        remove_objects(data, prefix)
    if os.environ.get("BENCH_KEEP") != "1":
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
