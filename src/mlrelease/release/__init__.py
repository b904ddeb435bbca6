"""Progressive releases: a new version reaches an environment step by step.

It owns the release state machine (phases and their allowed transitions), the
controller that advances releases one idempotent tick at a time, the analysis
that compares the new version with the stable one on live evidence, and the
routers that carry each step's traffic split (in-process, or NGINX).
"""
