"""Fixtures of these tests: ``dh_sink_function`` comes from ``dh_serverless.testing``."""
