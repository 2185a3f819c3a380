"""Governance use cases: finding runs, reviews, rotation, decommissioning, JIT, departures,
tasks, notices; each with its transactions.
"""
