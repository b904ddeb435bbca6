"""CI scaffolds: GitHub Actions workflows and a pre-commit config for an mlrelease project.

:func:`render_github` returns, by path relative to the project's folder:

    .github/workflows/ci.yml      lint and tests: mlrelease validate, ruff, mypy, pytest
    .github/workflows/model.yml   the model's way to production:
        train-and-gate      pull_request: `mlrelease run` (a refused gate fails the job,
                            which blocks the merge once the check is required), then
                            `mlrelease report ... --format markdown` posted as ONE pull
                            request comment, found again by its hidden marker and updated
        promote-<env>       push to main, release published: the version the commit
                            registered (`mlrelease run` reuses it when nothing changed)
                            goes to each environment between the first and the last
        promote-<last>      the same, in the GitHub environment of that name, whose
                            required reviewers GitHub asks before the job runs
    .pre-commit-config.yaml       ruff (lint, format) and mypy hooks

Secrets reach mlrelease as environment variables of the steps that run it, never
of the others (github-script, checkout), and are never printed; the refusal
comment links to the job's log (where GitHub masks them) instead of quoting it.
Permissions are read-only but for ``pull-requests: write`` on the one job that
comments. Actions are pinned to major versions. Same options, same bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlrelease.deploy.container import requirement
from mlrelease.errors import ConfigError
from mlrelease.names import validate_name

__all__ = [
    "ACTIONS",
    "MARKER",
    "TOOLS",
    "CiOptions",
    "render_github",
]

MARKER = "<!-- mlrelease-report -->"  # the first line of `mlrelease report`'s Markdown
# Major versions that run on Node 24: GitHub scheduled Node 20 (checkout@v4,
# setup-python@v5, github-script@v7, upload-artifact@v4) for removal in September 2026.
ACTIONS = {
    "checkout": "actions/checkout@v5",
    "setup-python": "actions/setup-python@v6",
    "github-script": "actions/github-script@v8",
    "upload-artifact": "actions/upload-artifact@v6",
}
TOOLS = {"ruff": "0.17.6", "mypy": "2.4.1", "pytest": "9.2.0"}  # CI and pre-commit agree
SECRETS = ("MLRELEASE_DB", "MLRELEASE_ARTIFACTS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")

_PYTHON = re.compile(r"3\.\d{1,2}")
_BRANCH = re.compile(r"[A-Za-z0-9._/-]{1,100}")


@dataclass(frozen=True)
class CiOptions:
    model: str
    environments: tuple[str, ...]  # in promotion order; the first is what `mlrelease run` feeds
    project_file: str = "mlrelease.yaml"  # path from the repository's root
    python: str = "3.11"
    branch: str = "main"
    extras: tuple[str, ...] = ("postgres", "s3", "report")  # shared stores, report plots

    def __post_init__(self) -> None:
        validate_name(self.model, what="model name")
        for name in self.environments:
            validate_name(name, what="environment name")
        if len(self.environments) < 2:
            raise ConfigError(
                "the model workflow promotes after `mlrelease run`; the project needs at "
                "least two environments (e.g. dev -> production)"
            )
        if not _PYTHON.fullmatch(self.python):
            raise ConfigError(f"python: {self.python!r} is not MAJOR.MINOR, e.g. 3.11")
        if not _BRANCH.fullmatch(self.branch):
            raise ConfigError(f"branch: {self.branch!r} is not a branch name")
        if not re.fullmatch(r"[A-Za-z0-9._/-]+", self.project_file) or ".." in self.project_file:
            raise ConfigError(
                f"{self.project_file!r}: give the project file's path from the repository's "
                "root, letters, digits, '.', '_', '-' and '/'"
            )

    @property
    def production(self) -> str:
        return self.environments[-1]

    @property
    def between(self) -> tuple[str, ...]:
        """Environments a merge promotes to without a reviewer: after the first, before the last."""
        return self.environments[1:-1]


def render_github(options: CiOptions) -> dict[str, str]:
    """The files, by path from the project's folder."""
    return {
        ".github/workflows/ci.yml": _fill(_CI, options),
        ".github/workflows/model.yml": _model_workflow(options),
        ".pre-commit-config.yaml": _fill(_PRE_COMMIT, options),
    }


