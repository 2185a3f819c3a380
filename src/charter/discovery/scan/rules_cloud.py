"""Detectors for cloud credentials: AWS, Google Cloud, Azure.

AWS access key ids are identifiers, not secrets; what makes one dangerous is
its secret access key nearby, so the detector looks around the key id for it
and raises the severity when it is there. A GCP service-account key file is
recognised as a whole (type, key id, private key) so its embedded PEM is one
finding, not two.
"""

from __future__ import annotations

import re

from charter.discovery.scan import checks
from charter.discovery.scan.detector import (
    REGISTRY,
    Detector,
    Refined,
    prefixed,
    revoke,
)
from charter.domain.enums import CredentialKind, Severity

_AWS_KEY_TYPES = {
    b"AKIA": "long-term access key",
    b"ASIA": "temporary (STS) access key",
    b"ABIA": "STS service bearer token",
    b"ACCA": "context-specific credential",
}
_AWS_SECRET_BY_KEYWORD = re.compile(
    rb"(?i)secret[_.\-]?(?:access)?[_.\-]?key[\"']?\s*(?:=|:=|:|=>|,)\s*[\"']?"
    rb"(?P<s>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
)
_AWS_SECRET_ADJACENT = re.compile(rb"[ \t,;:|\"']{1,4}(?P<s>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])")
_AWS_NEARBY = 2048


def _aws_secret_ok(candidate: bytes) -> bool:
    return (
        checks.shannon_entropy(candidate) >= 4.0
        and not checks.is_documented_example(candidate)
        and not checks.looks_placeholder(candidate)
        and any(c in b"0123456789/+" for c in candidate)
    )


def _aws_refine(detector: Detector, data: bytes, match: re.Match[bytes]) -> Refined | None:
    key_id = match.group("secret")
    if not detector.believable(key_id):
        return None
    found: bytes | None = None
    adjacent = _AWS_SECRET_ADJACENT.match(data, match.end())
    if adjacent and _aws_secret_ok(adjacent.group("s")):
        found = adjacent.group("s")
    else:
        lo, hi = max(0, match.start() - _AWS_NEARBY), min(len(data), match.end() + _AWS_NEARBY)
        candidates = [
            m for m in _AWS_SECRET_BY_KEYWORD.finditer(data, lo, hi) if _aws_secret_ok(m.group("s"))
        ]
        if candidates:
            nearest = min(candidates, key=lambda m: abs(m.start() - match.start()))
            found = nearest.group("s")
    key_type = _AWS_KEY_TYPES.get(key_id[:4], "access key")
    properties: dict[str, object] = {"key_type": key_type, "secret_nearby": found is not None}
    if found is not None:
        properties["secret_fingerprint"] = checks.sha256_hex(found)
        severity = Severity.CRITICAL if key_id.startswith(b"AKIA") else Severity.HIGH
    else:  # an id alone (an IAM export, a policy, a log) names a key; it cannot sign
        severity = Severity.INFO
    return Refined(key_id, key_id, match.start("secret"), match.end("secret"), properties, severity)


_GCP_TYPE = re.compile(rb'"type"\s*:\s*"service_account"')
_GCP_PEM = re.compile(
    rb'"private_key"\s*:\s*"-----BEGIN PRIVATE KEY-----(?:[A-Za-z0-9+/=\s]|\\[nr])+'
    rb'-----END PRIVATE KEY-----(?:\\n)?"'
)
_GCP_FIELD = re.compile(rb'"(?P<k>client_email|project_id)"\s*:\s*"(?P<v>[^"\\\s]{1,320})"')
_GCP_NEARBY = 8192


def _gcp_refine(detector: Detector, data: bytes, match: re.Match[bytes]) -> Refined | None:
    lo, hi = max(0, match.start() - _GCP_NEARBY), min(len(data), match.end() + _GCP_NEARBY)
    if not _GCP_TYPE.search(data, lo, hi):
        return None
    pem = _GCP_PEM.search(data, lo, hi)
    if pem is None:  # a key id without its key (a redacted sample) leaks nothing
        return None
    key_id = match.group("secret")
    properties: dict[str, object] = {}
    for field_match in _GCP_FIELD.finditer(data, lo, hi):
        name = field_match.group("k").decode()
        properties.setdefault(name, field_match.group("v").decode("utf-8", "replace"))
    return Refined(
        key_id,
        key_id,
        min(match.start(), pem.start()),
        max(match.end(), pem.end()),
        properties,
        anchor=match.start("secret"),
    )


