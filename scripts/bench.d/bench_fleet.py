"""Controller cost with N local agents; see scripts/bench-fleet.sh."""
import argparse, glob, json, os, shutil, subprocess, sys, tempfile, threading, time


def rss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_s(pid):
    """User + system CPU seconds of a live process, from /proc/PID/stat."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def run(sai3, n, secs, rate, work):
    data = os.path.join(work, f"data-{n}")
    os.makedirs(data, exist_ok=True)
    agents = []
    try:
        for i in range(n):
            p = subprocess.Popen([sai3, "agent", "--listen", "127.0.0.1:0", "--id", f"a{i}"],
                                 stdout=subprocess.PIPE, stderr=open(os.path.join(work, f"agent-{n}-{i}.log"), "w"), text=True)
            line = p.stdout.readline()
            if "listening" not in line:
                sys.exit(f"agent {i} did not start: {line!r}")
            agents.append((p, line.strip().rsplit(" ", 1)[1]))
        cfg = os.path.join(work, f"fleet-{n}.yaml")
        with open(cfg, "w") as f:
            f.write(f'target: "file://{data}/"\nduration: {secs}s\nconcurrency: 1\nio_rate: {rate}\n')
            f.write("distributed:\n  shared_filesystem: true\n  start_delay: 2\n  agents:\n")
            for i, (_, addr) in enumerate(agents):
                f.write(f'    - address: "{addr}"\n      id: "a{i}"\n')
            f.write('prepare:\n  ensure_objects:\n    - base_uri: "obj/"\n      count: 64\n      size_spec: 4KiB\n')
            f.write('workload:\n  - op: get\n    path: "obj/*"\n')
        res = os.path.join(work, f"res-{n}")
        os.makedirs(res, exist_ok=True)
        agents_cpu0 = sum(cpu_s(p.pid) for p, _ in agents)
        t0 = time.time()
        ctl = subprocess.Popen([sai3, "ctl", "run", "--config", cfg, "--results-dir", res],
                               stdout=open(os.path.join(work, f"ctl-{n}.log"), "w"), stderr=subprocess.STDOUT)
        samples = []
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                samples.append((time.time() - t0, rss_kib(ctl.pid), cpu_s(ctl.pid)))
                time.sleep(0.25)
        th = threading.Thread(target=sample)
        th.start()
        _, status, ru = os.wait4(ctl.pid, 0)
        stop.set()
        th.join()
        wall = time.time() - t0
        # The agents' own CPU over the same span (they are still alive, idle after the run).
        agents_cpu = sum(cpu_s(p.pid) for p, _ in agents) - agents_cpu0
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"controller failed with {n} agents; see {work}/ctl-{n}.log")
        cpu = ru.ru_utime + ru.ru_stime
        (d,) = glob.glob(os.path.join(res, "sai3-*"))
        meta = json.load(open(os.path.join(d, "metadata.json")))
        # The workload window: after prepare + start delay, until the end.
        wl = [s for s in samples if s[0] > wall - secs - 0.5 and s[1] > 0]
        # Steady state: the controller's CPU over the middle of the workload (10 % .. 90 %), when
        # only the agents' intervals arrive (no connect, prepare, final merge or file writing).
        mid = [s for s in samples if wall - 0.9 * secs <= s[0] <= wall - 0.1 * secs - 1.0]
        steady = 100 * (mid[-1][2] - mid[0][2]) / (mid[-1][0] - mid[0][0]) if len(mid) > 1 else 0.0
        at = lambda frac: wl[min(len(wl) - 1, int(frac * (len(wl) - 1)))][1] if wl else 0
        delay = meta.get("stats_delay_ms") or {}
        skews = sorted(abs(a["start_skew_ms"]) for a in meta["agents"] if a.get("start_skew_ms") is not None)
        # Every process here reads the same clock, so the true offset is 0: a measured offset is
        # its error, and an agent's start on the common clock is its skew plus that error.
        offs = sorted(abs(a.get("clock_offset_ms") or 0) for a in meta["agents"])
        true = sorted(abs(a["start_skew_ms"] + (a.get("clock_offset_ms") or 0)) for a in meta["agents"] if a.get("start_skew_ms") is not None)
        # Agents whose start thread could not be real-time (no root, CAP_SYS_NICE or RLIMIT_RTPRIO)
        # say so on stderr; their start skew is larger (docs/DISTRIBUTED.md "Start skew").
        fair = sum("no real-time start thread" in open(os.path.join(work, f"agent-{n}-{i}.log")).read() for i in range(n))
        return dict(n=n, steady=steady, rt_s=f"{n - fair}/{n}", cpu_pct=100 * cpu / wall, cpu_s=cpu, wall=wall, rss25=at(0.25), rss50=at(0.5), rss100=at(1.0),
                    rssmax=ru.ru_maxrss, d_mean=delay.get("mean", 0), d_max=delay.get("max", 0),
                    skew=skews[-1] if skews else 0, skew50=skews[len(skews) // 2] if skews else 0,
                    off=offs[-1] if offs else 0, true50=true[len(true) // 2] if true else 0, true=true[-1] if true else 0,
                    burst=meta.get("stats_send_every") or 1,
                    agents_pct=100 * agents_cpu / wall / (os.cpu_count() or 1))
    finally:
        for p, _ in agents:
            p.kill()
        for p, _ in agents:
            p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sai3", required=True)
    ap.add_argument("counts", nargs="*", type=int)
    a = ap.parse_args()
    counts = a.counts or [64, 128, 256]
    secs = int(os.environ.get("BENCH_SECS", "60"))
    rate = float(os.environ.get("BENCH_RATE", "20"))
    work = tempfile.mkdtemp(prefix="sai3-fleet-")
    print(f"controller cost, agents on 127.0.0.1, {secs} s workload, io_rate {rate:g}/agent, 100 ms intervals; logs in {work}")
    print(f"machine: {os.cpu_count()} cores, {os.uname().release}")
    print(f"{'agents':>6} {'ctl CPU % steady':>17} {'whole run':>10} {'CPU s':>7} {'RSS@25% MiB':>12} {'@50%':>7} {'@100%':>7} {'max':>7} "
          f"{'burst':>5} {'delay mean ms':>14} {'max ms':>7} {'skew p50 ms':>12} {'max ms':>7} {'offset err max ms':>18} "
          f"{'true skew p50 ms':>17} {'max ms':>7} {'agents % of machine':>20} {'real-time start':>16}")
    for n in counts:
        r = run(os.path.abspath(a.sai3), n, secs, rate, work)
        print(f"{r['n']:>6} {r['steady']:>17.2f} {r['cpu_pct']:>10.2f} {r['cpu_s']:>7.2f} {r['rss25'] / 1024:>12.1f} {r['rss50'] / 1024:>7.1f} "
              f"{r['rss100'] / 1024:>7.1f} {r['rssmax'] / 1024:>7.1f} {r['burst']:>5} {r['d_mean']:>14.2f} {r['d_max']:>7.1f} "
              f"{r['skew50']:>12.2f} {r['skew']:>7.2f} {r['off']:>18.2f} {r['true50']:>17.2f} {r['true']:>7.2f} {r['agents_pct']:>20.1f} {r['rt_s']:>16}")
    if os.environ.get("BENCH_KEEP") != "1":
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
