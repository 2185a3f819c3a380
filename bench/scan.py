"""Secret-scanner benchmark: Charter against detect-secrets on the same corpus.

Generates a corpus (default 200 MB) of realistic source, config, ``.env``,
notebook-free text and a large log file, plants fake credentials of every
type Charter detects in the contexts code really uses, adds decoys that must
not be reported (UUIDs, hashes, base64 blobs, documented example keys,
placeholders, a GitHub-shaped token with a bad checksum), writes an answer
key, then runs both scanners end to end as a user would and prints MB/s,
recall and precision for each.

    python bench/scan.py                       # 200 MB, Charter with 1 job, then 2
    python bench/scan.py --size-mb 20 --peer-size-mb 5
    python bench/scan.py --size-mb 2 --skip-peer   # smoke run (tests)

Matching is by (file, line): a finding on a planted line (or inside a planted
multi-line block) is a true positive, once per planted secret; any other
reported (file, line) is a false positive. Both tools are judged the same way.

Throughput is printed twice: per wall-clock second, and per CPU second (user +
system time of the scanner's processes, from ``getrusage``), which stays
meaningful on a shared machine where other work competes for the cores.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from charter.discovery.scan.detectors import all_detectors
from charter.discovery.scan.samples import Sample, sample

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "out" / "scan-corpus"
PYTHON = Path(sys.executable)

# -- filler: lines that look like real code and config ----------------------------------
_WORDS = [
    "user",
    "order",
    "invoice",
    "account",
    "session",
    "token",
    "cache",
    "queue",
    "worker",
    "agent",
    "tool",
    "model",
    "prompt",
    "message",
    "channel",
    "repo",
    "issue",
    "ticket",
    "payment",
    "report",
    "metric",
    "event",
    "config",
    "client",
    "server",
    "request",
    "response",
    "handler",
    "router",
    "service",
    "store",
    "record",
    "batch",
    "export",
    "index",
    "vector",
]


def _ident(rng: random.Random) -> str:
    return "_".join(rng.sample(_WORDS, 2))


def _python_line(rng: random.Random) -> str:
    a, b = _ident(rng), _ident(rng)
    return rng.choice(
        [
            f"    {a} = {b}.get('{rng.choice(_WORDS)}', {rng.randint(0, 999)})",
            f"def {a}(self, {b}: str) -> dict[str, int]:",
            f'    """Return the {rng.choice(_WORDS)} for this {rng.choice(_WORDS)}."""',
            f"    if not {a}: raise ValueError('{b} is required')",
            f"from .{rng.choice(_WORDS)} import {a.title().replace('_', '')}",
            f"    logger.info('processed %s {rng.choice(_WORDS)}s', len({b}))",
            f"    return [{a} for {a} in {b} if {a}.{rng.choice(_WORDS)}]",
            f"# TODO({rng.choice(_WORDS)}): handle the {rng.choice(_WORDS)} edge case",
            f'    request_id = "{uuid.UUID(int=rng.getrandbits(128))}"',
        ]
    )


def _js_line(rng: random.Random) -> str:
    a, b = _ident(rng), _ident(rng)
    return rng.choice(
        [
            f"  const {a} = await {b}.fetch('/{rng.choice(_WORDS)}s/' + id);",
            f"export function {a}({b}) {{ return {b}.map((x) => x.{rng.choice(_WORDS)}); }}",
            f"  if (!{a}) throw new Error('{b} missing');",
            f"import {{ {a} }} from './{rng.choice(_WORDS)}';",
            f"  // {rng.choice(_WORDS)}: keep in sync with the {rng.choice(_WORDS)} schema",
            f"  {a}.set('{rng.choice(_WORDS)}', {rng.randint(0, 10_000)});",
        ]
    )


def _yaml_line(rng: random.Random) -> str:
    return rng.choice(
        [
            f"  {rng.choice(_WORDS)}_{rng.choice(_WORDS)}: {rng.randint(1, 500)}",
            f"    - name: {rng.choice(_WORDS)}-{rng.choice(_WORDS)}",
            "      image: "
            f"registry.internal/{rng.choice(_WORDS)}:{rng.randint(1, 9)}.{rng.randint(0, 20)}",
            f"  enabled: {rng.choice(['true', 'false'])}",
            f"  sha: {rng.getrandbits(160):040x}",
        ]
    )


def _json_line(rng: random.Random) -> str:
    return rng.choice(
        [
            f'    "{rng.choice(_WORDS)}": {rng.randint(0, 100_000)},',
            f'    "{rng.choice(_WORDS)}_id": "{uuid.UUID(int=rng.getrandbits(128))}",',
            f'    "checksum": "{rng.getrandbits(256):064x}",',
            f'    "integrity": "sha512-{base64.b64encode(rng.randbytes(64)).decode()}",',
            f'    "label": "{" ".join(rng.sample(_WORDS, 3))}",',
        ]
    )


def _text_line(rng: random.Random) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(6, 16))).capitalize() + "."


def _log_line(rng: random.Random) -> str:
    return (
        f"2026-11-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z "
        f"INFO {rng.choice(_WORDS)} id={uuid.UUID(int=rng.getrandbits(128))} "
        f"ms={rng.randint(1, 900)} blob={base64.b64encode(rng.randbytes(24)).decode()}"
    )


KINDS = {
    "py": _python_line,
    "ts": _js_line,
    "js": _js_line,
    "yaml": _yaml_line,
    "json": _json_line,
    "md": _text_line,
    "env": None,
    "log": _log_line,
    "toml": _yaml_line,
}


def _pool(rng: random.Random, make: object, n: int = 4000) -> list[str]:
    return [make(rng) for _ in range(n)]  # type: ignore[operator]


# -- planting --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Planted:
    path: str
    line_start: int
    line_end: int
    detector: str
    fingerprint: str


def _context(rng: random.Random, kind: str, credential: Sample) -> str:
    if credential.multiline:
        return credential.text
    env, token = credential.env, credential.token
    keyworded = {
        "env": [f"{env}={token}", f"export {env}='{token}'"],
        "py": [f'{env} = "{token}"', f'os.environ["{env}"] = "{token}"'],
        "ts": [f'const {env} = "{token}";', f"process.env.{env} = '{token}';"],
        "js": [f'  {env}: "{token}",'],
        "yaml": [f"  {env.lower()}: {token}", f'  {env}: "{token}"'],
        "toml": [f'{env.lower()} = "{token}"'],
        "json": [f'    "{env}": "{token}",'],
        "md": [f"    export {env}={token}"],
        "log": [f"DEBUG loaded {env}={token}"],
    }[kind]
    if credential.needs_keyword:
        return rng.choice(keyworded)
    anywhere = {
        "py": [
            f'client = Client(api_key="{token}")',
            f'session.headers["Authorization"] = "Bearer {token}"',
        ],
        "ts": [
            f"const client = new Client({{ apiKey: '{token}' }});",
            f"headers: {{ Authorization: `Bearer {token}` }},",
        ],
        "js": [f"  apiKey: '{token}',"],
        "md": [f'    curl -H "Authorization: Bearer {token}" https://api.internal.example/v1'],
    }.get(kind, [])
    return rng.choice(keyworded + anywhere)


def _decoys(rng: random.Random) -> list[str]:
    valid = sample("github-pat", rng).token
    bad_checksum = valid[:-1] + ("Q" if valid[-1] != "Q" else "R")  # shape right, checksum wrong
    return [
        f'trace_id = "{uuid.uuid4()}"',
        f"commit: {rng.getrandbits(160):040x}",
        f'    "sha256": "{rng.getrandbits(256):064x}",',
        f'    "data": "{base64.b64encode(rng.randbytes(96)).decode()}",',
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "OPENAI_API_KEY=sk-proj-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "ANTHROPIC_API_KEY=<your-anthropic-api-key>",
        'api_key = os.environ["OPENAI_API_KEY"]',
        "SLACK_BOT_TOKEN=${SLACK_BOT_TOKEN}",
        "DATABASE_URL=postgresql://user:password@localhost:5432/app",
        "stripe.api_key = 'sk_test_4eC39HqLyjWDarjtT1zdp7dc'",
        "SLACK_WEBHOOK=https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
        "token = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6Ikpva"
        "G4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c'",
        f"GH_TOKEN_FIXTURE={bad_checksum}",
        "MISTRAL_MODEL=mistral-large-latest",
        f"cache_key = '{rng.getrandbits(128):032x}'",
    ]


def generate(out: Path, size_mb: float, seed: int) -> tuple[list[Planted], int]:
    """Write the corpus and answer key; returns (planted, bytes)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    rng = random.Random(seed)
    detectors = [d.id for d in all_detectors()]
    pools = {k: _pool(rng, f) for k, f in KINDS.items() if f is not None}
    target = int(size_mb * 1_000_000)
    written = 0
    planted: list[Planted] = []
    index = 0
    big_log = target >= 50_000_000
    while written < target:
        kind = rng.choices(
            ["py", "ts", "js", "yaml", "json", "md", "env", "toml"], [30, 15, 10, 10, 15, 10, 5, 5]
        )[0]
        if big_log and index == 0:
            kind, n_lines = "log", 400_000  # one ~60 MB file: streamed, not slurped
        else:
            n_lines = 8 if kind == "env" else rng.randint(40, 1200)
        folder = f"repo{index % 40:02d}/{rng.choice(['src', 'app', 'config', 'scripts', 'docs'])}"
        name = f".env.{index}" if kind == "env" else f"{_ident(rng)}_{index}.{kind}"
        relative = f"{folder}/{name}"
        pool = pools.get(kind, pools["yaml"])
        lines: list[str] = []
        n_secrets = 1 if kind == "env" else rng.choice([0, 0, 1, 1, 2, 3])
        secret_at = sorted(rng.sample(range(n_lines), min(n_secrets, n_lines)))
        decoy_at = set(rng.sample(range(n_lines), min(2, n_lines)))
        for i in range(n_lines):
            if secret_at and i == secret_at[0]:
                secret_at.pop(0)
                credential = sample(rng.choice(detectors), rng)
                text = _context(rng, "log" if kind == "log" else kind, credential)
                start = len(lines) + 1
                lines.extend(text.split("\n"))
                fingerprint = hashlib.sha256(credential.secret.encode()).hexdigest()
                planted.append(
                    Planted(relative, start, len(lines), credential.detector, fingerprint)
                )
            elif i in decoy_at:
                lines.append(rng.choice(_decoys(rng)))
            elif kind == "env":
                variable = f"{rng.choice(_WORDS).upper()}_{rng.choice(_WORDS).upper()}"
                lines.append(f"{variable}={rng.randint(1, 99)}")
            else:
                lines.append(rng.choice(pool))
        data = ("\n".join(lines) + "\n").encode()
        (out / folder).mkdir(parents=True, exist_ok=True)
        (out / relative).write_bytes(data)
        written += len(data)
        index += 1
    key = {
        "seed": seed,
        "size_mb": size_mb,
        "bytes": written,
        "planted": [asdict(p) for p in planted],
    }
    (out.parent / f"{out.name}.answers.json").write_text(json.dumps(key))
    return planted, written


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
    tool: str,
    seconds: float,
    size: int,
    planted: list[Planted],
    reported: set[tuple[str, int]],
    note: str = "",
    cpu: float = 0.0,
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
        seconds,
        size / 1e6,
        len(matched),
        len(planted),
        len(reported),
        false_positives,
        note,
        cpu,
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_charter(
    corpus: Path, jobs: int, engine: str | None
) -> tuple[float, set[tuple[str, int]], str]:
    report = corpus.parent / f"{corpus.name}.charter.json"
    command = [
        str(PYTHON),
        "-m",
        "charter.cli.discover_fs",
        str(corpus),
        "--format",
        "json",
        "--output",
        str(report),
        "--no-record",
        "--jobs",
        str(jobs),
    ]
    if engine:
        command += ["--engine", engine]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"charter failed ({done.returncode}): {done.stderr[-2000:]}")
    document = json.loads(report.read_text())
    reported = {(f["path"], f["line"]) for f in document["findings"]}
    return seconds, reported, document["engine"]


