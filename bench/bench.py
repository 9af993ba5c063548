#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# Measurement helpers for bench/*.sh (python3 stdlib only).
#
#   gen DIR --small N --medium N --large N [--seed S] --list FILE
#       the generated tenant tree (sessions/, memory/, workspace/skills/ ...);
#       FILE gets the small files' relative paths, one a line
#   run [--cpu-pids P,P] [--stdout FILE] -- CMD...
#       runs CMD; prints "wall_ms rss_kib rc server_cpu_ms end_epoch_ms
#       cmd_cpu_ms" (peak RSS of CMD and its descendants, CPU time the given
#       pids used meanwhile, the wall clock when CMD had exited, CMD's own
#       user+system CPU time with its descendants')
#   modify TREE LIST --count N --round R --keys OUT
#       rewrites N small files (same size, new bytes; a different set per
#       round); their paths go to OUT; prints the wall-clock ms after the
#       last close()
#   wait-puts LOG --from-line N --prefix P --keys FILE --after-ms T [--timeout S]
#       waits until every key has a "PUT ... 200" line in the proxy log
#       (timestamped at or after T); prints the latest of those timestamps
#   quiet LOG --for S [--timeout T]    waits until LOG has not grown for S s
#   lines LOG                          the number of lines in LOG
#   count LOG --from-line N [--to-line M]
#       requests in that range: "total LIST GET HEAD PUT POST DELETE other"
#   latency TREE LIST LOG --prefix P [--n 200] [--max-gap-ms 500] [--seed S]
#       N writes to distinct files at uniformly random intervals; each
#       write's latency is the proxy's timestamp of the first PUT 200 of
#       that key after the write; prints "n_seen p50 p90 p99 max" (ms)
#   cpu PID...      per pid: "pid schedstat_ns utime+stime_ticks" (all threads)
#   rss PID         "VmRSS RssAnon RssFile Pss" in KiB
#   findcost TREE --passes N
#       the old loop's `find TREE -newer MARKER -type f -printf '%P\n'`,
#       N times; prints "cpu_ms_per_pass wall_ms_per_pass"
#   term-wait PID [--timeout S]   SIGTERM to PID, wait (pidfd) until it is
#       gone; prints the ms in between
#   verify TREE KEYS OBJDIR PREFIX
#       files in KEYS whose bytes differ from s3rver's object file (lost)
#   stats           numbers on stdin -> "median min max"
import hashlib
import os
import random
import resource
import select
import signal
import subprocess
import sys
import threading
import time


TEXT = bytes(32 + i % 95 for i in range(256))  # bytes -> printable


def now_ms():
    return time.time() * 1000.0


# ---------------------------------------------------------------- the tree

SKILLS = ["web-search", "calendar", "gmail", "browser", "notion", "github",
          "weather", "summarize", "translate", "code-runner", "pdf", "images"]


