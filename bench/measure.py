# bench/measure.py: times domkit's XML tools against virt-xml / virt-install, one process per run; prints markdown (called by bench/run.sh).
"""Per-invocation wall time and peak RSS, side by side on the same inputs.

Wall time: posix_spawn + wait4 from this process, stdin from the input file, stdout to
/dev/null; per input the median of --reps runs, then the median (and p90) over inputs.
Peak RSS: ru_maxrss as GNU time(1) reports it (%M), one run per input. Not read from our
own wait4: Linux folds the spawning process's RSS high-water mark (this Python's) into
the child's ru_maxrss at exec. GNU time is small, but its own floor is in the baseline row.
"""

import argparse
import os
import statistics
import sys
import time

DEVNULL = os.open(os.devnull, os.O_WRONLY)


def spawn(argv, stdin_path, env, err_path):
    """Run argv once; return (wall seconds, CPU seconds (user + sys), exit status)."""
    fin = os.open(stdin_path, os.O_RDONLY)
    ferr = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        acts = [
            (os.POSIX_SPAWN_DUP2, fin, 0),
            (os.POSIX_SPAWN_DUP2, DEVNULL, 1),
            (os.POSIX_SPAWN_DUP2, ferr, 2),
        ]
        t0 = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, env, file_actions=acts)
        _, status, ru = os.wait4(pid, 0)
        t1 = time.perf_counter()
    finally:
        os.close(fin)
        os.close(ferr)
    return t1 - t0, ru.ru_utime + ru.ru_stime, os.waitstatus_to_exitcode(status)


class Tool:
    """One command line, run on many inputs; collects per-input results."""

    def __init__(self, label, argv, env, tmp, reps):
        self.label, self.argv, self.env, self.tmp, self.reps = label, argv, env, tmp, reps
        self.wall = {}  # input -> [seconds]
        self.cpu = {}  # input -> [seconds]
        self.rss = {}  # input -> KiB
        self.failures = {}  # input -> first line of stderr
        self.err = os.path.join(tmp, "stderr")
        self.rss_out = os.path.join(tmp, "rss")

    def once(self, inp):
        if inp in self.failures:
            return
        secs, cpu, code = spawn(self.argv, inp, self.env, self.err)
        if code != 0:
            self.failures[inp] = f"exit {code}: {first_line(self.err)}"
            return
        self.wall.setdefault(inp, []).append(secs)
        self.cpu.setdefault(inp, []).append(cpu)

    def measure_rss(self, inp):
        if inp in self.failures:
            return
        argv = ["/usr/bin/time", "-f", "%M", "-o", self.rss_out, "--"] + self.argv
        _, _, code = spawn(argv, inp, self.env, self.err)
        if code != 0:
            self.failures[inp] = f"exit {code}: {first_line(self.err)}"
            return
        with open(self.rss_out) as f:
            self.rss[inp] = int(f.read().split()[-1])

    def run(self, inputs):
        """All inputs, reps each; interleaving with other tools is the caller's job."""
        for inp in inputs:
            for _ in range(self.reps):
                self.once(inp)
            self.measure_rss(inp)

    # Statistics over the inputs that succeeded.
    def per_input_ms(self):
        return [statistics.median(v) * 1e3 for v in self.wall.values()]

    def cpu_median(self):
        return statistics.median(statistics.median(v) * 1e3 for v in self.cpu.values())

    def wall_median(self):
        return statistics.median(self.per_input_ms())

    def wall_p90(self):
        v = sorted(self.per_input_ms())
        return v[min(len(v) - 1, int(0.9 * len(v)))]

    def wall_max(self):
        return max(self.per_input_ms())

    def rss_median(self):
        return statistics.median(self.rss.values()) / 1024

    def rss_max(self):
        return max(self.rss.values()) / 1024


def first_line(path):
    with open(path, errors="replace") as f:
        for line in f:
            if line.strip():
                return line.strip()[:160]
    return ""


def interleaved(tools, inputs):
    """Runs every tool on every input, alternating tools run by run (drift hits all alike)."""
    for inp in inputs:
        for r in range(max(t.reps for t in tools)):
            for t in tools:
                if r < t.reps:
                    t.once(inp)
        for t in tools:
            t.measure_rss(inp)


