"""asyncrl.runtime.procs on real process trees, against /proc read directly (Linux).

The processes started here burn their CPU first and then sleep, so their counters hold still while
the helper and the reference read them; every process is killed and reaped at the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from asyncrl.runtime import procs

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc as its reference")

TICK = os.sysconf("SC_CLK_TCK")

# A process that burns ~BURN CPU-seconds, starts its children (TREE, a JSON file: role -> [[child
# role, argv tail], ...]; kept out of the command lines, which the tests read), records "<role>
# <pid>" in LOG, then sleeps.
NODE = textwrap.dedent("""
    import json, os, subprocess, sys, time
    role, log, burn, tree = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    t = time.process_time()
    while time.process_time() - t < burn:
        pass
    for child, tail in json.load(open(tree)).get(role, []):
        subprocess.Popen([sys.executable, __file__, child, log, str(burn), tree, *tail])
    with open(log, "a") as f:
        f.write(f"{role} {os.getpid()}\\n")
    time.sleep(600)
""")


def _start(tmp_path, tree, burn=0.0):
    """Start the tree in its own process group (the root's role: 'root'); wait until each of its
    processes has logged; (the root's Popen, {role: pid})."""
    node, log, spec = tmp_path / "node.py", tmp_path / "tree.log", tmp_path / "tree.json"
    node.write_text(NODE)
    spec.write_text(json.dumps(tree))
    n = 1 + sum(len(kids) for kids in tree.values())
    root = subprocess.Popen([sys.executable, str(node), "root", str(log), str(burn), str(spec)],
                            start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        lines = log.read_text().splitlines() if log.exists() else []
        if len(lines) == n:
            return root, {r: int(p) for r, p in (ln.split() for ln in lines)}
        time.sleep(0.05)
    os.killpg(root.pid, signal.SIGKILL)
    pytest.fail("the process tree did not start")


def _kill(root):
    os.killpg(root.pid, signal.SIGKILL)
    root.wait()


def _stat_cpu_s(pid):
    """utime + stime of /proc/<pid>/stat (fields 14 and 15; the name in parentheses may hold spaces)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _ppid(pid):
    text = Path(f"/proc/{pid}/stat").read_text()
    return int(text[text.rfind(")") + 2:].split()[1])


def _reference_descendants(pid):
    parent = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parent[int(d.name)] = _ppid(d.name)
            except (OSError, ValueError):
                continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return sorted(out)


TREE = {"root": [["a", []], ["b", []]], "a": [["a1", []], ["a2", []]]}


def test_descendants_and_their_cpu_time_match_proc(tmp_path):
    root, pid = _start(tmp_path, TREE, burn=0.2)
    try:
        assert root.pid == pid["root"]
        assert sorted(procs.children(pid["root"])) == sorted([pid["a"], pid["b"]])
        assert sorted(procs.children(pid["a"])) == sorted([pid["a1"], pid["a2"]])
        assert sorted(procs.descendants(pid["root"])) == _reference_descendants(pid["root"]) \
            == sorted(pid[r] for r in ("a", "a1", "a2", "b"))
        assert procs.descendants(pid["b"]) == [] and procs.children(pid["a1"]) == []
        for r in pid:
            assert procs.cpu_s(pid[r]) == pytest.approx(_stat_cpu_s(pid[r]), abs=1e-9)
        tree = {r: [r] for r in ("a1", "a2", "b")}
        tree.update(a=["a", "a1", "a2"], root=["root", "a", "a1", "a2", "b"])
        for r, members in tree.items():
            want = sum(_stat_cpu_s(pid[m]) for m in members)
            assert procs.tree_cpu_s(pid[r]) == pytest.approx(want, abs=1e-9), r
        assert procs.tree_cpu_s(pid["root"]) >= 5 * 0.2 - 5 / TICK  # each burnt 0.2 s
    finally:
        _kill(root)
    gone = pid["root"]
    assert procs.tree_cpu_s(gone) is None and procs.cpu_s(gone) is None
    assert procs.children(gone) == [] and procs.descendants(gone) == [] and procs.cmdline(gone) == ""


def test_tree_cpu_of_this_process_adds_the_children_it_waited_for():
    import resource

    before = procs.tree_cpu_s()
    subprocess.run([sys.executable, "-c", "import time\nt = time.process_time()\n"
                    "while time.process_time() - t < 0.3: pass"], check=True)
    waited = resource.getrusage(resource.RUSAGE_CHILDREN)
    mine = procs.cpu_s(os.getpid())  # read before the tree's total: the counters only grow
    assert procs.tree_cpu_s() >= mine + waited.ru_utime + waited.ru_stime >= mine + 0.3 - 2 / TICK
    assert procs.tree_cpu_s() - before >= 0.3 - 2 / TICK


def test_cmdline_and_memory(tmp_path):
    """The command line joins the arguments; the peak RSS is the high-water mark (VmHWM), above the
    RSS once memory is freed; private memory is smaps_rollup's Private_* lines."""
    code = ("import os, sys, time\nb = bytearray(64 * 2**20)\nb[::4096] = b'x' * len(b[::4096])\ndel b\n"
            "open(sys.argv[1], 'w').write(str(os.getpid()))\ntime.sleep(600)")
    ready = tmp_path / "ready"
    p = subprocess.Popen([sys.executable, "-c", code, str(ready), "spawn_main"])
    try:
        deadline = time.time() + 60
        while not (ready.exists() and ready.read_text()):
            assert time.time() < deadline, "the process did not start"
            time.sleep(0.05)
        assert procs.cmdline(p.pid) == f"{sys.executable} -c {code} {ready} spawn_main"
        status = dict(ln.split(":", 1) for ln in Path(f"/proc/{p.pid}/status").read_text().splitlines())
        assert procs.peak_rss_kb(p.pid) == int(status["VmHWM"].split()[0]) >= 64 * 1024
        assert procs.peak_rss_kb(p.pid) > int(status["VmRSS"].split()[0]) + 32 * 1024
        rollup = Path(f"/proc/{p.pid}/smaps_rollup").read_text().splitlines()
        private = sum(int(ln.split()[1]) for ln in rollup if ln.startswith("Private_"))
        assert procs.private_kb(p.pid) == private > 0
    finally:
        p.kill()
        p.wait()
    assert procs.peak_rss_kb(p.pid) == 0 and procs.private_kb(p.pid) == 0


def test_group_and_alive_leave_out_zombies_and_other_groups(tmp_path):
    root, pid = _start(tmp_path, {"root": [["a", []], ["b", []]]})
    try:
        members = sorted(pid.values())
        assert sorted(procs.group(root.pid)) == members
        assert procs.group(os.getpgid(0)) and not set(procs.group(os.getpgid(0))) & set(members)
        os.kill(pid["b"], signal.SIGKILL)  # its parent never waits for it: a zombie
        deadline = time.time() + 30
        while Path(f"/proc/{pid['b']}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.time() < deadline
            time.sleep(0.05)
        assert sorted(procs.group(root.pid)) == sorted([pid["root"], pid["a"]])
        assert procs.alive(members) == sorted([pid["root"], pid["a"]])
    finally:
        _kill(root)
    deadline = time.time() + 30  # the killed children end (and are reaped by init) just after
    while procs.group(root.pid) or procs.alive(members):
        assert time.time() < deadline, (procs.group(root.pid), procs.alive(members))
        time.sleep(0.05)


def test_job_workers_are_found_below_plain_processes_and_not_below_workers(tmp_path):
    """The command's launcher workers by their command lines: searched through processes that are
    not workers, never below a worker (the processes there are its job's)."""
    from asyncrl import sweep

    tree = {"root": [["plain", []], ["submitit", ["submitit.core._submit"]]],
            "plain": [["loky", ["popen_loky_posix"]]], "loky": [["job", ["popen_loky_posix"]]]}
    root, pid = _start(tmp_path, tree)
    try:
        assert sorted(sweep.job_workers(pid["root"])) == sorted([pid["loky"], pid["submitit"]])
    finally:
        _kill(root)
