"""GitOps: manifests committed to a real local git repository; files written all or nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mlrelease.cli import _ErrorTranslatingGroup
from mlrelease.cli import app as mlrelease_app
from mlrelease.cli.deploy_kubernetes import register
from mlrelease.deploy.gitops import commit_manifests, commit_message, write_files
from mlrelease.errors import ConfigError, ConflictError

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

FILES = {"breast-cancer/production/service.yaml": "kind: Service\n"}
MESSAGE = "mlrelease: breast-cancer v3 -> production"


@pytest.fixture
def git_env(tmp_path: Path) -> dict[str, str]:
    """No user or system git configuration: an identity must come from mlrelease."""
    home = tmp_path / "home"
    home.mkdir()
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "MLRELEASE_ACTOR": "alice",
    }


def git(repo: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path, git_env: dict[str, str]) -> Path:
    path = tmp_path / "config"
    path.mkdir()
    git(path, git_env, "init", "--quiet")
    return path


def test_first_commit_then_nothing_then_a_change(repo: Path, git_env: dict[str, str]) -> None:
    sha = commit_manifests(repo, FILES, MESSAGE, env=git_env)
    assert sha is not None and len(sha) == 40
    assert git(repo, git_env, "log", "-1", "--format=%H %an <%ae> %s").strip() == (
        f"{sha} alice <alice@mlrelease.invalid> {MESSAGE}"
    )
    assert (repo / "breast-cancer/production/service.yaml").read_text() == "kind: Service\n"

    assert commit_manifests(repo, FILES, MESSAGE, env=git_env) is None
    assert git(repo, git_env, "rev-list", "--count", "HEAD").strip() == "1"

    changed = {
        "breast-cancer/production/service.yaml": "kind: Service\nspec: {}\n",
        "breast-cancer/production/hpa.yaml": "kind: HorizontalPodAutoscaler\n",
    }
    second = commit_manifests(
        repo, changed, "mlrelease: breast-cancer v4 -> production", env=git_env
    )
    assert second is not None and second != sha
    assert git(repo, git_env, "log", "-1", "--format=%s").strip() == (
        "mlrelease: breast-cancer v4 -> production"
    )
    assert git(repo, git_env, "show", "--name-only", "--format=", "HEAD").split() == [
        "breast-cancer/production/hpa.yaml",
        "breast-cancer/production/service.yaml",
    ]
    assert git(repo, git_env, "status", "--porcelain") == ""


def test_removed_files_go_in_the_same_commit(repo: Path, git_env: dict[str, str]) -> None:
    both = {**FILES, "breast-cancer/production/rollout.yaml": "kind: Rollout\n"}
    commit_manifests(repo, both, MESSAGE, env=git_env)
    sha = commit_manifests(
        repo, FILES, MESSAGE, remove=["breast-cancer/production/rollout.yaml"], env=git_env
    )
    assert sha is not None
    assert not (repo / "breast-cancer/production/rollout.yaml").exists()
    assert git(repo, git_env, "ls-files").split() == ["breast-cancer/production/service.yaml"]


def test_a_configured_identity_is_kept(repo: Path, git_env: dict[str, str]) -> None:
    git(repo, git_env, "config", "user.name", "Platform Bot")
    git(repo, git_env, "config", "user.email", "bot@example.com")
    commit_manifests(repo, FILES, MESSAGE, env=git_env)
    assert git(repo, git_env, "log", "-1", "--format=%an <%ae>").strip() == (
        "Platform Bot <bot@example.com>"
    )


def test_a_folder_that_is_not_a_work_tree_is_refused(
    tmp_path: Path, git_env: dict[str, str]
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(ConfigError, match="is not a git work tree; clone your config repository"):
        commit_manifests(plain, FILES, MESSAGE, env=git_env)
    assert list(plain.iterdir()) == []
    with pytest.raises(ConfigError, match="is not a directory"):
        commit_manifests(tmp_path / "missing", FILES, MESSAGE, env=git_env)


def test_unrelated_staged_changes_are_refused(repo: Path, git_env: dict[str, str]) -> None:
    (repo / "README.md").write_text("notes\n")
    git(repo, git_env, "add", "README.md")
    with pytest.raises(ConflictError, match=r"staged changes mlrelease did not make \(README.md\)"):
        commit_manifests(repo, FILES, MESSAGE, env=git_env)
    assert not (repo / "breast-cancer").exists()  # refused before writing anything
    # Our own files, staged by hand, are not in the way.
    (repo / "breast-cancer/production").mkdir(parents=True)
    (repo / "breast-cancer/production/service.yaml").write_text("old\n")
    git(repo, git_env, "reset", "-q", "--", "README.md")
    git(repo, git_env, "add", "breast-cancer")
    assert commit_manifests(repo, FILES, MESSAGE, env=git_env) is not None


def test_the_callers_git_variables_do_not_leak_in(
    repo: Path, tmp_path: Path, git_env: dict[str, str]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    git(elsewhere, git_env, "init", "--quiet")
    env = {**git_env, "GIT_DIR": str(elsewhere / ".git"), "GIT_WORK_TREE": str(elsewhere)}
    assert commit_manifests(repo, FILES, MESSAGE, env=env) is not None
    assert git(repo, git_env, "rev-list", "--count", "HEAD").strip() == "1"


def test_the_message_names_model_version_and_environment() -> None:
    assert commit_message("breast-cancer", "production", 3) == MESSAGE
    assert commit_message("breast-cancer", "staging", None) == "mlrelease: breast-cancer -> staging"


# --- writing files: all or nothing -------------------------------------------------------


def test_a_new_folder_appears_whole(tmp_path: Path) -> None:
    changed = write_files(tmp_path / "deploy", {"a.yaml": "a\n", "b.yaml": "b\n"})
    assert changed == ["a.yaml", "b.yaml"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["deploy"]
    assert write_files(tmp_path / "deploy", {"a.yaml": "a\n", "b.yaml": "b\n"}) == []


def test_a_failure_while_writing_leaves_the_old_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "deploy"
    write_files(target, {"a.yaml": "old a\n", "b.yaml": "old b\n"})
    real = Path.write_text
    calls = []

    def failing(self: Path, text: str, *args: object, **kwargs: object) -> int:
        calls.append(self)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(self, text, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "write_text", failing)
    with pytest.raises(ConfigError, match="No space left on device"):
        write_files(target, {"a.yaml": "new a\n", "b.yaml": "new b\n"})
    monkeypatch.undo()
    assert (target / "a.yaml").read_text() == "old a\n"
    assert (target / "b.yaml").read_text() == "old b\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["deploy"]  # no staging left


def test_paths_must_stay_inside_and_a_file_is_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a relative path"):
        write_files(tmp_path / "deploy", {"../escape.yaml": "x"})
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a directory"):
        write_files(tmp_path / "file", {"a.yaml": "a"})
    assert sorted(path.name for path in tmp_path.iterdir()) == ["file"]


# --- the command line --------------------------------------------------------------------


def test_deploy_kubernetes_commits_to_a_config_repository(
    isolated_env: Path, repo: Path, git_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    assert runner.invoke(mlrelease_app, ["quickstart"], catch_exceptions=False).exit_code == 0
    for name, value in git_env.items():
        monkeypatch.setenv(name, value)
    root = typer.Typer(cls=_ErrorTranslatingGroup)
    deploy = typer.Typer()
    register(deploy)
    root.add_typer(deploy, name="deploy")
    args = ["deploy", "kubernetes", "--env", "dev", "--gitops", str(repo)]

    result = runner.invoke(root, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "mlrelease: breast-cancer v1 -> dev" in result.output  # v1 from the registry alias
    assert (
        git(repo, git_env, "log", "-1", "--format=%s").strip()
        == "mlrelease: breast-cancer v1 -> dev"
    )
    assert "breast-cancer/dev/deployment.yaml" in git(repo, git_env, "ls-files")
    assert not (isolated_env / "deploy").exists()  # --gitops alone writes no ./deploy

    result = runner.invoke(root, args, catch_exceptions=False)
    assert result.exit_code == 0 and "nothing to commit" in result.output
    assert git(repo, git_env, "rev-list", "--count", "HEAD").strip() == "1"

    plain = isolated_env / "plain"
    plain.mkdir()
    result = runner.invoke(root, [*args[:-1], str(plain)], catch_exceptions=False)
    assert result.exit_code == 2 and "not a git work tree" in result.output


def test_a_promotion_commits_the_environments_manifests(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlrelease.client import Client
    from mlrelease.errors import SpecError

    assert CliRunner().invoke(mlrelease_app, ["quickstart"]).exit_code == 0
    plain = {"PATH": os.environ["PATH"], "HOME": str(isolated_env), "GIT_CONFIG_NOSYSTEM": "1"}
    monkeypatch.setenv("HOME", str(isolated_env))
    repo = isolated_env / "config"
    repo.mkdir()
    git(repo, plain, "init", "--quiet")
    project = isolated_env / "mlrelease.yaml"
    text = project.read_text()
    gitops = "staging: {after: dev, gitops: {repo: config, kubernetes: {namespace: ml}}}"
    project.write_text(text.replace("staging: {after: dev}", gitops))

    with Client.from_project(project) as client:
        client.promote("breast-cancer", 1, "staging")
    log = git(repo, plain, "log", "--format=%s").splitlines()
    assert log == ["mlrelease: breast-cancer v1 -> staging"]
    files = git(repo, plain, "ls-files").split()
    assert "breast-cancer/staging/kustomization.yaml" in files
    assert "namespace: ml" in (repo / "breast-cancer/staging/deployment.yaml").read_text()

    project.write_text(
        text.replace("staging: {after: dev}", gitops.replace("namespace", "nmspace"))
    )
    with pytest.raises(SpecError, match=r"gitops\.kubernetes\.nmspace: unknown key"):
        Client.from_project(project)