def subset(files, n):
    """n files spread evenly over the sorted list (all when n is 0 or too large)."""
    if n <= 0 or n >= len(files):
        return list(files)
    step = len(files) / n
    return [files[int(i * step)] for i in range(n)]


def ok(v, limit):
    return "✓" if v <= limit else "✗ **miss**"


def failures_note(tools):
    lines = []
    for t in tools:
        for inp, why in sorted(t.failures.items()):
            lines.append(f"- `{t.label}` failed on `{os.path.basename(inp)}`: {why}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rewrite", required=True)
    ap.add_argument("--gen", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--swap-inputs", required=True, help="dir: corpus after --to install")
    ap.add_argument("--big", required=True, help="dir of devices-N.xml")
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--iso", required=True)
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--reps", type=int, default=11)
    ap.add_argument("--peer-reps", type=int, default=3)
    o = ap.parse_args()

    # The peers write logs (and copied kernels) under ~/.cache/virt-manager: keep them in tmp.
    home = os.path.join(o.tmp, "home")
    os.makedirs(home, exist_ok=True)
    env = dict(os.environ, HOME=home, XDG_CACHE_HOME=os.path.join(home, ".cache"),
               XDG_CONFIG_HOME=os.path.join(home, ".config"), LC_ALL="C.UTF-8")
    env.pop("LIBVIRT_DEFAULT_URI", None)
    tmp = o.tmp
    RW, GEN = o.rewrite, o.gen
    virt_xml = ["/usr/bin/virt-xml", "--connect", "test:///default", "--edit", "--boot", "hd"]
    out = []
    p = out.append

    files = sorted(os.path.join(o.corpus, f) for f in os.listdir(o.corpus) if f.endswith(".xml"))
    sub = subset(files, o.files)
    swap_of = lambda f: os.path.join(o.swap_inputs, os.path.basename(f))
    empty = os.path.join(tmp, "empty")
    open(empty, "w").close()

    # Baseline: the cost of spawning anything at all.
    base = Tool("/bin/true", ["/bin/true"], env, tmp, o.reps)
    base.run([empty] * 5)

    # 1. Corpus, side by side on the same subset.
    to_final = Tool("domxml-rewrite --to final", [RW, "--to", "final"], env, tmp, o.reps)
    boot_hd = Tool("domxml-rewrite --boot hd", [RW, "--boot", "hd"], env, tmp, o.reps)
    swap = Tool("domxml-rewrite --swap ¹", [RW, "--swap"], env, tmp, o.reps)
    vx = Tool("virt-xml --edit --boot hd ²", virt_xml, env, tmp, o.peer_reps)
    interleaved([to_final, boot_hd, vx], sub)
    swap.run([swap_of(f) for f in sub if os.path.exists(swap_of(f))])
    ours = [to_final, swap, boot_hd]

    p(f"### 1. Rewriting one corpus document per process: domxml-rewrite vs virt-xml\n")
    p(f"{len(sub)} of the {len(files)} files of `{o.corpus}` (spread evenly over the sorted list), "
      f"on stdin, output to /dev/null. Wall: median over files of each file's median of "
      f"{o.reps} runs ({o.peer_reps} for virt-xml). RSS: GNU time %M, one run per file.\n")
    p("| command | files | wall median ms | wall p90 ms | CPU median ms | RSS median MiB | RSS max MiB | virt-xml ÷ this, wall | virt-xml ÷ this, RSS max |")
    p("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for t in [base] + ours + [vx]:
        if not t.wall:
            p(f"| `{t.label}` | 0 | – | – | – | – | – | – | – |")
            continue
        peer = t is not vx and t is not base and vx.wall
        p(f"| `{t.label}` | {len(t.wall)} | {t.wall_median():.2f} | {t.wall_p90():.2f} | {t.cpu_median():.2f} | "
          f"{t.rss_median():.1f} | {t.rss_max():.1f} | "
          + (f"{vx.wall_median() / t.wall_median():.0f}× | {vx.rss_max() / t.rss_max():.1f}× |" if peer else "– | – |"))
    p("\n¹ on the same files after `domxml-rewrite --to install --cdrom ISO` (a recorded profile is what --swap swaps with; "
      "corpus files without one are refused).  \n"
      "² `virt-xml --connect test:///default --edit --boot hd < FILE` (virt-xml 4.1 edits XML read from stdin and prints it; "
      "the test driver is in-process, no daemon).\n")

    # Targets, on the whole corpus.
    full = [Tool(t.label.replace(" ¹", ""), t.argv, env, tmp, o.reps) for t in ours]
    full[0].run(files)
    full[1].run([swap_of(f) for f in files if os.path.exists(swap_of(f))])
    full[2].run(files)
    p(f"**Targets on the whole corpus** ({len(files)} files; --swap on the {len(full[1].wall)} that take --to install), "
      f"per invocation ≤ 2 ms median wall and ≤ 5 MiB peak RSS:\n")
    p("| command | files | wall median ms | wall p90 ms | wall max ms | ≤ 2 ms | CPU median ms | RSS median MiB | RSS max MiB | ≤ 5 MiB |")
    p("|---|---:|---:|---:|---:|---|---:|---:|---:|---|")
    for t in full:
        p(f"| `{t.label}` | {len(t.wall)} | {t.wall_median():.2f} | {t.wall_p90():.2f} | {t.wall_max():.2f} | "
          f"{ok(t.wall_median(), 2.0)} | {t.cpu_median():.2f} | {t.rss_median():.1f} | {t.rss_max():.1f} | {ok(t.rss_max(), 5.0)} |")
    p(f"\nSpawn baseline (`/bin/true`, same harness): {base.wall_median():.2f} ms wall, {base.rss_max():.1f} MiB; "
      f"it is included in every number above. CPU = user + sys of the child (wait4), a steadier "
      f"figure than wall when the machine is busy.\n")

    # 2. Generation.
    img, iso = os.path.join(tmp, "vm.img"), o.iso
    kern, initrd = os.path.join(tmp, "vmlinuz"), os.path.join(tmp, "initrd.gz")
    # The disk is sparse and as large as Debian 11's minimum (domxml-gen --os checks it).
    for f, size in ((img, 20 << 30), (kern, 1 << 20), (initrd, 1 << 20)):
        with open(f, "wb") as fh:
            fh.truncate(size)
    uuid = "6a1f0c2e-8d5b-4c3a-9e7f-0123456789ab"
    common_gen = [GEN, "--name", "vm1", "--uuid", uuid, "--type", "test", "--memory", "1024",
                  "--vcpus", "1", "--disk", f"{img},format=raw,bus=virtio", "--network", "none",
                  "--graphics", "none"]
    common_vi = ["/usr/bin/virt-install", "--connect", "test:///default", "--name", "vm1",
                 "--uuid", uuid, "--memory", "1024", "--vcpus", "1",
                 "--disk", f"{img},format=raw,bus=virtio", "--network", "none", "--graphics", "none",
                 "--osinfo", "detect=on,require=off", "--print-xml"]
    cases = [
        ("CD-ROM install", ["--cdrom", iso], ["--cdrom", iso]),
        ("direct kernel install", ["--kernel", kern, "--initrd", initrd, "--cmdline", "console=ttyS0"],
         ["--install", f"kernel={kern},initrd={initrd},kernel_args=console=ttyS0"]),
        # Both read the osinfo-db package's database (/usr/share/osinfo) for the OS.
        ("CD-ROM install, --os debian11", ["--cdrom", iso, "--os", "debian11"],
         ["--cdrom", iso, "--os-variant", "debian11"]),
    ]
    p("### 2. Generating a guest's XML: domxml-gen vs virt-install --print-xml\n")
    p(f"Same guest on both sides (test driver, 1 GiB, 1 vCPU, one raw virtio disk, no network, no graphics). "
      f"`virt-install --connect test:///default ... --osinfo detect=on,require=off --print-xml` "
      f"(prints both phases; copies a direct-boot kernel/initrd into its cache first) vs `domxml-gen --type test ...` "
      f"(prints the final config with the install profile in metadata). Median of {o.reps} runs ({o.peer_reps * 2 + 1} for virt-install); RSS: GNU time, max of 3 runs.\n")
    p("| guest | domxml-gen ms | virt-install ms | wall ratio | domxml-gen CPU ms | virt-install CPU ms | domxml-gen RSS MiB | virt-install RSS MiB | RSS ratio |")
    p("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    gens = []
    for name, gflags, vflags in cases:
        g = Tool(f"domxml-gen ({name})", common_gen + gflags, env, tmp, o.reps)
        v = Tool(f"virt-install ({name})", common_vi + vflags, env, tmp, o.peer_reps * 2 + 1)
        for r in range(max(g.reps, v.reps)):
            for t in (g, v):
                if r < t.reps:
                    t.once(empty)
        rss = {g: [], v: []}
        for _ in range(3):
            for t in (g, v):
                t.measure_rss(empty)
                if empty in t.rss:
                    rss[t].append(t.rss.pop(empty))
        gens += [g, v]
        if not g.wall or not v.wall or not rss[g] or not rss[v]:
            p(f"| {name} | failed | | | | | | | |")
            continue
        gm, vm = statistics.median(g.wall[empty]) * 1e3, statistics.median(v.wall[empty]) * 1e3
        gr, vr = max(rss[g]) / 1024, max(rss[v]) / 1024
        p(f"| {name} | {gm:.2f} | {vm:.1f} | {vm / gm:.0f}× | {g.cpu_median():.2f} | {v.cpu_median():.1f} | "
          f"{gr:.1f} | {vr:.1f} | {vr / gr:.1f}× |")
    p("")

    # 4. Huge domains through the CLI.
    sizes = sorted(int(f[len("devices-"):-len(".xml")]) for f in os.listdir(o.big)
                   if f.startswith("devices-") and f.endswith(".xml"))
    p("### 3. Huge domains through the CLI (target: 10,000 devices in < 100 ms, linear)\n")
    p("A generated final config with N devices (½ disks, ¼ interfaces, ¼ filesystems), from a file; "
      "`domxml-rewrite --to install --cdrom ISO`, then `--to final` on that output (checked to give back the input "
      "byte for byte). Median of 5 runs (3 above 50,000 devices); RSS: GNU time, one run.\n")
    p("| devices | size MiB | --to install ms | CPU ms | ms / 1k dev | RSS MiB | --to final ms | CPU ms | ms / 1k dev | RSS MiB | round trip exact | 10k < 100 ms |")
    p("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    bigs = []
    for n in sizes:
        src = os.path.join(o.big, f"devices-{n}.xml")
        inst = os.path.join(tmp, f"devices-{n}.install.xml")
        back = os.path.join(tmp, f"devices-{n}.final.xml")
        with open(inst, "wb") as fo:
            pid = os.posix_spawn(RW, [RW, "--to", "install", "--cdrom", iso], env,
                                 file_actions=[(os.POSIX_SPAWN_OPEN, 0, src, os.O_RDONLY, 0),
                                               (os.POSIX_SPAWN_DUP2, fo.fileno(), 1)])
            if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0:
                sys.exit(f"bench: domxml-rewrite --to install failed on {src}")
        with open(back, "wb") as fo:
            pid = os.posix_spawn(RW, [RW, "--to", "final"], env,
                                 file_actions=[(os.POSIX_SPAWN_OPEN, 0, inst, os.O_RDONLY, 0),
                                               (os.POSIX_SPAWN_DUP2, fo.fileno(), 1)])
            if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0:
                sys.exit(f"bench: domxml-rewrite --to final failed on {inst}")
        with open(src, "rb") as a, open(back, "rb") as b:
            exact = a.read() == b.read()
        reps = 3 if n > 50_000 else 5
        ti = Tool(f"--to install ({n})", [RW, "--to", "install", "--cdrom", iso], env, tmp, reps)
        tf = Tool(f"--to final ({n})", [RW, "--to", "final"], env, tmp, reps)
        ti.run([src])
        tf.run([inst])
        bigs += [ti, tf]
        if not ti.wall or not tf.wall:
            p(f"| {n} | failed | | | | | | | | | | |")
            continue
        k = n / 1000
        mi, mf = ti.wall_median(), tf.wall_median()
        target = ok(max(mi, mf), 100.0) if n == 10_000 else ""
        p(f"| {n} | {os.path.getsize(src) / 2**20:.1f} | {mi:.1f} | {ti.cpu_median():.1f} | {mi / k:.2f} | {ti.rss_max():.1f} | "
          f"{mf:.1f} | {tf.cpu_median():.1f} | {mf / k:.2f} | {tf.rss_max():.1f} | {'yes' if exact else '**NO**'} | {target} |")
    p("")

    notes = failures_note(ours + [vx] + full + gens + bigs)
    if notes:
        p("Failures (left out of the statistics):\n")
        p(notes + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
