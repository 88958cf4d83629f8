"""Fixtures of this distribution's tests: ``dh_sink_function`` comes from ``dh_serverless.testing``."""
