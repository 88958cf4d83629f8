"""pytest fixtures for testing Nuclio handlers and dh-serverless plugins (auto-loaded)."""
