"""The secret-scanner benchmark's corpus: realistic files, planted secrets, decoys.

Source, config, ``.env``, Markdown and a large log file (from 50 MB up), with fake
credentials of every type Charter detects planted in the contexts code really uses,
decoys that must not be reported (UUIDs, hashes, base64 blobs, documented example
keys, placeholders, a GitHub-shaped token with a bad checksum), and an answer key.
Used by ``bench/scan.py``; deterministic for a seed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import shutil
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from charter.discovery.scan.detectors import all_detectors
from charter.discovery.scan.samples import Sample, sample

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
