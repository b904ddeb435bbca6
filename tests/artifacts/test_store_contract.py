"""The artifact store contract, run against every backend (local directory and S3)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mlrelease.artifacts import StoredArtifact
from mlrelease.errors import ArtifactError, IntegrityError, UnsafePathError

from .conftest import Backend

MODEL_BYTES = b"pretend this is a skops archive" * 1000
MODEL_SHA256 = hashlib.sha256(MODEL_BYTES).hexdigest()


def test_put_bytes_addresses_the_blob_by_its_content(backend: Backend) -> None:
    stored = backend.store.put_bytes(MODEL_BYTES, "model.skops")

    assert stored == StoredArtifact(
        uri=f"{backend.store.url}/sha256/{MODEL_SHA256[:2]}/{MODEL_SHA256}/model.skops",
        sha256=MODEL_SHA256,
        size=len(MODEL_BYTES),
    )
    assert backend.store.exists(stored.uri)


def test_storing_the_same_bytes_again_returns_the_same_uri_and_writes_nothing(
    backend: Backend, tmp_path: Path
) -> None:
    first = backend.store.put_bytes(MODEL_BYTES, "model.skops")
    marker = backend.write_marker(first.uri)
    source = tmp_path / "model.skops"
    source.write_bytes(MODEL_BYTES)

    again_from_bytes = backend.store.put_bytes(MODEL_BYTES, "model.skops")
    again_from_file = backend.store.put_file(source, "model.skops")

    assert again_from_bytes == first
    assert again_from_file == first
    assert backend.write_marker(first.uri) == marker


def test_same_bytes_under_another_name_is_another_artifact(backend: Backend) -> None:
    model = backend.store.put_bytes(MODEL_BYTES, "model.skops")
    copy = backend.store.put_bytes(MODEL_BYTES, "copy.skops")

    assert copy.uri != model.uri
    assert copy.sha256 == model.sha256
    assert backend.store.read_bytes(copy.uri, copy.sha256) == MODEL_BYTES


def test_fetch_returns_a_local_copy_of_the_verified_bytes(backend: Backend) -> None:
    stored = backend.store.put_bytes(MODEL_BYTES, "model.skops")

    fetched = backend.store.fetch(stored.uri, stored.sha256)

    assert fetched.name == "model.skops"
    assert fetched.read_bytes() == MODEL_BYTES
    assert backend.store.read_bytes(stored.uri, stored.sha256) == MODEL_BYTES


def test_put_file_stores_the_file_contents(backend: Backend, tmp_path: Path) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(MODEL_BYTES)

    stored = backend.store.put_file(source, "weights.bin")

    assert stored.sha256 == MODEL_SHA256
    assert backend.store.read_bytes(stored.uri, stored.sha256) == MODEL_BYTES


def test_put_file_of_a_missing_file_is_an_artifact_error(backend: Backend, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="nowhere.bin"):
        backend.store.put_file(tmp_path / "nowhere.bin", "model.skops")


def test_an_empty_artifact_round_trips(backend: Backend) -> None:
    stored = backend.store.put_bytes(b"", "empty.json")

    assert stored.size == 0
    assert backend.store.read_bytes(stored.uri, stored.sha256) == b""


def test_a_name_with_spaces_and_a_percent_sign_round_trips(backend: Backend) -> None:
    stored = backend.store.put_bytes(MODEL_BYTES, "my model 100%.skops")

    assert backend.store.fetch(stored.uri, stored.sha256).name == "my model 100%.skops"


def test_the_name_is_stored_decoded_and_normalised(backend: Backend) -> None:
    stored = backend.store.put_bytes(MODEL_BYTES, "mode%6C.sk%25%36Fps")
    decomposed = backend.store.put_bytes(MODEL_BYTES, "cafe\u0301.bin")

    assert backend.store.fetch(stored.uri, stored.sha256).name == "model.skops"
    assert backend.store.fetch(decomposed.uri, decomposed.sha256).name == "caf\u00e9.bin"


@pytest.mark.parametrize("read", ["fetch", "read_bytes"])
def test_tampered_bytes_are_refused_naming_the_uri_and_both_digests(
    backend: Backend, read: str
) -> None:
    stored = backend.store.put_bytes(MODEL_BYTES, "model.skops")
    tampered = MODEL_BYTES.replace(b"pretend", b"backdoor")
    backend.overwrite(stored.uri, tampered)

    with pytest.raises(IntegrityError) as refused:
        getattr(backend.store, read)(stored.uri, stored.sha256)

    message = refused.value.message
    assert stored.uri in message
    assert stored.sha256 in message
    assert hashlib.sha256(tampered).hexdigest() in message
    assert "refused" in message


def test_a_different_recorded_digest_is_refused(backend: Backend) -> None:
    stored = backend.store.put_bytes(MODEL_BYTES, "model.skops")
    recorded = hashlib.sha256(b"what was registered").hexdigest()

    with pytest.raises(IntegrityError, match=recorded):
        backend.store.fetch(stored.uri, recorded)


@pytest.mark.parametrize("recorded", ["", "../../etc", "ABC", "A" * 64, "g" * 64])
def test_a_malformed_recorded_digest_is_refused(backend: Backend, recorded: str) -> None:
    stored = backend.store.put_bytes(MODEL_BYTES, "model.skops")

    with pytest.raises(IntegrityError, match="not a 64-character"):
        backend.store.fetch(stored.uri, recorded)


def test_delete_removes_the_blob_and_a_later_read_names_the_missing_uri(
    backend: Backend,
) -> None:
    stored = backend.store.put_bytes(MODEL_BYTES, "model.skops")

    backend.store.delete(stored.uri)

    assert not backend.store.exists(stored.uri)
    for read in (backend.store.fetch, backend.store.read_bytes):
        with pytest.raises(ArtifactError, match="does not exist") as missing:
            read(stored.uri, stored.sha256)
        assert not isinstance(missing.value, IntegrityError)
        assert stored.uri in missing.value.message


def test_deleting_a_missing_blob_is_not_an_error(backend: Backend) -> None:
    stored = backend.store.put_bytes(MODEL_BYTES, "model.skops")
    backend.store.delete(stored.uri)

    backend.store.delete(stored.uri)

    assert not backend.store.exists(stored.uri)


def test_a_blob_can_be_stored_again_after_being_deleted(backend: Backend) -> None:
    stored = backend.store.put_bytes(MODEL_BYTES, "model.skops")
    backend.store.delete(stored.uri)

    assert backend.store.put_bytes(MODEL_BYTES, "model.skops") == stored
    assert backend.store.read_bytes(stored.uri, stored.sha256) == MODEL_BYTES


def _hostile_uris(root: str) -> list[str]:
    key = f"sha256/{MODEL_SHA256[:2]}/{MODEL_SHA256}"
    sibling = root.rsplit("/", 1)[0] + "/elsewhere"
    return [
        "",
        "model.skops",
        f"/etc/{key}/model.skops",
        f"http://example.com/{key}/model.skops",
        f"{sibling}/{key}/model.skops",
        f"{root}-evil/{key}/model.skops",
        f"{root}/../{key}/model.skops",
        f"{root}/{key}/../../../../../etc/passwd",
        f"{root}/{key}/..%2f..%2f..%2fpasswd",
        f"{root}/{key}/%2e%2e",
        f"{root}/{key}/%252e%252e",
        f"{root}/{key}/%25252e%25252e%25252fx",
        f"{root}/{key}/a%5cb",
        f"{root}/{key}/a%00b",
        f"{root}/{key}/\uff0e\uff0e",
        f"{root}/{key}/model.skops/extra",
        f"{root}/{key}",
        f"{root}/sha256/zz/{MODEL_SHA256}/model.skops",
        f"{root}/sha256/{MODEL_SHA256[:2].upper()}/{MODEL_SHA256.upper()}/model.skops",
        f"{root}/sha1/{MODEL_SHA256[:2]}/{MODEL_SHA256}/model.skops",
        f"{root}/sha256/{MODEL_SHA256[:2]}/{MODEL_SHA256[:40]}/model.skops",
        f"{root}//{key}/model.skops",
        f"{root}/%2e%2e/{key}/model.skops",
    ]


@pytest.mark.parametrize("operation", ["fetch", "read_bytes", "exists", "delete"])
def test_uris_outside_the_store_root_are_refused(backend: Backend, operation: str) -> None:
    stored = backend.store.put_bytes(MODEL_BYTES, "model.skops")

    for uri in _hostile_uris(backend.store.url):
        with pytest.raises(UnsafePathError):
            if operation in {"fetch", "read_bytes"}:
                getattr(backend.store, operation)(uri, MODEL_SHA256)
            else:
                getattr(backend.store, operation)(uri)

    assert backend.store.read_bytes(stored.uri, stored.sha256) == MODEL_BYTES


@pytest.mark.parametrize("name", ["../model.skops", "a/b", "a\\b", "..", "", "%2e%2e", "x\x00"])
def test_unsafe_names_are_refused(backend: Backend, name: str, tmp_path: Path) -> None:
    source = tmp_path / "model.skops"
    source.write_bytes(MODEL_BYTES)

    with pytest.raises(UnsafePathError, match="Allowed"):
        backend.store.put_bytes(MODEL_BYTES, name)
    with pytest.raises(UnsafePathError, match="Allowed"):
        backend.store.put_file(source, name)
