"""Deploy: what runs mlrelease beyond one laptop, rendered from the project file.

Kubernetes and Argo Rollouts manifests (and GitOps commits of them), a Docker
Compose stack, a container image recipe, CI scaffolds, reports for pull requests,
and Grafana dashboards with Prometheus alerting rules. Every renderer is a pure
function of its inputs -- the same project gives the same bytes -- so the output
diffs cleanly in git; the CLI only writes what they return.
"""
