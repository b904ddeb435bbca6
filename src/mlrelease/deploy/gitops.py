"""GitOps: rendered files into a directory, or committed to a configuration repository.

:func:`write_files` never leaves a half-written set: every file is first written
into a temporary directory beside the target, then moved into place (a new target
directory is renamed in whole; an existing one gets each file by ``os.replace``,
which readers see either old or new).

:func:`commit_manifests` writes files into a checkout of a config repository (the
one Argo CD or Flux watches) and commits them: nothing when nothing changed; a
refusal, before anything is written, when the path is not a git work tree or the
index already holds unrelated staged changes (they would end up in our commit).
git runs as a subprocess with a fixed environment: ``GIT_*`` variables of the caller
are dropped (a hook's ``GIT_DIR`` would point elsewhere), output is in the C locale,
git never prompts, and when the repository has no ``user.name``/``user.email`` the
commit is made as ``MLRELEASE_ACTOR`` (default ``mlrelease``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Final

from mlrelease.errors import ConfigError, ConflictError, MlreleaseError

__all__ = ["commit_manifests", "commit_message", "write_files"]

_TIMEOUT: Final = 120.0  # seconds for one git command (commit hooks included)


def _relative(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if not name or path.is_absolute() or any(part in ("", ".", "..") for part in path.parts):
        raise ConfigError(f"{name!r} is not a relative path inside the directory")
    return path


def write_files(root: Path, files: Mapping[str, str], *, remove: Collection[str] = ()) -> list[str]:
    """Write ``files`` (relative path -> text) under ``root``; delete ``remove``.

    Returns the paths whose content changed (written or deleted), sorted.
    """
    paths = {name: _relative(name) for name in [*files, *remove]}
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root} is a file, not a directory; give a directory to write into")
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        # Not mkdtemp: its 0700 would become the new folder's mode; this one follows umask.
        staging = root.parent / f".{root.name}.{uuid.uuid4().hex[:12]}.tmp"
        staging.mkdir()
    except OSError as exc:
        raise ConfigError(f"{root}: cannot write there ({exc.strerror or exc})") from None
    try:
        changed = [name for name, text in files.items() if _read(root / paths[name]) != text]
        for name, text in files.items():
            target = staging / paths[name]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        if not root.exists():
            staging.rename(root)
            return sorted(changed)
        for name in files:
            target = root / paths[name]
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / paths[name], target)
        gone = [name for name in remove if name not in files and (root / paths[name]).is_file()]
        for name in gone:
            (root / paths[name]).unlink()
        return sorted([*changed, *gone])
    except OSError as exc:
        raise ConfigError(f"{root}: cannot write there ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, UnicodeDecodeError):
        return None


def commit_message(model: str, environment: str, version: int | None) -> str:
    """``mlrelease: breast-cancer v3 -> production`` (the version when it is known)."""
    what = f"{model} v{version}" if version is not None else model
    return f"mlrelease: {what} -> {environment}"


class _Git:
    def __init__(self, repo: Path, env: Mapping[str, str] | None) -> None:
        source = os.environ if env is None else env
        self.repo = repo
        self.env = {key: value for key, value in source.items() if not key.startswith("GIT_")}
        self.env |= {"LC_ALL": "C", "LANGUAGE": "C", "GIT_TERMINAL_PROMPT": "0"}
        self.actor = source.get("MLRELEASE_ACTOR") or "mlrelease"
        self.binary = shutil.which("git", path=self.env.get("PATH"))
        if self.binary is None:
            raise ConfigError("git is not installed (or not on PATH); install it to use GitOps")

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert self.binary is not None
        try:
            done = subprocess.run(
                [self.binary, "-C", str(self.repo), *args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise MlreleaseError(f"git {args[0]} in {self.repo} failed: {exc}") from None
        if check and done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            problem = lines[-1] if lines else f"exit code {done.returncode}"
            raise MlreleaseError(f"git {args[0]} in {self.repo} failed: {problem}")
        return done

    def identity(self) -> list[str]:
        """``-c user.name=... -c user.email=...`` when the repository has none configured."""
        name = self.run("config", "user.name", check=False).stdout.strip()
        email = self.run("config", "user.email", check=False).stdout.strip()
        if name and email:
            return []
        local = re.sub(r"[^A-Za-z0-9._-]+", "-", self.actor).strip("-.") or "mlrelease"
        return [
            "-c",
            f"user.name={name or self.actor}",
            "-c",
            f"user.email={email or local + '@mlrelease.invalid'}",
        ]


def _work_tree(git: _Git) -> Path:
    """The top of the work tree ``git.repo`` is in, or a ConfigError saying how to get one."""
    if not git.repo.is_dir():
        raise ConfigError(
            f"--gitops: {git.repo} is not a directory; clone your config repository there"
        )
    done = git.run("rev-parse", "--is-inside-work-tree", "--show-toplevel", check=False)
    lines = done.stdout.split("\n")
    if done.returncode != 0 or lines[0].strip() != "true":
        raise ConfigError(
            f"--gitops: {git.repo} is not a git work tree; clone your config repository there "
            "(git clone URL PATH), or run git init in it"
        )
    return Path(lines[1].strip())


def _staged(git: _Git) -> list[str]:
    done = git.run("diff", "--cached", "--name-only", "-z", "--no-renames")
    return [name for name in done.stdout.split("\0") if name]


def commit_manifests(
    repo: Path,
    files: Mapping[str, str],
    message: str,
    *,
    remove: Collection[str] = (),
    env: Mapping[str, str] | None = None,
) -> str | None:
    """Write ``files`` (paths relative to ``repo``) into the checkout and commit them.

    ``remove`` names files of an earlier rendering to delete in the same commit.
    Returns the new commit's sha, or None when the files were already as given.
    """
    git = _Git(repo, env)
    top = _work_tree(git)
    prefix = PurePosixPath(repo.resolve().relative_to(top.resolve()).as_posix())
    ours = {str(prefix / _relative(name)) for name in [*files, *remove]}
    unrelated = [path for path in _staged(git) if path not in ours]
    if unrelated:
        shown = ", ".join(unrelated[:5]) + (" ..." if len(unrelated) > 5 else "")
        raise ConflictError(
            f"--gitops: {top} has staged changes mlrelease did not make ({shown}); commit or "
            f"unstage them first (git -C {top} reset -q -- PATH...), then render again"
        )
    write_files(repo, files, remove=remove)
    _stage(git, list(files), [name for name in remove if name not in files])
    if git.run("diff", "--cached", "--quiet", check=False).returncode == 0:
        return None
    git.run(*git.identity(), "commit", "--quiet", "-m", message)
    return git.run("rev-parse", "HEAD").stdout.strip()


def _stage(git: _Git, written: Sequence[str], removed: Sequence[str]) -> None:
    if written:
        git.run("add", "--", *written)
    if removed:
        git.run("rm", "--cached", "--quiet", "--ignore-unmatch", "--", *removed)


def commit_rendering(
    repo: Path, folder: PurePosixPath, files: Mapping[str, str], message: str
) -> str | None:
    """Commit a rendering into ``repo/folder``, deleting files an earlier rendering had."""
    from mlrelease.deploy.kubernetes import previous_files

    stale = sorted(previous_files(repo / folder) - set(files))
    return commit_manifests(
        repo,
        {str(folder / name): text for name, text in files.items()},
        message,
        remove=[str(folder / name) for name in stale],
    )
