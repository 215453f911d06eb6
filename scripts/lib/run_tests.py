#!/usr/bin/env python3
"""Runs the test executables of one `cargo test --no-run` build side by side (scripts/test).

    run_tests.py --build JSON [--only NAME,...] [--jobs N] [--job NAME CMD]...
                 [--expected FILE] [--times FILE]

In:  JSON, the stdout of `cargo test --no-run --message-format=json-render-diagnostics ...`:
     every `compiler-artifact` message with an executable built in test mode is one test
     executable (library, binary and integration tests; never a bench: benches are built only
     so that they are compiled and linted, and run at full size under `cargo bench`).
     `--only` keeps the test executables of those target names. `--job NAME CMD` adds a shell
     command run beside them (e.g. the doc tests).
Out: each job's whole output (stdout and stderr, in order) printed at once when it ends, so
     outputs never interleave; then a summary: per job ok/FAILED, the time it took and the
     tests' own `test result:` counts. Exit status 1 if any job failed or none was found.
Guarantees: at most `--jobs` (FDC_TEST_JOBS, default 4) run at a time; every job runs even
     after a failure (as `cargo test --no-fail-fast`). Each test executable runs as `cargo test`
     runs it: in its package's directory, with CARGO_MANIFEST_DIR and CARGO_PKG_NAME set.
     Concurrent runs are safe because every test names its topics, consumer groups, databases
     and temporary directories after its process (tests/support: `unique_name`), takes free
     ports, and the outage tests stop only private services of their own (tests/ops_common).
     The longest jobs start first, so that the last to start are short: the durations of the
     previous run (`--times`, rewritten after each run), else the expected ones (`--expected`,
     scripts/lib/test-times.json, measured once; a fresh clone has no previous run); a job
     in neither counts as long. An order only: a wrong duration costs time, never a test.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

RESULT = re.compile(r"^test result: (\w+)\. (\d+) passed; (\d+) failed; (\d+) ignored")


def test_executables(build_json, only):
    """(name, target, argv, cwd, env) of each test executable in cargo's JSON messages."""
    found = []
    seen = set()
    with open(build_json, encoding="utf-8") as f:
        for line in f:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
                continue
            if not msg["profile"]["test"] or "bench" in msg["target"]["kind"]:
                continue
            exe = msg["executable"]
            if exe in seen:
                continue
            seen.add(exe)
            target = msg["target"]["name"]
            if only and target not in only:
                continue
            manifest = msg["manifest_path"]
            package = package_name(msg["package_id"])
            # Named by its source file, as `cargo test` names it ("Running tests/lsp.rs").
            name = os.path.relpath(msg["target"]["src_path"])
            env = dict(os.environ, CARGO_MANIFEST_DIR=os.path.dirname(manifest), CARGO_PKG_NAME=package)
            found.append((name, target, [exe], os.path.dirname(manifest), env))
    return found


def package_name(package_id):
    # "path+file:///dir/engine#fdc-engine@0.1.0" or "path+file:///dir#0.1.0" (the root package).
    tail = package_id.rsplit("#", 1)[-1]
    if "@" in tail:
        return tail.split("@", 1)[0]
    return package_id.split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def run(job, lock):
    name, _, argv, cwd, env = job
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    took = time.monotonic() - start
    out = proc.stdout.decode("utf-8", "replace")
    counts = [0, 0, 0]
    for line in out.splitlines():
        m = RESULT.match(line)
        if m:
            for i in range(3):
                counts[i] += int(m.group(i + 2))
    with lock:
        status = "ok" if proc.returncode == 0 else f"FAILED (exit {proc.returncode})"
        sys.stdout.write(f"\n--> [tests] {name}: {' '.join(argv)} ({took:.1f} s, {status})\n")
        sys.stdout.write(out)
        if out and not out.endswith("\n"):
            sys.stdout.write("\n")
        sys.stdout.flush()
    return name, proc.returncode, took, counts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True, help="cargo's JSON messages of the --no-run build")
    ap.add_argument("--only", default="", help="comma-separated test target names to run")
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("FDC_TEST_JOBS", "4")))
    ap.add_argument("--job", nargs=2, action="append", default=[], metavar=("NAME", "CMD"))
    ap.add_argument("--expected", default="", help="durations to expect when --times has none")
    ap.add_argument("--times", default="", help="where the durations of the last run are kept")
    args = ap.parse_args()

    only = {n for n in args.only.split(",") if n}
    jobs = test_executables(args.build, only)
    if only:
        missing = only - {j[1] for j in jobs}
        if missing:
            print(f"[tests] not built: {', '.join(sorted(missing))}", file=sys.stderr)
            return 1
    jobs += [(name, None, ["bash", "-c", cmd], os.getcwd(), dict(os.environ)) for name, cmd in args.job]
    if not jobs:
        print("[tests] no test executable in the build's messages", file=sys.stderr)
        return 1

    previous = {}
    for path in (args.expected, args.times):
        if path:
            try:
                with open(path, encoding="utf-8") as f:
                    previous.update(json.load(f))
            except (OSError, ValueError):
                pass
    # Longest first (unknown ones count as long): the last to start then are the short ones.
    jobs.sort(key=lambda j: -previous.get(j[0], float("inf")))

    lock = threading.Lock()
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(lambda j: run(j, lock), jobs))
    wall = time.monotonic() - start

    if args.times:
        try:
            with open(args.times, "w", encoding="utf-8") as f:
                json.dump({name: round(took, 1) for name, _, took, _ in results}, f, indent=1, sort_keys=True)
        except OSError:
            pass

    failed = [r for r in results if r[1] != 0]
    totals = [sum(r[3][i] for r in results) for i in range(3)]
    print(f"\n--> [tests] summary ({len(results)} jobs, {args.jobs} at a time, {wall:.0f} s)")
    for name, rc, took, (passed, nfailed, ignored) in sorted(results, key=lambda r: -r[2]):
        status = "ok" if rc == 0 else "FAILED"
        print(f"  {name:<44} {status:<6} {took:6.1f}s  {passed:4} passed {nfailed:3} failed {ignored:3} ignored")
    print(f"  {'all':<44} {'':<6} {wall:6.1f}s  {totals[0]:4} passed {totals[1]:3} failed {totals[2]:3} ignored")
    if failed:
        print(f"--> [tests] FAILED: {', '.join(r[0] for r in failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
