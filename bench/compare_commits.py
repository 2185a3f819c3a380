"""Every benchmark in bench/ on two commits, in alternating rounds, and a table per figure.

    .venv/bin/python bench/compare_commits.py --base 730e18a [--head HEAD] [--quick]
    make bench-compare BASE=730e18a [HEAD=house-move] [ARGS=--quick]

Each commit is checked out as a throwaway git worktree in a temporary directory and
installed into its own venv by its own ``make setup`` (the two set up side by side,
about a minute). Each benchmark then runs as a subprocess inside its commit's worktree,
with that commit's venv and its own copy of the script: import paths differ between
commits, so neither side runs the other's code.

The machine is shared, so the rounds alternate: in each round every benchmark runs for
both commits back to back, base first in odd rounds and head first in even ones, so drift
and neighbours' load land on both alike. Per figure the table gives each commit's median
over the rounds, the ratio head/base, and the noise: the larger of the two commits'
spreads between rounds ((max - min) / median). A ratio within the noise reads ``=``;
outside it, ``faster`` or ``SLOWER`` for the head, by whether the figure is a rate or a
time. Peers (figures named ``peer:``) are code that neither commit changes: their ratios
show how far the machine alone moved.

Sizes are cut down from each script's defaults (see ``bench/compare_figures.py``).
The default run (3 rounds) takes about 15 minutes; ``--quick`` (2 rounds, smaller
sizes) about 5; ``--only`` picks benchmarks; ``--postgres`` adds PostgreSQL runs to the
benchmarks that have them (shared database: noisier); ``--keep DIR`` keeps (and reuses)
worktrees, venvs and built stores in DIR; ``--json FILE`` writes every run's figures
as they come (``--report FILE`` prints the tables of such a file, of a run cut short too).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from compare_figures import BENCHES, Bench, Figure, arguments

REPO = Path(__file__).resolve().parents[1]
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"  # as the benchmarks have it


@dataclass
class Side:
    """One commit: its worktree, and every figure of every counted run."""

    label: str
    commit: str
    root: Path
    work: Path
    figures: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    higher: dict[str, dict[str, bool]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def python(self) -> Path:
        return self.root / ".venv" / "bin" / "python"


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def checkout(side: Side) -> None:
    """A detached worktree at the commit (reused if ``--keep`` left one there)."""
    if side.root.exists():
        current = subprocess.run(
            ["git", "-C", str(side.root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        if current == side.commit:
            return
        remove(side)
    git("worktree", "add", "--detach", str(side.root), side.commit)


def remove(side: Side) -> None:
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "remove", "--force", str(side.root)],
        capture_output=True,
    )
    shutil.rmtree(side.root, ignore_errors=True)
    git("worktree", "prune")


def set_up(sides: list[Side], python: str) -> None:
    """``make setup`` in every worktree at once (mostly pip waiting on I/O)."""
    started = time.perf_counter()
    running = []
    for side in sides:
        log = open(side.work / "setup.log", "wb")  # noqa: SIM115 - closed below
        process = subprocess.Popen(
            ["make", "-C", str(side.root), "setup", f"PYTHON={python}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=clean_env(),
        )
        running.append((side, process, log))
    for side, process, log in running:
        process.wait()
        log.close()
        if process.returncode:
            tail = (side.work / "setup.log").read_text()[-3000:]
            raise SystemExit(f"make setup failed for {side.label} ({side.commit[:9]}):\n{tail}")
    print(f"setup: both venvs ready in {time.perf_counter() - started:.0f} s", flush=True)


def clean_env(temp: Path | None = None) -> dict[str, str]:
    """This process's environment without what would point a child at the wrong tree;
    with ``temp``, the child's temporary files go there (some benchmarks leave theirs)."""
    drop = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CHARTER_HOME", "CHARTER_DATABASE_URL")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONUNBUFFERED"] = "1"
    if temp is not None:
        temp.mkdir(parents=True, exist_ok=True)
        env["TMPDIR"] = str(temp)
    return env


