"""Shared Signals (OpenID SSF 1.0): streams, the SET outbox, and SETs received from an IdP."""
