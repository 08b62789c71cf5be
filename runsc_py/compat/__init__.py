"""Conformance scoring: run suites natively and sandboxed and compare."""