def gen(args):
    d = args[0]
    opt = parse_opts(args[1:], {"--small": 1900, "--medium": 95, "--large": 5,
                                "--seed": 1, "--list": None})
    rnd = random.Random(int(opt["--seed"]))
    n_small, n_med, n_large = int(opt["--small"]), int(opt["--medium"]), int(opt["--large"])
    files = []  # (path, size, kind)
    # small files: where OpenClaw keeps them
    for i in range(n_small):
        r = i % 10
        if r < 4:  # sessions: agents/<a>/sessions/<id>.jsonl
            p = "agents/%s/sessions/%04d-%08x.jsonl" % (
                ["main", "work", "home"][i % 3], i // 30, rnd.getrandbits(32))
        elif r < 6:  # memory: memory/YYYY/MM/DD.md and memory topics
            p = "memory/%d/%02d/%02d-%d.md" % (2024 + i % 2, 1 + i % 12,
                                               1 + (i // 12) % 28, i)
        elif r < 8:  # skills
            s = SKILLS[i % len(SKILLS)]
            p = "workspace/skills/%s/%s" % (s, ["SKILL.md", "scripts/run-%d.js" % i,
                                                  "refs/%d.md" % i, "config-%d.json" % i][i % 4])
            if p.endswith("SKILL.md"):
                p = "workspace/skills/%s/v%d/SKILL.md" % (s, i)
        elif r < 9:
            p = "workspace/notes/%s/%d.md" % (["projects", "people", "ideas", "inbox"][i % 4], i)
        else:
            p = "credentials/%s-%d.json" % (["telegram", "discord", "slack"][i % 3], i) \
                if i % 20 == 9 else "agents/main/state/%d.json" % i
        files.append((p, rnd.randint(200, 8192), "small"))
    files[0] = ("openclaw.json", 1500, "small")
    for i in range(n_med):
        p = ["workspace/attachments/%d.pdf", "memory/index/%d.bin",
             "agents/main/sessions/media/%d.png"][i % 3] % i
        files.append((p, rnd.randint(64 * 1024, 512 * 1024), "medium"))
    for i in range(n_large):
        p = ["workspace/media/recording-%d.bin", "memory/vectors-%d.bin"][i % 2] % i
        files.append((p, rnd.randint(8 << 20, 32 << 20), "large"))
    total = 0
    base_t = time.time() - 30 * 86400
    small = []
    for p, size, kind in files:
        full = os.path.join(d, p)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            if p == "openclaw.json":  # a config tenant-init accepts
                f.write(b'{"agents":{"defaults":{"model":{"primary":"poe/Claude-Sonnet-4"}}},'
                        b'"gateway":{"mode":"local","bind":"lan"},'
                        b'"channels":{"telegram":{"enabled":false,"dmPolicy":"pairing"}}}\n')
            elif kind == "small":
                # text-like: printable bytes
                f.write(rnd.randbytes(size).translate(TEXT))
            else:
                f.write(rnd.randbytes(size))
        t = base_t + rnd.uniform(0, 29 * 86400)
        os.utime(full, (t, t))
        total += size
        if kind == "small" and p != "openclaw.json":
            small.append(p)
    if opt["--list"]:
        with open(opt["--list"], "w") as f:
            f.write("\n".join(small) + "\n")
    print(len(files), total)


# ------------------------------------------------------------- running


def proc_cpu_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
        fields = s[s.rindex(")") + 2:].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, ValueError):
        return 0


def proc_schedstat_ns(pid):
    total = 0
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError):
                pass
    except OSError:
        pass
    return total


def run(args):
    cpu_pids, out = [], None
    while args and args[0] != "--":
        if args[0] == "--cpu-pids":
            cpu_pids = [int(x) for x in args[1].split(",") if x]
        elif args[0] == "--stdout":
            out = args[1]
        else:
            die("run: unknown option " + args[0])
        args = args[2:]
    cmd = args[1:]
    c0 = sum(proc_schedstat_ns(p) for p in cpu_pids)
    t0 = time.monotonic()
    # GNU time for the peak RSS: our own ru_maxrss would count the
    # forked child's copy of this Python before it execs.
    rf = "/tmp/.bench-rss-%d" % os.getpid()
    with open(out or os.devnull, "w") as so:
        rc = subprocess.call(["/usr/bin/time", "-q", "-f", "%M %U %S", "-o", rf] + cmd,
                             stdout=so)
    wall = (time.monotonic() - t0) * 1000
    end = now_ms()
    try:
        with open(rf) as f:
            v = f.read().split()[-3:]
        os.unlink(rf)
        rss, ccpu = int(v[0]), (float(v[1]) + float(v[2])) * 1000
    except (OSError, ValueError, IndexError):
        rss, ccpu = 0, 0
    c1 = sum(proc_schedstat_ns(p) for p in cpu_pids)
    print("%.0f %d %d %.0f %.0f %.0f" % (wall, rss, rc, (c1 - c0) / 1e6, end, ccpu))


def modify(args):
    tree, lst = args[0], args[1]
    opt = parse_opts(args[2:], {"--count": 10, "--round": 0, "--keys": None, "--seed": 7})
    n, rnd_no = int(opt["--count"]), int(opt["--round"])
    with open(lst) as f:
        small = [l.strip() for l in f if l.strip()]
    rnd = random.Random(int(opt["--seed"]))
    order = small[:]
    rnd.shuffle(order)
    pick = [order[(rnd_no * n + i) % len(order)] for i in range(n)]
    data = random.Random(rnd_no * 1000 + 1)
    for p in pick:
        full = os.path.join(tree, p)
        size = os.path.getsize(full)
        with open(full, "wb") as f:
            f.write(data.randbytes(size).translate(TEXT))
    t = now_ms()
    with open(opt["--keys"], "w") as f:
        f.write("\n".join(pick) + "\n")
    print("%.0f" % t)


# ---------------------------------------------------------- the proxy log
# METHOD KEY?QUERY STATUS BYTES CODE|- UNIX-MS CLIENT-PORT (keys may hold
# spaces: the fixed fields are taken from the end)


def parse_line(line):
    parts = line.rstrip("\n").split(" ")
    if len(parts) < 7:
        return None
    try:
        return {"method": parts[0], "key": " ".join(parts[1:-5]),
                "status": int(parts[-5]), "ms": int(parts[-2])}
    except ValueError:
        return None


def read_from(log, start):
    with open(log, errors="replace") as f:
        lines = f.readlines()
    return lines[start:]


def wait_puts(args):
    log = args[0]
    opt = parse_opts(args[1:], {"--from-line": 0, "--prefix": "", "--keys": None,
                                "--after-ms": 0, "--timeout": 120})
    with open(opt["--keys"]) as f:
        want = {opt["--prefix"] + l.strip() for l in f if l.strip()}
    after = float(opt["--after-ms"])
    deadline = time.time() + float(opt["--timeout"])
    seen = {}
    start = int(opt["--from-line"])
    while time.time() < deadline:
        lines = read_from(log, start)
        start += len(lines)
        for l in lines:
            r = parse_line(l)
            if r and r["method"] == "PUT" and r["status"] == 200 and \
                    r["key"] in want and r["ms"] >= after - 5 and r["key"] not in seen:
                seen[r["key"]] = r["ms"]
        if len(seen) == len(want):
            print(max(seen.values()))
            return
        time.sleep(0.01)
    print("timeout %d/%d" % (len(seen), len(want)))
    sys.exit(1)


def lines(args):
    with open(args[0], "rb") as f:
        print(sum(1 for _ in f))


def quiet(args):
    log = args[0]
    opt = parse_opts(args[1:], {"--for": 2, "--timeout": 120})
    need, deadline = float(opt["--for"]), time.time() + float(opt["--timeout"])
    last = os.path.getsize(log)
    since = time.time()
    while time.time() < deadline:
        time.sleep(0.05)
        s = os.path.getsize(log)
        if s != last:
            last, since = s, time.time()
        elif time.time() - since >= need:
            return
    sys.exit(1)


def count(args):
    log = args[0]
    opt = parse_opts(args[1:], {"--from-line": 0, "--to-line": -1})
    ls = read_from(log, int(opt["--from-line"]))
    if int(opt["--to-line"]) >= 0:
        ls = ls[:int(opt["--to-line"]) - int(opt["--from-line"])]
    c = {"LIST": 0, "GET": 0, "HEAD": 0, "PUT": 0, "POST": 0, "DELETE": 0, "other": 0}
    for l in ls:
        r = parse_line(l)
        if not r:
            continue
        m = r["method"]
        if m == "GET" and ("list-type=" in r["key"] or r["key"].startswith("?")
                           or r["key"] == ""):
            m = "LIST"
        c[m if m in c else "other"] += 1
    print(sum(c.values()), *c.values())


def latency(args):
    tree, lst, log = args[0], args[1], args[2]
    opt = parse_opts(args[3:], {"--prefix": "", "--n": 200, "--max-gap-ms": 500,
                                "--seed": 11, "--timeout": 120})
    n = int(opt["--n"])
    with open(lst) as f:
        small = [l.strip() for l in f if l.strip()]
    rnd = random.Random(int(opt["--seed"]))
    pick = rnd.sample(small, n)
    with open(log, "rb") as f:
        start = sum(1 for _ in f)
    written = {}
    seen = {}
    done = threading.Event()

    def tail():
        pos = start
        while not done.is_set() or len(seen) < len(written):
            ls = read_from(log, pos)
            pos += len(ls)
            for l in ls:
                r = parse_line(l)
                if not r or r["method"] != "PUT" or r["status"] != 200:
                    continue
                k = r["key"][len(opt["--prefix"]):]
                if k in written and k not in seen and r["ms"] >= written[k] - 5:
                    seen[k] = r["ms"]
            if time.time() > deadline:
                return
            time.sleep(0.01)

    deadline = time.time() + n * float(opt["--max-gap-ms"]) / 1000 + float(opt["--timeout"])
    t = threading.Thread(target=tail)
    t.start()
    data = random.Random(99)
    for p in pick:
        full = os.path.join(tree, p)
        size = os.path.getsize(full)
        with open(full, "wb") as f:
            f.write(data.randbytes(size).translate(TEXT))
        written[p] = now_ms()
        time.sleep(rnd.uniform(0, float(opt["--max-gap-ms"])) / 1000)
    done.set()
    t.join()
    lat = sorted(seen[k] - written[k] for k in seen)
    m = len(lat)

    def pct(q):
        return lat[min(m - 1, int(q * m))] if m else -1
    print(m, "%.0f" % pct(0.5), "%.0f" % pct(0.9), "%.0f" % pct(0.99),
          "%.0f" % (lat[-1] if m else -1))


def cpu(args):
    for a in args:
        pid = int(a)
        print(pid, proc_schedstat_ns(pid), proc_cpu_ticks(pid))


def rss(args):
    pid = int(args[0])
    v = {}
    with open("/proc/%d/status" % pid) as f:
        for l in f:
            k, _, rest = l.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile"):
                v[k] = int(rest.split()[0])
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for l in f:
            if l.startswith("Pss:"):
                v["Pss"] = int(l.split()[1])
    print(v.get("VmRSS", 0), v.get("RssAnon", 0), v.get("RssFile", 0), v.get("Pss", 0))


def findcost(args):
    tree = args[0]
    opt = parse_opts(args[1:], {"--passes": 20})
    n = int(opt["--passes"])
    marker = "/tmp/.bench-last-sync-%d" % os.getpid()
    open(marker, "w").close()
    try:
        cmd = ["find", tree, "-newer", marker, "-type", "f", "-printf", "%P\\n"]
        subprocess.call(cmd, stdout=subprocess.DEVNULL)  # warm the caches
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        for _ in range(n):
            subprocess.call(cmd, stdout=subprocess.DEVNULL)
        wall = (time.monotonic() - t0) * 1000 / n
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        c = ((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)) * 1000 / n
        print("%.2f %.2f" % (c, wall))
    finally:
        os.unlink(marker)


def term_wait(args):
    pid = int(args[0])
    opt = parse_opts(args[1:], {"--timeout": 60})
    fd = os.pidfd_open(pid)
    t0 = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    p = select.poll()
    p.register(fd, select.POLLIN)
    if not p.poll(float(opt["--timeout"]) * 1000):
        print("timeout")
        sys.exit(1)
    print("%.1f" % ((time.monotonic() - t0) * 1000))


def verify(args):
    tree, keys, objdir, prefix = args
    bad = 0
    with open(keys) as f:
        for l in f:
            p = l.strip()
            if not p:
                continue
            try:
                with open(os.path.join(objdir, prefix + p + "._S3rver_object"), "rb") as o:
                    ob = o.read()
            except OSError:
                bad += 1
                continue
            with open(os.path.join(tree, p), "rb") as lf:
                if hashlib.md5(lf.read()).digest() != hashlib.md5(ob).digest():
                    bad += 1
    print(bad)


def stats(args):
    v = sorted(float(x) for x in sys.stdin.read().split())
    if not v:
        print("nan nan nan")
        return
    print(fmt(v[(len(v) - 1) // 2]), fmt(v[0]), fmt(v[-1]))


def fmt(x):
    return ("%.0f" % x) if abs(x) >= 100 else ("%.3g" % x)


def parse_opts(args, defaults):
    o = dict(defaults)
    i = 0
    while i < len(args):
        if args[i] not in o:
            die("unknown option " + args[i])
        o[args[i]] = args[i + 1]
        i += 2
    return o


def die(msg):
    print("bench.py: " + msg, file=sys.stderr)
    sys.exit(2)


CMDS = {"gen": gen, "run": run, "modify": modify, "wait-puts": wait_puts,
        "quiet": quiet, "lines": lines, "count": count, "latency": latency,
        "cpu": cpu, "rss": rss, "findcost": findcost, "term-wait": term_wait,
        "verify": verify, "stats": stats}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in CMDS:
        die("usage: bench.py " + "|".join(CMDS) + " ...")
    CMDS[sys.argv[1]](sys.argv[2:])