def run_detect_secrets(corpus: Path) -> tuple[float, set[tuple[str, int]]]:
    binary = PYTHON.with_name("detect-secrets")
    started = time.perf_counter()
    done = subprocess.run(
        [str(binary), "scan", "--all-files", "."],
        cwd=corpus,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"detect-secrets failed: {done.stderr[-2000:]}")
    results = json.loads(done.stdout)["results"]
    reported = {(path, item["line_number"]) for path, items in results.items() for item in items}
    return seconds, reported


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--size-mb", type=float, default=200.0)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="Charter runs")
    parser.add_argument("--engine", choices=["hyperscan", "re2", "re"], default=None)
    parser.add_argument("--skip-peer", action="store_true", help="do not run detect-secrets")
    parser.add_argument(
        "--peer-size-mb",
        type=float,
        default=None,
        help="run detect-secrets on the first N MB only (it is slow)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    started = time.perf_counter()
    planted, size = generate(args.out, args.size_mb, args.seed)
    print(
        f"corpus: {size / 1e6:.1f} MB, {sum(1 for _ in args.out.rglob('*') if _.is_file())} files, "
        f"{len(planted)} planted secrets of {len({p.detector for p in planted})} types "
        f"(generated in {time.perf_counter() - started:.1f} s) at {args.out}"
    )
    scores: list[Score] = []
    for jobs in args.jobs:
        cpu = _children_cpu()
        seconds, reported, engine = run_charter(args.out, jobs, args.engine)
        cpu = _children_cpu() - cpu
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        scores.append(
            score(
                f"charter --jobs {jobs}",
                seconds,
                size,
                planted,
                reported,
                f"{engine}; peak RSS {peak:.0f} MB",
                cpu,
            )
        )
    if not args.skip_peer:
        corpus, peer_planted, peer_size = args.out, planted, size
        if args.peer_size_mb and args.peer_size_mb * 1e6 < size:
            corpus, peer_planted, peer_size = _subset(args.out, planted, args.peer_size_mb)
        cpu = _children_cpu()
        seconds, reported = run_detect_secrets(corpus)
        cpu = _children_cpu() - cpu
        note = "detect-secrets 1.5, all plugins, its default processes"
        scores.append(
            score("detect-secrets", seconds, peer_size, peer_planted, reported, note, cpu)
        )
    print(
        f"\n{'tool':<20} {'MB':>7} {'wall s':>8} {'MB/s':>7} {'cpu s':>8} {'MB/cpu-s':>9} "
        f"{'recall':>8} {'precision':>10} {'found/planted':>14} {'FP':>6}  note"
    )
    for s in scores:
        print(
            f"{s.tool:<20} {s.megabytes:>7.1f} {s.seconds:>8.2f} {s.mb_per_s:>7.1f} "
            f"{s.cpu_seconds:>8.2f} {s.mb_per_cpu_s:>9.1f} {s.recall:>8.2%} {s.precision:>10.2%} "
            f"{s.found:>6}/{s.planted:<7} {s.false_positives:>6}  {s.note}"
        )
    load = os.getloadavg()[0]
    print(
        f"\ncpus: {os.cpu_count()}; load average at the end: {load:.1f}; "
        f"python {sys.version.split()[0]}"
    )
    if args.json:
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
