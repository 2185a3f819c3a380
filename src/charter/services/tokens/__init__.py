"""The security token service: signing keys at rest, enrolment, the ledger,
the token endpoint, revocation.
"""
