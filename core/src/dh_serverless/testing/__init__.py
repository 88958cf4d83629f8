"""Helpers to test Nuclio handlers and dh-serverless plugins."""