def _fill(template: str, options: CiOptions, **extra: str) -> str:
    values = {
        "@MODEL@": options.model,
        "@FILE@": options.project_file,
        "@PYTHON@": options.python,
        "@BRANCH@": options.branch,
        "@REQUIREMENT@": requirement(options.extras),
        "@PRODUCTION@": options.production,
        "@FIRST@": options.environments[0],
        "@MARKER@": MARKER,
        "@CHECKOUT@": ACTIONS["checkout"],
        "@SETUP_PYTHON@": ACTIONS["setup-python"],
        "@GITHUB_SCRIPT@": ACTIONS["github-script"],
        "@UPLOAD@": ACTIONS["upload-artifact"],
        "@RUFF@": TOOLS["ruff"],
        "@MYPY@": TOOLS["mypy"],
        "@PYTEST@": TOOLS["pytest"],
        "@SECRETS@": _secrets_env(),
        **extra,
    }
    for key, value in values.items():
        template = template.replace(key, value)
    return template


def _secrets_env() -> str:
    """The env: block of a step that runs mlrelease (indented for a step)."""
    lines = ["        env:"]
    lines += [f"          {name}: ${{{{ secrets.{name} }}}}" for name in SECRETS]
    return "\n".join(lines)


def _model_workflow(options: CiOptions) -> str:
    jobs: list[str] = []
    previous = None
    for environment in options.between:
        jobs.append(_promote_job(options, environment, previous, reviewed=False))
        previous = environment
    jobs.append(_promote_job(options, options.production, previous, reviewed=True))
    return _fill(_MODEL, options, **{"@PROMOTE_JOBS@": "\n".join(jobs)})


def _promote_job(
    options: CiOptions, environment: str, previous: str | None, *, reviewed: bool
) -> str:
    """The first promote job trains (or reuses) and finds the version; the next take its output."""
    if previous is None:
        needs, version = "", "${{ steps.version.outputs.version }}"
        train = _fill(_TRAIN + _FIND_VERSION, options)
    else:
        needs = f"\n    needs: promote-{previous}"
        version = f"${{{{ needs.promote-{previous}.outputs.version }}}}"
        train = ""
    gate = (
        f"\n    # GitHub asks the required reviewers of the environment '{environment}' first."
        f"\n    environment: {environment}"
        if reviewed
        else ""
    )
    return _fill(
        _PROMOTE_JOB,
        options,
        **{"@ENV@": environment, "@NEEDS@": needs, "@GATE@": gate, "@TRAIN@": train},
    ).replace("@VERSION@", version)


_PRE_COMMIT = """\
# Written by `mlrelease init --ci github`. Install the hooks once per clone:
#   pip install pre-commit && pre-commit install
# The versions match .github/workflows/ci.yml; `pre-commit autoupdate` moves them.
repos:
  - repo: https://github.com/astral-sh/ruff-pre-commit
    rev: v@RUFF@
    hooks:
      - id: ruff
        args: [--fix]
      - id: ruff-format
  - repo: https://github.com/pre-commit/mirrors-mypy
    rev: v@MYPY@
    hooks:
      - id: mypy
"""

_INSTALL = """\
      - uses: @CHECKOUT@
      - uses: @SETUP_PYTHON@
        with:
          python-version: "@PYTHON@"
      - name: Install mlrelease
        run: |
          python -m pip install "$MLRELEASE_REQUIREMENT"
          if [ -f requirements.txt ]; then python -m pip install -r requirements.txt; fi"""

