"""The data plane: an ASGI app that serves a model's environment.

One process holds the stable, canary and shadow versions of its environment in
memory, splits traffic per request, validates every request against the
version's signature, batches concurrent requests into one model call, exposes
Prometheus metrics and appends to the prediction log off the request path. It
speaks ``POST /predict`` and the Open Inference Protocol v2.
"""
