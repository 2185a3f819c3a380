"""Governance's pure logic: the rules, their engine, the facts they read, the policy file,
least privilege, the review model.
"""