_CI = (
    """\
# Written by `mlrelease init --ci github`: lint and tests on every push and pull request.
name: ci

on:
  push:
    branches: [@BRANCH@]
  pull_request:

permissions:
  contents: read

concurrency:
  group: ci-${{ github.ref }}
  cancel-in-progress: true

defaults:
  run:
    shell: bash

env:
  MLRELEASE_FILE: @FILE@
  # mlrelease itself: a version from your package index, or a wheel or URL pip takes.
  MLRELEASE_REQUIREMENT: "@REQUIREMENT@"

jobs:
  lint-and-test:
    name: Lint and test
    runs-on: ubuntu-latest
    timeout-minutes: 30
    steps:
"""
    + _INSTALL.replace("Install mlrelease", "Install mlrelease, ruff, mypy and pytest").replace(
        'python -m pip install "$MLRELEASE_REQUIREMENT"',
        'python -m pip install "$MLRELEASE_REQUIREMENT" ruff==@RUFF@ mypy==@MYPY@ pytest==@PYTEST@',
    )
    + """
      - name: Check the project file
        run: mlrelease validate
      - name: ruff
        if: hashFiles('**/*.py') != ''
        run: |
          ruff check .
          ruff format --check .
      - name: mypy
        if: hashFiles('**/*.py') != ''
        run: mypy .
      - name: pytest
        if: hashFiles('**/test_*.py', '**/*_test.py') != ''
        run: pytest
"""
)

_FIND_VERSION = """\
      - name: Find the version this commit registered
        id: version
@SECRETS@
        run: |
          export HEAD_SHA; HEAD_SHA=$(git rev-parse HEAD)
          version=$(mlrelease runs --model "$MODEL" --limit 50 -o json | python -c '
          import json, os, sys
          for run in json.load(sys.stdin):  # newest first
              commit = (run["lineage"].get("git") or {}).get("commit")
              if run["model_version"] and commit == os.environ["HEAD_SHA"]:
                  print(run["model_version"])
                  break
          ')
          if [ -z "$version" ]; then
            echo "::error::no run of $MODEL at this commit registered a version"
            exit 1
          fi
          echo "version=$version" >> "$GITHUB_OUTPUT"
"""

_TRAIN = """\
      - name: Train and gate (reuses the version when nothing changed)
@SECRETS@
        run: mlrelease run
"""

_CHECK_SECRETS = """\
      - name: Check the store secrets are set
        env:
          MLRELEASE_DB: ${{ secrets.MLRELEASE_DB }}
          MLRELEASE_ARTIFACTS: ${{ secrets.MLRELEASE_ARTIFACTS }}
        run: |
          for name in MLRELEASE_DB MLRELEASE_ARTIFACTS; do
            if [ -z "${!name}" ]; then
              echo "::error::set the repository secret $name: a store every job shares"
              exit 1
            fi
          done"""

_PROMOTE_JOB = (
    """\
  promote-@ENV@:
    name: Promote to @ENV@
    if: github.event_name != 'pull_request'@NEEDS@
    runs-on: ubuntu-latest
    timeout-minutes: 60@GATE@
    outputs:
      version: @VERSION@
    steps:
"""
    + _INSTALL
    + "\n"
    + _CHECK_SECRETS
    + """
@TRAIN@      - name: Promote to @ENV@
@SECRETS@
          TARGET: @ENV@
          VERSION: @VERSION@
          REASON: "GitHub Actions: ${{ github.event_name }} of ${{ github.sha }}"
        run: |
          live=$(mlrelease models -o json | python -c '
          import json, os, sys
          for model in json.load(sys.stdin):
              if model["name"] == os.environ["MODEL"]:
                  print(model["aliases"].get(os.environ["TARGET"], ""))
          ')
          if [ "$live" = "$VERSION" ]; then
            echo "$MODEL v$VERSION is already live in $TARGET"
          else
            mlrelease promote "$MODEL" "$VERSION" --to "$TARGET" --reason "$REASON"
          fi
"""
)

