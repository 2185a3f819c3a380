"""The token protocols' pure code, one module per RFC: JWK/JWS, client assertions, DPoP,
token exchange, scopes, requests, metadata, errors.
"""
