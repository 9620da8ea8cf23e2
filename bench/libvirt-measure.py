# bench/libvirt-measure.py: times domkit's libvirt tools against virsh / virt-install on a live lab daemon; prints markdown (called by bench/libvirt.sh).
"""Measurements, all on the same private libvirtd and the same test guest:

1. Per-tool wall time (median of --reps, one process per run, posix_spawn + wait4) and
   peak RSS (GNU time %M, median of --rss-reps runs; the first run of each tool is a
   warm-up and is not counted).
2. Stop-event-to-exit delay of dom-wait-shutdown: `virsh event --event lifecycle --loop
   --timestamp` runs for the whole bench; its "Stopped" line is the time libvirtd's
   event reached a client; this process takes the time dom-wait-shutdown exited
   (wait4 return). Both are CLOCK_REALTIME, the event stamp has 1 ms resolution.
   A run counts only if dom-wait-shutdown's record says action "stopped" (it saw the
   guest live after subscribing, so it did wait on the event).
3. Whole-flow overhead: wall time of the flow minus each boot's run time, the run time
   being Started -> Stopped events of that boot.
"""

import argparse
import datetime
import json
import os
import queue
import re
import statistics
import subprocess
import sys
import threading
import time

DEVNULL = os.open(os.devnull, os.O_RDWR)
EVENT_RE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+[+-]\d{4}): event 'lifecycle' for domain '([^']*)': (\S+) ?(.*)$"
)


def die(msg):
    print(f"bench/libvirt: {msg}", file=sys.stderr)
    sys.exit(1)


def spawn(argv, env, stdin=None, stdout=None, err_path=None):
    """Run argv once; return (start, end, exit status) with start/end from time.time()
    and the duration from perf_counter (end = start + duration)."""
    fin = os.open(stdin, os.O_RDONLY) if stdin else DEVNULL
    fout = os.open(stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) if stdout else DEVNULL
    ferr = os.open(err_path or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        acts = [
            (os.POSIX_SPAWN_DUP2, fin, 0),
            (os.POSIX_SPAWN_DUP2, fout, 1),
            (os.POSIX_SPAWN_DUP2, ferr, 2),
        ]
        wall0 = time.time()
        t0 = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, env, file_actions=acts)
        _, status, _ = os.wait4(pid, 0)
        t1 = time.perf_counter()
    finally:
        for fd in (fin, fout):
            if fd != DEVNULL:
                os.close(fd)
        os.close(ferr)
    return wall0, wall0 + (t1 - t0), os.waitstatus_to_exitcode(status)