REGISTRY.add(
    Detector(
        id="aws-access-key",
        title="AWS access key",
        provider="AWS",
        system="aws",
        kind=CredentialKind.ACCESS_KEY,
        severity=Severity.CRITICAL,
        prefilter="(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}",
        pattern=r"(?<![A-Za-z0-9/+])(?P<secret>(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})"
        r"(?![A-Za-z0-9/+])",
        prefixes=("AKIA", "ASIA", "ABIA", "ACCA"),
        description="An AWS access key id; critical when its secret access key is within "
        "2 KB (same line, or a secret_access_key assignment), which is a working credential; "
        "info when the id stands alone (an identifier, not a secret).",
        remediation=revoke("AWS IAM (deactivate, then delete the access key)")
        + " Prefer IAM roles and short-lived STS credentials.",
        references=(
            "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html"
            "#identifiers-unique-ids",
            "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html",
        ),
        owasp=("NHI2", "NHI7"),
        refine=_aws_refine,
        window_after=64,
    ),
    Detector(
        id="gcp-service-account-key",
        title="Google Cloud service account key file",
        provider="Google Cloud",
        system="gcp",
        kind=CredentialKind.PRIVATE_KEY,
        severity=Severity.CRITICAL,
        prefilter=r'"private_key_id"\s*:\s*"[a-f0-9]{40}"',
        pattern=r'"private_key_id"\s*:\s*"(?P<secret>[a-f0-9]{40})"',
        prefixes=(),
        description="A Google Cloud service account JSON key (type service_account, "
        "private_key_id, private_key): authenticates as the service account until deleted.",
        remediation=revoke("Google Cloud IAM (Service accounts → Keys → delete)")
        + " Prefer workload identity federation over key files.",
        references=("https://cloud.google.com/iam/docs/keys-create-delete",),
        owasp=("NHI2", "NHI7"),
        refine=_gcp_refine,
        window_after=128,
        priority=10,
    ),
    Detector(
        id="azure-client-secret",
        title="Microsoft Entra ID (Azure AD) client secret",
        provider="Azure",
        system="azure",
        kind=CredentialKind.CLIENT_SECRET,
        severity=Severity.HIGH,
        prefilter=r"[0-9]Q~[A-Za-z0-9_~.\-]{12}",
        pattern=r"(?<![A-Za-z0-9_~.\-])(?P<secret>[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.\-]{31,34})"
        r"(?![A-Za-z0-9_~.\-])",
        prefixes=(),
        description="An Entra ID application client secret (xxx8Q~…): signs in as the "
        "application with every permission it was granted.",
        remediation=revoke("Entra ID (App registrations → Certificates & secrets)")
        + " Prefer certificates or federated credentials.",
        references=("https://learn.microsoft.com/en-us/purview/sit-defn-azure-ad-client-secret",),
        owasp=("NHI2", "NHI7"),
        window_before=8,
        window_after=64,
        min_entropy=3.0,
    ),
    Detector(
        id="azure-storage-account-key",
        title="Azure storage account key",
        provider="Azure",
        system="azure",
        kind=CredentialKind.ACCESS_KEY,
        severity=Severity.CRITICAL,
        prefilter="AccountKey=",
        pattern=r"AccountKey=(?P<secret>[A-Za-z0-9+/]{86}==)(?![A-Za-z0-9+/=])",
        prefixes=(),
        description="An Azure storage account key in a connection string: full control of "
        "the account's blobs, queues and tables.",
        remediation=revoke("the Azure portal (Storage account → Access keys → rotate)"),
        references=(
            "https://learn.microsoft.com/en-us/azure/storage/common/storage-account-keys-manage",
        ),
        owasp=("NHI2", "NHI7"),
        window_after=128,
        min_entropy=4.0,
    ),
    prefixed(
        id="google-oauth-client-secret",
        title="Google OAuth client secret",
        provider="Google",
        system="google",
        prefixes=("GOCSPX-",),
        body="[A-Za-z0-9_-]{28}",
        kind=CredentialKind.CLIENT_SECRET,
        description="A Google OAuth 2.0 client secret (GOCSPX-): impersonates the OAuth "
        "client to users.",
        remediation=revoke("Google Cloud console (APIs & Services → Credentials)"),
        references=("https://developers.google.com/identity/protocols/oauth2",),
    ),
)