_MODEL = (
    """\
# Written by `mlrelease init --ci github` for @MODEL@: train, gate and report on pull
# requests; promote what a merge or a release registered.
#
# Repository secrets (Settings > Secrets and variables > Actions), passed to the
# mlrelease steps as environment variables and never printed:
#   MLRELEASE_DB           the shared metadata store, e.g. postgresql://user:pass@host/db
#   MLRELEASE_ARTIFACTS    the shared artifact store, e.g. s3://bucket/prefix
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY    for S3 artifacts
# Shared stores are required: a runner's disk is thrown away after each job, so the
# gate would have no champion and the promote jobs no version.
#
# Require the check "Train, gate and report" in the branch protection of @BRANCH@, so a
# refused gate blocks the merge. The report compares with what @PRODUCTION@ runs.
#
# @PRODUCTION@: create the GitHub environment "@PRODUCTION@" with required reviewers;
# its job waits for them. If @FILE@ also asks for approvals there, the promotion
# then waits for `mlrelease approve` too: set approvals: 0 for @PRODUCTION@ when the
# GitHub reviewers are your approval.
#
# Pull requests from forks get no secrets: their train-and-gate job stops at the
# secrets check. Runs on @BRANCH@ train again only when the commit changed the model's
# inputs (project file, data, code, packages); otherwise they reuse the version.
name: model

on:
  pull_request:
  push:
    branches: [@BRANCH@]
  release:
    types: [published]

permissions:
  contents: read

concurrency:
  # One promotion at a time; a new push to a pull request cancels its older run.
  group: model-${{ github.event_name == 'pull_request' && github.ref || 'promote' }}
  cancel-in-progress: ${{ github.event_name == 'pull_request' }}

defaults:
  run:
    shell: bash

env:
  MODEL: @MODEL@
  MLRELEASE_FILE: @FILE@
  MLRELEASE_ACTOR: ${{ github.actor }}
  # mlrelease itself: a version from your package index, or a wheel or URL pip takes.
  MLRELEASE_REQUIREMENT: "@REQUIREMENT@"

jobs:
  train-and-gate:
    name: Train, gate and report
    if: github.event_name == 'pull_request'
    runs-on: ubuntu-latest
    timeout-minutes: 60
    permissions:
      contents: read
      pull-requests: write  # the report comment
    steps:
"""
    + _INSTALL
    + "\n"
    + _CHECK_SECRETS
    + """
      - name: Train, evaluate and gate
        id: run
@SECRETS@
        run: mlrelease run
"""
    + _FIND_VERSION
    + """\
      - name: Write the report
@SECRETS@
          VERSION: ${{ steps.version.outputs.version }}
        run: >-
          mlrelease report "$MODEL" "$VERSION" --against @PRODUCTION@
          --format markdown --out report.md
      - name: Write the refusal
        if: failure() && steps.run.outcome == 'failure'
        run: |
          log="$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID"
          {
            echo '@MARKER@'
            echo "### mlrelease: $MODEL was not registered"
            echo
            echo "A data check or a quality gate refused the model, or training failed:"
            echo "\\`mlrelease run\\` exited non-zero. Every check and gate with its value"
            echo "is in [the job's log]($log)."
          } > report.md
      - name: Post or update the report comment
        if: always() && hashFiles('report.md') != ''
        uses: @GITHUB_SCRIPT@
        with:
          script: |
            const fs = require('fs');
            const marker = '@MARKER@';
            let body = fs.readFileSync('report.md', 'utf8');
            if (!body.includes(marker)) {
              body = `${marker}\\n${body}`;
            }
            const { owner, repo } = context.repo;
            const issue_number = context.issue.number;
            const comments = await github.paginate(github.rest.issues.listComments, {
              owner, repo, issue_number, per_page: 100,
            });
            const previous = comments.find(
              (comment) => comment.user?.type === 'Bot' && comment.body?.includes(marker),
            );
            if (previous) {
              await github.rest.issues.updateComment({
                owner, repo, comment_id: previous.id, body,
              });
            } else {
              await github.rest.issues.createComment({ owner, repo, issue_number, body });
            }
      - name: Keep the report and its plots
        if: always() && hashFiles('report.md') != ''
        uses: @UPLOAD@
        with:
          name: mlrelease-report
          path: |
            report.md
            report-*.png
          if-no-files-found: ignore

@PROMOTE_JOBS@"""
)
