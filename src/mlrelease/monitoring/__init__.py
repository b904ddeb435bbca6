"""Monitoring: drift against a version's reference profile, live performance from labels,
retrain triggers, and the retraining they start."""
