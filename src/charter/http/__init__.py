"""HTTP plumbing shared by the API and the console: security middleware and dependencies,
problem details, input limits.
"""
