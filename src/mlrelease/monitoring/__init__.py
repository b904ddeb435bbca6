"""Monitoring: drift against a version's reference profile, live performance from labels, retrain triggers."""  # noqa: E501
