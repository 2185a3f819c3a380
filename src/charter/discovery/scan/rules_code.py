"""Detectors for code hosts and package registries: GitHub, GitLab, npm, PyPI.

GitHub's and npm's new-format tokens carry a checksum (the last six characters
are the base62 CRC32 of the thirty random ones), so a string that merely has
the shape is rejected: that is what keeps these detectors' precision at 100%.
"""

from __future__ import annotations

from functools import partial

from charter.discovery.scan import checks
from charter.discovery.scan.detector import REGISTRY, prefixed, revoke
from charter.domain.enums import CredentialKind, Severity

_B62 = "[A-Za-z0-9]"
_GITHUB_DOCS = (
    "https://github.blog/engineering/platform-security/behind-githubs-new-authentication-token-formats/",
    "https://docs.github.com/en/authentication/keeping-your-account-and-data-secure/about-authentication-to-github#githubs-token-formats",
)
_GITHUB_CLASSIC = {
    "ghp_": (
        "github-pat",
        "GitHub personal access token (classic)",
        Severity.HIGH,
        "acts as the user with the token's scopes on every repository they can reach",
    ),
    "gho_": (
        "github-oauth-token",
        "GitHub OAuth access token",
        Severity.HIGH,
        "acts as the user who authorised the OAuth app",
    ),
    "ghu_": (
        "github-user-token",
        "GitHub App user-to-server token",
        Severity.HIGH,
        "acts as a user through a GitHub App",
    ),
    "ghs_": (
        "github-app-token",
        "GitHub App installation token",
        Severity.HIGH,
        "acts as a GitHub App installation (expires after an hour)",
    ),
    "ghr_": (
        "github-refresh-token",
        "GitHub refresh token",
        Severity.HIGH,
        "mints new user-to-server tokens",
    ),
}

for _prefix, (_id, _title, _severity, _reach) in _GITHUB_CLASSIC.items():
    REGISTRY.add(
        prefixed(
            id=_id,
            title=_title,
            provider="GitHub",
            system="github",
            prefixes=(_prefix,),
            body=f"{_B62}{{36}}",
            prefilter=f"{_prefix}{_B62}{{36}}",
            kind=CredentialKind.TOKEN,
            severity=_severity,
            description=f"A {_title} ({_prefix} + 30 random + 6-character CRC32 checksum, "
            f"verified): {_reach}.",
            remediation=revoke("GitHub settings (Developer settings → tokens), or the app"),
            references=_GITHUB_DOCS,
            check=partial(checks.crc32_base62_ok, prefix_len=4),
        )
    )

REGISTRY.add(
    prefixed(
        id="github-fine-grained-pat",
        title="GitHub fine-grained personal access token",
        provider="GitHub",
        system="github",
        prefixes=("github_pat_",),
        body=f"{_B62}{{22}}_{_B62}{{59}}",
        kind=CredentialKind.TOKEN,
        description="A GitHub fine-grained personal access token (github_pat_ + 22 + _ + 59).",
        remediation=revoke("GitHub settings (Developer settings → Fine-grained tokens)"),
        references=_GITHUB_DOCS,
    ),
    prefixed(
        id="gitlab-pat",
        title="GitLab personal access token",
        provider="GitLab",
        system="gitlab",
        prefixes=("glpat-",),
        body=r"(?:[A-Za-z0-9_-]{27,300}\.[0-9a-z]{9}|[A-Za-z0-9_-]{20})",
        kind=CredentialKind.TOKEN,
        description="A GitLab personal access token (glpat- + 20, or the routable format "
        "glpat-….<9>): API, repository and registry access as the user.",
        remediation=revoke("GitLab (User settings → Access tokens)"),
        references=("https://docs.gitlab.com/security/tokens/#token-prefixes",),
        min_entropy=3.0,
    ),
    prefixed(
        id="gitlab-pipeline-trigger-token",
        title="GitLab pipeline trigger token",
        provider="GitLab",
        system="gitlab",
        prefixes=("glptt-",),
        body="[a-f0-9]{40}",
        kind=CredentialKind.TOKEN,
        severity=Severity.MEDIUM,
        description="A GitLab pipeline trigger token (glptt- + 40 hex): starts pipelines.",
        remediation=revoke("GitLab (Settings → CI/CD → Pipeline trigger tokens)"),
        references=("https://docs.gitlab.com/security/tokens/#token-prefixes",),
    ),
    prefixed(
        id="gitlab-runner-token",
        title="GitLab runner authentication token",
        provider="GitLab",
        system="gitlab",
        prefixes=("glrt-",),
        body=r"(?:t[0-9]_[A-Za-z0-9_-]{27,300}\.[0-9a-z]{9}|[A-Za-z0-9_-]{20})",
        kind=CredentialKind.TOKEN,
        description="A GitLab runner authentication token (glrt-): picks up CI jobs and "
        "their secrets.",
        remediation=revoke("GitLab (Settings → CI/CD → Runners; reset the token)"),
        references=("https://docs.gitlab.com/security/tokens/#token-prefixes",),
        min_entropy=3.0,
    ),
    prefixed(
        id="gitlab-deploy-token",
        title="GitLab deploy token",
        provider="GitLab",
        system="gitlab",
        prefixes=("gldt-",),
        body="[A-Za-z0-9_-]{20}",
        kind=CredentialKind.TOKEN,
        severity=Severity.MEDIUM,
        description="A GitLab deploy token (gldt-): reads repositories and registries.",
        remediation=revoke("GitLab (Settings → Repository → Deploy tokens)"),
        references=("https://docs.gitlab.com/security/tokens/#token-prefixes",),
        min_entropy=3.0,
    ),
    prefixed(
        id="npm-access-token",
        title="npm access token",
        provider="npm",
        system="npm",
        prefixes=("npm_",),
        body=f"{_B62}{{36}}",
        prefilter=f"npm_{_B62}{{36}}",
        kind=CredentialKind.TOKEN,
        description="An npm access token (npm_ + 30 random + CRC32 checksum, verified): "
        "publishes packages as the user — a supply-chain risk.",
        remediation=revoke("npmjs.com (Access Tokens)"),
        references=("https://github.blog/changelog/2021-09-23-npm-has-a-new-access-token-format/",),
        check=partial(checks.crc32_base62_ok, prefix_len=4),
    ),
    prefixed(
        id="pypi-upload-token",
        title="PyPI API token",
        provider="PyPI",
        system="pypi",
        prefixes=("pypi-AgEIcHlwaS5vcmc",),
        body="[A-Za-z0-9_-]{50,300}",
        kind=CredentialKind.TOKEN,
        description="A PyPI API token (a macaroon for pypi.org): uploads releases.",
        remediation=revoke("pypi.org (Account settings → API tokens)"),
        references=("https://pypi.org/help/#apitoken",),
        window_after=400,
    ),
)