class Events:
    """`virsh event --loop --timestamp` in the background; lines parsed as they come."""

    def __init__(self, virsh, uri, env):
        self.proc = subprocess.Popen(
            [virsh, "-c", uri, "event", "--event", "lifecycle", "--loop", "--timestamp"],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, text=True, bufsize=1,
        )
        self.events = []  # (epoch seconds, domain, event, detail)
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            m = EVENT_RE.match(line.strip())
            if not m:
                continue
            ts = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f%z").timestamp()
            with self.cond:
                self.events.append((ts, m.group(2), m.group(3), m.group(4)))
                self.cond.notify_all()

    def mark(self):
        with self.cond:
            return len(self.events)

    def wait(self, name, kinds, since, count=1, timeout=120.0):
        """The first `count` events of domain `name` with kind in `kinds` after index `since`."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                got = [e for e in self.events[since:] if e[1] == name and e[2] in kinds]
                if len(got) >= count:
                    return got[:count]
                left = deadline - time.monotonic()
                if left <= 0:
                    die(f"no {'/'.join(kinds)} event x{count} for {name} within {timeout:.0f}s")
                self.cond.wait(left)

    def close(self):
        self.proc.terminate()
        self.proc.wait()


class Bench:
    def __init__(self, a):
        self.a = a
        self.uri = a.uri
        self.bin = a.bin
        self.virsh = a.virsh
        self.env = dict(os.environ, LC_ALL="C")
        self.env.pop("LIBVIRT_DEFAULT_URI", None)
        self.vms = a.vms
        self.err = os.path.join(a.tmp, "stderr")
        self.ev = Events(self.virsh, self.uri, self.env)
        self.root = os.geteuid() == 0
        self.lab_uid = self.lab_gid = None
        if self.root:
            st = os.stat(self.vms)
            self.lab_uid, self.lab_gid = st.st_uid, st.st_gid

    # --- helpers -----------------------------------------------------------------
    def tool(self, name):
        return os.path.join(self.bin, name)

    def must(self, argv, what, stdin=None, stdout=None, ok=(0,)):
        _, _, rc = spawn(argv, self.env, stdin=stdin, stdout=stdout, err_path=self.err)
        if rc not in ok:
            die(f"{what}: exit {rc}: {first_line(self.err)}")
        return rc

    def virsh_cmd(self, *args):
        return [self.virsh, "-q", "-c", self.uri, *args]

    def disk(self, name, size=64 << 20):
        path = os.path.join(self.vms, f"{name}.img")
        with open(path, "wb") as f:
            f.truncate(size)
        if self.root:
            os.chown(path, self.lab_uid, self.lab_gid)
        return path

    def gen(self, name, img, out, cdrom=True, memory="256MiB"):
        argv = [self.tool("domxml-gen"), "--name", name, "--type", self.a.domtype,
                "--memory", memory, "--disk", f"{img},format=raw",
                "--serial", f"file={os.path.join(self.vms, name + '.serial.log')}",
                "--graphics", "none"]
        if cdrom:
            argv += ["--cdrom", self.a.iso]
        self.must(argv, f"domxml-gen {name}", stdout=out)

    def remove(self, name):
        self.must(self.virsh_cmd("destroy", name), f"destroy {name}", ok=(0, 1))
        self.must(self.virsh_cmd("undefine", name), f"undefine {name}", ok=(0, 1))

    def rss(self, argv, stdin=None, after=None):
        """Median peak RSS (KiB) of argv under GNU time over --rss-reps runs (+1 warm-up)."""
        out = os.path.join(self.a.tmp, "rss")
        vals = []
        for i in range(self.a.rss_reps + 1):
            rc = self.must([self.a.gnu_time, "-f", "%M", "-o", out, *argv], " ".join(argv[:2]),
                           stdin=stdin, ok=(0, 9))
            if i:
                vals.append(int(open(out).read().split()[-1]))
            if after:
                after()
        return statistics.median(vals)

    # --- 0. readiness of the event listener ------------------------------------------
    def sync_events(self, xml):
        for _ in range(50):
            mark = self.ev.mark()
            self.must(self.virsh_cmd("define", xml), "define (event listener sync)")
            with self.ev.cond:
                self.ev.cond.wait_for(
                    lambda: any(e[2] == "Defined" for e in self.ev.events[mark:]), timeout=0.5)
                if any(e[2] == "Defined" for e in self.ev.events[mark:]):
                    return
        die("virsh event never reported a Defined event")

    # --- 3. whole flows -------------------------------------------------------------
    def flow_domkit(self, i):
        """The flow step by step, each tool spawned from here (the pipe `domxml-rewrite
        --to install | dom-create` goes through a file: same work, step times apart)."""
        name = f"bdk{i}"
        img = self.disk(name)
        xml = os.path.join(self.vms, name + ".xml")
        inst = os.path.join(self.a.tmp, name + ".install.xml")
        rec = os.path.join(self.a.tmp, name + ".record")
        ser = os.path.join(self.vms, name + ".serial.log")
        u = ["-c", self.uri]
        steps = [
            ("gen", [self.tool("domxml-gen"), "--name", name, "--type", self.a.domtype,
                     "--memory", "256MiB", "--disk", f"{img},format=raw", "--serial",
                     f"file={ser}", "--graphics", "none", "--cdrom", self.a.iso], None, xml),
            ("define", [self.tool("dom-define"), *u, xml], None, rec),
            ("rewrite", [self.tool("domxml-rewrite"), "--to", "install", xml], None, inst),
            ("create1", [self.tool("dom-create"), *u], inst, rec),
            ("wait1", [self.tool("dom-wait-shutdown"), *u, name], None, rec),
            ("create2", [self.tool("dom-create"), *u, name], None, rec),
            ("wait2", [self.tool("dom-wait-shutdown"), *u, name], None, rec),
        ]
        mark = self.ev.mark()
        t = {}
        for label, argv, sin, sout in steps:
            t[label] = spawn(argv, self.env, stdin=sin, stdout=sout, err_path=self.err)
            if t[label][2] != 0:
                die(f"domkit flow {name}: {label}: exit {t[label][2]}: {first_line(self.err)}")
        t0, t1 = t["gen"][0], t["wait2"][1]
        st = self.ev.wait(name, ("Started",), mark, 2)
        sp = self.ev.wait(name, ("Stopped",), mark, 2)
        sd = self.ev.wait(name, ("Shutdown",), mark, 2)
        serial = open(ser, errors="replace").read()
        if "DOMKIT-GUEST: booted from disk" not in serial:
            die(f"domkit flow {name}: the installed guest did not boot from its disk")
        r = self.flow_result(t0, t1, st, sp, sd, full=True)
        r["pre"] = t["create1"][0] - t0  # gen + define + rewrite
        r["start"] = (st[0][0] - t["create1"][0]) + (st[1][0] - t["create2"][0])
        r["wakeups"] = (t["wait1"][1] - sp[0][0]) + (t["wait2"][1] - sp[1][0])
        r["between"] = t["create2"][0] - t["wait1"][1]
        return r

    def flow_virt_install(self, i):
        name = f"bvi{i}"
        img = self.disk(name)
        ser = os.path.join(self.vms, name + ".serial.log")
        home = os.path.join(self.a.tmp, "vihome")
        os.makedirs(home, exist_ok=True)
        env = dict(self.env, HOME=home, XDG_CACHE_HOME=os.path.join(home, ".cache"),
                   XDG_CONFIG_HOME=os.path.join(home, ".config"))
        argv = [self.a.virt_install, "--connect", self.uri, "--name", name,
                "--virt-type", self.a.domtype, "--memory", "256", "--vcpus", "1",
                "--disk", f"{img},format=raw,bus=virtio", "--cdrom", self.a.iso,
                "--graphics", "none", "--serial", f"file,path={ser}", "--network", "none",
                "--osinfo", "detect=on,require=off", "--noautoconsole", "--wait", "-1"]
        mark = self.ev.mark()
        t0, t1, rc = spawn(argv, env, err_path=self.err)
        if rc != 0:
            die(f"virt-install {name}: exit {rc}: {first_line(self.err)}")
        st = self.ev.wait(name, ("Started",), mark, 2)
        sp = self.ev.wait(name, ("Stopped",), mark, 2)  # the final boot powers off by itself
        sd = self.ev.wait(name, ("Shutdown",), mark, 2)
        self.remove(name)
        return self.flow_result(t0, t1, st, sp, sd, full=False)

    @staticmethod
    def flow_result(t0, t1, st, sp, sd, full):
        run1 = sp[0][0] - st[0][0]
        run2 = sp[1][0] - st[1][0]
        r = {
            "wall": t1 - t0,
            "run1": run1,
            "run2": run2,
            "to_first_start": st[0][0] - t0,
            "handover": st[1][0] - sp[0][0],  # install Stopped -> final Started
            "to_final_start_overhead": (st[1][0] - t0) - run1,
            "reap": [sp[k][0] - sd[k][0] for k in (0, 1)],  # Shutdown -> Stopped
        }
        if full:
            r["tail"] = t1 - sp[1][0]  # final Stopped -> last dom-wait-shutdown exited
            r["full_overhead"] = (t1 - t0) - run1 - run2
        return r

    # --- 2. stop event -> exit -------------------------------------------------------
    def wait_delay(self, name, stop):
        """Start `name` (virsh start), run dom-wait-shutdown NAME, stop the guest with
        `stop` (None: it powers off by itself), return (delay s, record) or None if the
        waiter did not see the guest live."""
        self.must(self.virsh_cmd("start", name), f"start {name}")
        out = os.path.join(self.a.tmp, "wait.json")
        fout = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        mark = self.ev.mark()
        pid = os.posix_spawn(self.tool("dom-wait-shutdown"),
                             [self.tool("dom-wait-shutdown"), "-c", self.uri, name], self.env,
                             file_actions=[(os.POSIX_SPAWN_DUP2, DEVNULL, 0),
                                           (os.POSIX_SPAWN_DUP2, fout, 1),
                                           (os.POSIX_SPAWN_DUP2, DEVNULL, 2)])
        os.close(fout)
        if stop:
            self.must(self.virsh_cmd(stop, name), f"{stop} {name}")
        _, status, _ = os.wait4(pid, 0)
        t_exit = time.time()
        rec = json.loads(open(out).read().strip().splitlines()[-1])
        ts = self.ev.wait(name, ("Stopped",), mark)[0][0]
        if rec.get("action") != "stopped":
            return None
        return t_exit - ts, rec, os.waitstatus_to_exitcode(status)


def first_line(path):
    try:
        with open(path, errors="replace") as f:
            return f.readline().strip()
    except OSError:
        return ""


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def ms(x):
    return f"{x * 1000:.0f} ms" if x >= 0.0995 else f"{x * 1000:.1f} ms"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--uri", required=True)
    p.add_argument("--bin", required=True)
    p.add_argument("--vms", required=True)
    p.add_argument("--tmp", required=True)
    p.add_argument("--iso", required=True)
    p.add_argument("--domtype", required=True)
    p.add_argument("--virsh", default="/usr/bin/virsh")
    p.add_argument("--virt-install", default="/usr/bin/virt-install")
    p.add_argument("--gnu-time", default="/usr/bin/time")
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--rss-reps", type=int, default=5)
    p.add_argument("--wait-reps", type=int, default=10)
    p.add_argument("--flow-reps", type=int, default=3)
    a = p.parse_args()
    b = Bench(a)
    say = lambda m: print(f"bench/libvirt: {m}", file=sys.stderr, flush=True)

    # Domains: bdef (defined, never started), brun (boots an empty disk: SeaBIOS finds
    # nothing to boot and keeps the guest running), bdk* / bvi* (the flows).
    def_xml = os.path.join(a.vms, "bdef.xml")
    b.gen("bdef", b.disk("bdef", 1 << 20), def_xml, cdrom=False, memory="64MiB")
    b.sync_events(def_xml)
    run_xml = os.path.join(a.vms, "brun.xml")
    b.gen("brun", b.disk("brun", 1 << 20), run_xml, cdrom=False, memory="64MiB")
    b.must(b.virsh_cmd("define", run_xml), "define brun")

    # 3. flows, interleaved.
    dk, vi = [], []
    for i in range(1, a.flow_reps + 1):
        say(f"flow {i}/{a.flow_reps}: domkit")
        dk.append(b.flow_domkit(i))
        say(f"flow {i}/{a.flow_reps}: virt-install")
        vi.append(b.flow_virt_install(i))
    installed = f"bdk{a.flow_reps}"  # kept: an installed guest that powers off by itself
    for i in range(1, a.flow_reps):
        b.remove(f"bdk{i}")

    # 2. stop event -> dom-wait-shutdown exit.
    natural, destroyed, skipped = [], [], 0
    for i in range(a.wait_reps):
        say(f"wait delay {i + 1}/{a.wait_reps}")
        r = b.wait_delay(installed, None)
        if r is None or r[1].get("reason") != "shutdown" or r[2] != 0:
            skipped += 1
        else:
            natural.append(r[0])
        r = b.wait_delay("brun", "destroy")
        if r is None or r[1].get("reason") != "destroyed" or r[2] != 9:
            skipped += 1
        else:
            destroyed.append(r[0])

    # 1. per tool.
    say("per-tool timings")
    rows = []
    D, V = b.tool, b.virsh_cmd

    to_started = {}  # label -> [spawn -> libvirt Started event, seconds]

    def pair(label_d, argv_d, label_v, argv_v, after=None, ok=(0,), started=None):
        td, tv = [], []
        for _ in range(a.reps):
            for label, argv, acc in ((label_d, argv_d, td), (label_v, argv_v, tv)):
                mark = b.ev.mark()
                s, e, rc = spawn(argv, b.env, err_path=b.err)
                if rc not in ok:
                    die(f"{' '.join(argv[:2])}: exit {rc}: {first_line(b.err)}")
                acc.append(e - s)
                if started:
                    ts = b.ev.wait(started, ("Started",), mark)[0][0]
                    to_started.setdefault(label, []).append(ts - s)
                if after:
                    after()
        rd = b.rss(argv_d, after=after)
        rv = b.rss(argv_v, after=after)
        rows.append((label_d, med(td), rd, label_v, med(tv), rv))

    # Like for like: dom-define validates against the schema by default, virsh does not.
    pair("`dom-define FILE`", [D("dom-define"), "-c", a.uri, def_xml],
         "`virsh define --validate FILE`", V("define", "--validate", def_xml))
    pair("`dom-define --no-validate FILE`", [D("dom-define"), "--no-validate", "-c", a.uri, def_xml],
         "`virsh define FILE`", V("define", def_xml))
    stop_run = lambda: b.must(V("destroy", "brun"), "destroy brun")
    pair("`dom-create NAME`", [D("dom-create"), "-c", a.uri, "brun"],
         "`virsh start NAME`", V("start", "brun"), after=stop_run, started="brun")
    pair("`dom-wait-shutdown NAME` (stopped)", [D("dom-wait-shutdown"), "-c", a.uri, installed],
         "`virsh domstate NAME --reason`", V("domstate", installed, "--reason"))
    b.ev.close()

    # --- report ------------------------------------------------------------------------
    out = print
    out(f"### 1. Per tool: median wall time over {a.reps} runs, peak RSS (GNU time %M, median of {a.rss_reps})")
    out()
    out("| domkit | wall | RSS | peer | wall | RSS | wall ratio (domkit/peer) | RSS ratio |")
    out("|---|---:|---:|---|---:|---:|---:|---:|")
    for ld, wd, rd, lv, wv, rv in rows:
        out(f"| {ld} | {ms(wd)} | {rd / 1024:.1f} MiB | {lv} | {ms(wv)} | {rv / 1024:.1f} MiB"
            f" | {wd / wv:.2f} | {rd / rv:.2f} |")
    ds = med(to_started.get("`dom-create NAME`", [float("nan")]))
    vs = med(to_started.get("`virsh start NAME`", [float("nan")]))
    out(f"| `dom-create NAME`: spawn -> Started event | {ms(ds)} | | `virsh start NAME`:"
        f" spawn -> Started event | {ms(vs)} | | {ds / vs:.2f} | |")
    out()
    out("Targets: no slower than virsh (ratio <= 1), RSS <= 10 MiB. `dom-create NAME` / `virsh start`:"
        " only the start command is timed (the guest boots an empty disk and is destroyed after"
        " each run, untimed). `dom-wait-shutdown` on a domain that already shut down cleanly.")
    out()
    out(f"### 2. libvirt's Stopped event -> `dom-wait-shutdown` exited (median over runs; {skipped} runs discarded)")
    out()
    out("| how the guest stops | runs | median | min | max |")
    out("|---|---:|---:|---:|---:|")
    for label, xs in (("guest powers off by itself (installed test guest)", natural),
                      ("`virsh destroy` (guest left running in SeaBIOS)", destroyed)):
        if xs:
            out(f"| {label} | {len(xs)} | {ms(med(xs))} | {ms(min(xs))} | {ms(max(xs))} |")
    out()
    out("Event time: the timestamp `virsh event --event lifecycle --loop --timestamp` prints for"
        " the `Stopped` event (when that client received it; 1 ms resolution); exit time: wait4()"
        " in the bench. Target: <= 20 ms median. For comparison virt-install polls the domain's"
        " state once a second (0-1000 ms, ~500 ms on average; see the handover column below).")
    out()
    out(f"### 3. Whole install flow, overhead above the guest's own run time ({a.flow_reps} runs each, medians)")
    out()
    out("| flow | wall | guest run time (install + final) | overhead to final boot started | install Stopped -> final Started | full-flow overhead |")
    out("|---|---:|---:|---:|---:|---:|")
    out(f"| domkit: domxml-gen, dom-define, domxml-rewrite --to install \\| dom-create, dom-wait-shutdown,"
        f" dom-create NAME, dom-wait-shutdown | {ms(med([r['wall'] for r in dk]))}"
        f" | {ms(med([r['run1'] for r in dk]))} + {ms(med([r['run2'] for r in dk]))}"
        f" | {ms(med([r['to_final_start_overhead'] for r in dk]))}"
        f" | {ms(med([r['handover'] for r in dk]))}"
        f" | {ms(med([r['full_overhead'] for r in dk]))} |")
    out(f"| virt-install --cdrom ... --noautoconsole --wait -1 (exits once the final boot started)"
        f" | {ms(med([r['wall'] for r in vi]))}"
        f" | {ms(med([r['run1'] for r in vi]))} + ({ms(med([r['run2'] for r in vi]))})"
        f" | {ms(med([r['to_final_start_overhead'] for r in vi]))}"
        f" | {ms(med([r['handover'] for r in vi]))}"
        f" | n/a (does not wait for the final boot) |")
    out()
    r_dk = med([r["to_final_start_overhead"] for r in dk])
    r_vi = med([r["to_final_start_overhead"] for r in vi])
    out(f"Overhead to final boot started: domkit / virt-install = {r_dk / r_vi:.2f}"
        f" ({ms(r_vi - r_dk)} less). Of it, before the install guest's Started event:"
        f" domkit {ms(med([r['to_first_start'] for r in dk]))}, virt-install"
        f" {ms(med([r['to_first_start'] for r in vi]))}.")
    out()
    out(f"domkit's full-flow overhead, broken down (medians): gen + define + rewrite"
        f" {ms(med([r['pre'] for r in dk]))}; the two boots' start, dom-create spawned -> libvirt"
        f" Started event, {ms(med([r['start'] for r in dk]))} (for comparison `virsh start`"
        f" spawned -> Started: {ms(vs)} per boot, i.e. {ms(2 * vs)} for two, most of it libvirtd"
        f" spawning QEMU); the two dom-wait-shutdown wake-ups, Stopped event -> exit,"
        f" {ms(med([r['wakeups'] for r in dk]))}; between wait exit and next dom-create spawn"
        f" {ms(med([r['between'] for r in dk]))}. Full-flow overhead net of two `virsh start`"
        f" start costs: {ms(med([r['full_overhead'] for r in dk]) - 2 * vs)} (an upper"
        f" bound on the tools' share: `virsh start` there starts a 64 MiB guest without CD-ROM).")
    out()
    reap = [x for r in dk + vi for x in r["reap"]]
    tail = [r["tail"] for r in dk]
    out("Guest run time = libvirt `Started` -> `Stopped` event of each boot. It includes the time"
        " QEMU takes to start the guest CPUs after the Started event and, on this machine, the"
        f" `Shutdown` -> `Stopped` gap (median {ms(med(reap))} over {len(reap)} boots: the guest"
        " has powered off but libvirtd sees QEMU gone only when PID 1 reaps it). Overhead = flow"
        " wall time minus those run times: the tools' own time plus libvirtd's work to define,"
        " spawn QEMU and deliver events. Full-flow tail (final Stopped -> last"
        f" dom-wait-shutdown exited): median {ms(med(tail))}.")


if __name__ == "__main__":
    main()