def run(
    side: Side, bench: Bench, args: list[str], timeout: float, log: str
) -> tuple[list[Figure], str]:
    """One run of one script in the side's worktree: its figures, or what went wrong.

    The run gets a session of its own, so a timeout ends the servers it started too; its
    output is kept in the side's ``logs`` directory.
    """
    process = subprocess.Popen(
        [str(side.python), bench.script, *args],
        cwd=side.root,
        env=clean_env(side.work / "tmp"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        stderr += f"\ntimed out after {timeout:.0f} s"
    finally:
        shutil.rmtree(side.work / "tmp", ignore_errors=True)
    logs = side.work / "logs"
    logs.mkdir(exist_ok=True)
    (logs / f"{log}.log").write_text(f"{' '.join(args)}\n\n{stdout}\n--- stderr\n{stderr}")
    if process.returncode:
        return [], f"exit {process.returncode}: {(stdout + stderr)[-2000:]}"
    figures = bench.parse(stdout)
    return figures, "" if figures else f"no figures in its output:\n{stdout[-2000:]}"


def drop_kept_schemas(side: Side) -> None:
    """PostgreSQL schemas that ``posture.py --keep`` left for reuse, dropped with the rest."""
    for saved in side.work.rglob("postgres.json"):
        schema = json.loads(saved.read_text()).get("schema")
        if not schema:
            continue
        code = (
            "import sqlalchemy as sa, sys\n"
            "engine = sa.create_engine(sys.argv[1])\n"
            "with engine.begin() as c:\n"
            "    c.execute(sa.text(f'DROP SCHEMA IF EXISTS \"{sys.argv[2]}\" CASCADE'))\n"
        )
        subprocess.run([str(side.python), "-c", code, PG, schema], capture_output=True)


def record(side: Side, bench: Bench, figures: list[Figure]) -> None:
    table = side.figures.setdefault(bench.name, {})
    directions = side.higher.setdefault(bench.name, {})
    for name, value, higher in figures:
        table.setdefault(name, []).append(value)
        directions[name] = higher


def spread(values: list[float]) -> float:
    middle = statistics.median(values)
    return (max(values) - min(values)) / abs(middle) if middle else 0.0


def verdict(ratio: float, noise: float, higher: bool, rounds: int) -> str:
    if rounds < 2 or not math.isfinite(ratio):
        return "?"  # one round has no spread to judge by; a zero base has no ratio
    if abs(ratio - 1) <= noise:
        return "="
    better = ratio > 1 if higher else ratio < 1
    return "faster" if better else "SLOWER"


def number(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if abs(value) >= 0.1 else f"{value:.3g}"


def report(base: Side, head: Side) -> dict[str, int]:
    """Print a table per benchmark; return how many figures fell in each verdict."""
    tally: dict[str, int] = {"=": 0, "faster": 0, "SLOWER": 0, "?": 0}
    speedups: list[float] = []
    cpu_speedups: list[float] = []  # CPU-time figures: other processes move them least
    for bench in BENCHES:
        ours, theirs = base.figures.get(bench.name, {}), head.figures.get(bench.name, {})
        names = [n for n in ours if n in theirs]
        if not names:
            continue
        width = max(48, *(len(n) for n in names))
        print(f"\n{bench.name} ({bench.script})")
        print(
            f"  {'figure':<{width}} {'base':>12} {'head':>12} {'head/base':>9} "
            f"{'noise ±':>8} {'rounds':>6}  verdict"
        )
        for name in names:
            b, h = ours[name], theirs[name]
            base_median, head_median = statistics.median(b), statistics.median(h)
            ratio = head_median / base_median if base_median else float("nan")
            noise = max(spread(b), spread(h))
            higher = head.higher[bench.name][name]
            rounds = min(len(b), len(h))
            result = verdict(ratio, noise, higher, rounds)
            if not name.startswith("peer:") and ": peer:" not in name and ratio > 0:
                tally[result] += 1
                speedups.append(ratio if higher else 1 / ratio)
                if "CPU" in name:
                    cpu_speedups.append(speedups[-1])
            print(
                f"  {name:<{width}} {number(base_median):>12} {number(head_median):>12} "
                f"{ratio:>9.3f} {noise:>8.1%} {rounds:>6}  {result}"
            )
    if speedups:
        geomean = statistics.geometric_mean(speedups)
        print(
            f"\nCharter's own figures (peers left out): {tally['=']} within the noise, "
            f"{tally['faster']} faster, {tally['SLOWER']} slower on the head; geometric mean "
            f"of head speed / base speed {geomean:.3f}"
        )
    if cpu_speedups:
        print(
            f"the {len(cpu_speedups)} CPU-time figures alone: geometric mean "
            f"{statistics.geometric_mean(cpu_speedups):.3f}"
        )
    return tally


def save(path: Path, sides: list[Side]) -> None:
    """Every figure so far (after each run, so an interrupted comparison keeps its rounds)."""
    document = {
        side.label: {"commit": side.commit, "figures": side.figures, "higher": side.higher}
        for side in sides
    }
    path.write_text(json.dumps(document, indent=1))


def load(path: Path) -> list[Side]:
    document = json.loads(path.read_text())
    return [
        Side(
            label,
            document[label]["commit"],
            Path(),
            Path(),
            document[label]["figures"],
            document[label]["higher"],
        )
        for label in ("base", "head")
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", help="commit-ish measured as the base (required)")
    parser.add_argument("--head", default="HEAD", help="commit-ish measured as the head")
    parser.add_argument("--rounds", type=int, default=None, help="default 3 (2 with --quick)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, 2 rounds: ~5 min")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--postgres", action="store_true", help="also run on PostgreSQL")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per run")
    parser.add_argument("--keep", type=Path, default=None, help="keep worktrees etc. in DIR")
    parser.add_argument("--json", type=Path, default=None, help="write every figure to FILE")
    parser.add_argument(
        "--report", type=Path, default=None, help="only print the tables of a --json FILE"
    )
    parser.add_argument("--python", default="python3", help="interpreter the venvs are made of")
    args = parser.parse_args()
    if args.report:
        base, head = load(args.report)
        print(f"== base {base.commit[:9]} vs head {head.commit[:9]} (from {args.report})")
        report(base, head)
        return
    if not args.base:
        parser.error("--base is required")
    rounds = args.rounds or (2 if args.quick else 3)
    chosen = [b for b in BENCHES if not args.only or b.name in args.only.split(",")]
    unknown = set(filter(None, args.only.split(","))) - {b.name for b in BENCHES}
    if unknown:
        raise SystemExit(f"unknown benchmarks: {', '.join(sorted(unknown))}")

    top = args.keep or Path(tempfile.mkdtemp(prefix="charter-bench-compare-"))
    top.mkdir(parents=True, exist_ok=True)
    sides = [
        Side(label, git("rev-parse", f"{ref}^{{commit}}"), top / label / "tree", top / label)
        for label, ref in (("base", args.base), ("head", args.head))
    ]
    started = time.perf_counter()
    try:
        for side in sides:
            side.work.mkdir(parents=True, exist_ok=True)
            checkout(side)
            subject = git("log", "-1", "--format=%h %s", side.commit)
            print(f"{side.label}: {subject[:100]}", flush=True)
        set_up(sides, args.python)
        print(
            f"{len(chosen)} benchmarks, {rounds} rounds, {'quick' if args.quick else 'full'} "
            f"sizes; load average {os.getloadavg()[0]:.1f}; cpus {os.cpu_count()}",
            flush=True,
        )
        for bench in chosen:
            if bench.prepare is None:
                continue
            for side in sides:
                wanted = arguments(bench, quick=args.quick, postgres=args.postgres, work=side.work)
                _, problem = run(
                    side, bench, [*wanted, *bench.prepare], args.timeout, f"{bench.name}-prepare"
                )
                print(f"  prepared {bench.name} for {side.label} {problem[:200]}", flush=True)
        for number in range(rounds):
            order = sides if number % 2 == 0 else sides[::-1]
            for bench in chosen:
                for side in order:
                    wanted = arguments(
                        bench, quick=args.quick, postgres=args.postgres, work=side.work
                    )
                    began = time.perf_counter()
                    figures, problem = run(
                        side, bench, wanted, args.timeout, f"{bench.name}-{number + 1}"
                    )
                    record(side, bench, figures)
                    if args.json:
                        save(args.json, sides)
                    if problem:
                        side.failures.append(f"round {number + 1} {bench.name}: {problem}")
                    print(
                        f"  round {number + 1}/{rounds} {bench.name:<12} {side.label}: "
                        f"{len(figures)} figures in {time.perf_counter() - began:.0f} s"
                        + (f"  !! {problem.splitlines()[0][:150]}" if problem else ""),
                        flush=True,
                    )
        base, head = sides
        print(
            f"\n== base {base.commit[:9]} vs head {head.commit[:9]}: medians of {rounds} "
            f"alternating rounds; load average at the end {os.getloadavg()[0]:.1f}; "
            f"{(time.perf_counter() - started) / 60:.1f} min in all"
        )
        report(base, head)
        for side in sides:
            for failure in side.failures:
                print(f"\n{side.label} failed: {failure}", file=sys.stderr)
    finally:
        if args.keep is None:
            for side in sides:
                if side.python.exists():
                    drop_kept_schemas(side)
                remove(side)
            shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
