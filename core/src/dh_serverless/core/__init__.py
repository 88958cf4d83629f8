"""dh-serverless core: configuration, function contract, workers, plugin host, CLI."""
