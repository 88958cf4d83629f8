"""dh-trigger-openinference: serve a function as a model over the Open Inference Protocol."""
