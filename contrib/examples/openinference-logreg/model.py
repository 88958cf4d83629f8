"""A logistic regression in numpy, trained at start-up and served as ``classifier``.

``init_context`` fits the model once per worker on a synthetic two-class data set (four
features, seeded, so every worker and every run learns the same weights) and keeps the
weights in ``context.user_data``. ``handler`` gets ``features`` as a numpy array
(``tensors: numpy``) and returns two arrays: ``probability`` of class 1 and ``label``.
"""

import numpy as np

FEATURES = 4
_CENTERS = np.array([[-1.0, -0.5, 0.5, 1.0], [1.0, 0.5, -0.5, -1.0]])


def make_data(count, seed):
    """``count`` labelled points: features (float32, ``[count, 4]``) and labels (0 or 1)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, count)
    features = _CENTERS[labels] + rng.normal(0.0, 0.9, (count, FEATURES))
    return features.astype(np.float32), labels


def fit(features, labels, epochs=500, rate=0.5):
    """Weights and bias by batch gradient descent on the log loss."""
    weights = np.zeros(features.shape[1])
    bias = 0.0
    for _ in range(epochs):
        error = _sigmoid(features @ weights + bias) - labels
        weights -= rate * features.T @ error / len(labels)
        bias -= rate * error.mean()
    return weights.astype(np.float32), np.float32(bias)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def init_context(context):
    features, labels = make_data(4000, seed=0)
    weights, bias = fit(features, labels)
    accuracy = ((_sigmoid(features @ weights + bias) >= 0.5) == labels).mean()
    context.user_data.weights = weights
    context.user_data.bias = bias
    context.logger.info(f"classifier trained: training accuracy {accuracy:.3f}")


def handler(context, event):
    features = event.body["features"]  # float32 [n, 4], a read-only view of the request
    probability = _sigmoid(features @ context.user_data.weights + context.user_data.bias)
    return {
        "probability": probability.astype(np.float32),
        "label": (probability >= 0.5).astype(np.int64),
    }
