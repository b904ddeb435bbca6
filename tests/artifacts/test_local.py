"""The local store: opening it from paths and file URLs, and how its files are written."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from mlrelease.artifacts import LocalArtifactStore, open_artifact_store
from mlrelease.artifacts._staging import staged_file
from mlrelease.errors import ConfigError

from .conftest import local_blob_path

DATA = b"model bytes"
DIGEST = hashlib.sha256(DATA).hexdigest()


def test_a_relative_path_is_resolved_against_base_dir(tmp_path: Path) -> None:
    store = open_artifact_store("artifacts", base_dir=tmp_path)

    assert isinstance(store, LocalArtifactStore)
    assert store.url == (tmp_path / "artifacts").resolve().as_uri()


def test_a_relative_path_defaults_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    assert open_artifact_store("artifacts").url == (tmp_path / "artifacts").resolve().as_uri()


def test_an_absolute_path_ignores_base_dir(tmp_path: Path) -> None:
    store = open_artifact_store(str(tmp_path / "abs"), base_dir=tmp_path / "elsewhere")

    assert store.url == (tmp_path / "abs").resolve().as_uri()


@pytest.mark.parametrize("spelling", ["file://{path}", "file://localhost{path}", "{path}/"])
def test_file_urls_and_paths_open_the_same_store(tmp_path: Path, spelling: str) -> None:
    root = tmp_path / "a store"
    from_path = open_artifact_store(str(root))
    url = spelling.format(path=root.as_posix())
    if url.startswith("file://"):
        url = url.replace(" ", "%20")

    other = open_artifact_store(url)
    stored = from_path.put_bytes(DATA, "model.skops")

    assert other.url == from_path.url
    assert other.read_bytes(stored.uri, stored.sha256) == DATA


@pytest.mark.parametrize(
    "url", ["", "   ", "file://otherhost/srv/artifacts", "file:///srv/artifacts?x=1"]
)
def test_unusable_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        open_artifact_store(url)


def test_the_uri_is_a_file_url_with_the_name_percent_encoded(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)

    stored = store.put_bytes(DATA, "my model.skops")

    assert (
        stored.uri == f"{tmp_path.resolve().as_uri()}/sha256/{DIGEST[:2]}/{DIGEST}/my%20model.skops"
    )


def test_fetch_returns_the_stored_file_itself(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    stored = store.put_bytes(DATA, "model.skops")

    fetched = store.fetch(stored.uri, stored.sha256)

    assert fetched == tmp_path.resolve() / "sha256" / DIGEST[:2] / DIGEST / "model.skops"


def test_stored_blobs_are_read_only_and_no_temporary_file_is_left(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)

    stored = store.put_bytes(DATA, "model.skops")

    blob = local_blob_path(stored.uri)
    assert stat.S_IMODE(blob.stat().st_mode) & 0o222 == 0
    assert [path.name for path in blob.parent.iterdir()] == ["model.skops"]


def test_a_truncated_blob_is_replaced_when_the_same_bytes_are_stored_again(
    tmp_path: Path,
) -> None:
    store = LocalArtifactStore(tmp_path)
    stored = store.put_bytes(DATA, "model.skops")
    blob = local_blob_path(stored.uri)
    blob.chmod(0o644)
    blob.write_bytes(DATA[:3])

    store.put_bytes(DATA, "model.skops")

    assert store.read_bytes(stored.uri, stored.sha256) == DATA


def test_a_write_that_fails_midway_leaves_neither_the_target_nor_a_partial_file(
    tmp_path: Path,
) -> None:
    target = tmp_path / "blob" / "model.skops"

    with pytest.raises(RuntimeError, match="disk pulled"), staged_file(target) as staged:
        staged.write(b"half of the")
        raise RuntimeError("disk pulled out mid-write")

    assert list(target.parent.iterdir()) == []


def test_a_staged_file_appears_only_on_commit(tmp_path: Path) -> None:
    target = tmp_path / "model.skops"

    with staged_file(target) as staged:
        staged.write(DATA)
        assert not target.exists()
        staged.commit()

    assert target.read_bytes() == DATA
    assert staged.sha256 == DIGEST
    assert staged.size == len(DATA)
