"""Charter's version, in a module that imports nothing.

Every layer prints it (the console footer, SARIF and OCSF exports, the
gateway's server info), so it lives apart from the root package, whose lazy
``charter.decide`` reaches the decision service.
"""

__version__ = "0.1.0"
