"""Interleaved timing for the CPU benchmarks: every repetition runs each candidate once, in a rotating order, so
machine noise hits all of them alike; results are medians, and the CPU that other processes used meanwhile is
reported."""
import os, statistics, time


def machine_busy():
    "(busy CPU-seconds of the whole machine, CPU-seconds of this process) from /proc/stat and os.times()."
    with open("/proc/stat") as f: v = [int(x) for x in f.readline().split()[1:9]]
    t = os.times()
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK"), t.user + t.system


class Foreign:
    "Context manager: `.cpus`, the average number of CPUs other processes kept busy inside the block."
    def __enter__(self):
        self.t0, self.b0 = time.perf_counter(), machine_busy()
        return self

    def __exit__(self, *exc):
        b1, dt = machine_busy(), time.perf_counter() - self.t0
        self.cpus = max(0.0, (b1[0] - self.b0[0]) - (b1[1] - self.b0[1])) / dt


def interleaved(fns, reps=7, target_s=0.01, warmup=2):
    "Median seconds per call of each `fns[name]()`, samples of about `target_s` each, and the foreign CPUs."
    names = list(fns)
    for f in fns.values():
        for _ in range(warmup): f()
    inner = {}
    for n in names:
        t0 = time.perf_counter(); fns[n](); dt = time.perf_counter() - t0
        inner[n] = max(1, min(500, int(target_s / max(dt, 1e-7))))
    samples = {n: [] for n in names}
    with Foreign() as fg:
        for r in range(reps):
            for n in names[r % len(names):] + names[:r % len(names)]:
                f, k = fns[n], inner[n]
                t0 = time.perf_counter()
                for _ in range(k): f()
                samples[n].append((time.perf_counter() - t0) / k)
    return {n: statistics.median(s) for n, s in samples.items()}, fg.cpus


def boost(nice=-15):
    """Raise this process's scheduler autogroup weight (Linux, root): other sessions' jobs on a shared machine then run
    in the background while we measure. Returns whether it worked; the tables say so."""
    try:
        with open("/proc/self/autogroup", "w") as f: f.write(str(nice))
        return True
    except OSError:
        return False
