"""The S3 store against a real S3 server (moto): endpoints, caching and foreign URIs.

The behaviour shared with the local store is in ``test_store_contract.py``, which runs against
S3 as well. Tests that need no server are not marked ``s3``.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

import pytest

from mlrelease.artifacts import ArtifactStore, open_artifact_store
from mlrelease.errors import ArtifactError, ConfigError, IntegrityError, UnsafePathError

from .conftest import s3_object_key

DATA = b"model bytes" * 100
DIGEST = hashlib.sha256(DATA).hexdigest()


@pytest.mark.s3
def test_the_url_is_normalised_without_a_trailing_slash(
    s3_server: Any, bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLRELEASE_S3_ENDPOINT_URL", s3_server.endpoint_url)

    store = open_artifact_store(f"s3://{bucket}/prefix/", cache_dir=tmp_path)

    assert store.url == f"s3://{bucket}/prefix"


@pytest.mark.s3
def test_the_blob_is_an_object_at_its_content_address(
    s3_store: ArtifactStore, s3_client: Any, bucket: str
) -> None:
    stored = s3_store.put_bytes(DATA, "model.skops")

    body = s3_client.get_object(
        Bucket=bucket, Key=f"prefix/sha256/{DIGEST[:2]}/{DIGEST}/model.skops"
    )
    assert body["Body"].read() == DATA
    assert stored.uri == f"s3://{bucket}/prefix/sha256/{DIGEST[:2]}/{DIGEST}/model.skops"


@pytest.mark.s3
def test_the_standard_aws_endpoint_variable_is_honoured(
    s3_server: Any, bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    store = open_artifact_store(f"s3://{bucket}/prefix", cache_dir=tmp_path)

    stored = store.put_bytes(DATA, "model.skops")

    assert store.read_bytes(stored.uri, stored.sha256) == DATA


@pytest.mark.s3
def test_a_tampered_object_is_not_cached(
    s3_store: ArtifactStore, s3_client: Any, tmp_path: Path
) -> None:
    stored = s3_store.put_bytes(DATA, "model.skops")
    bucket_name, key = s3_object_key(stored.uri)
    s3_client.put_object(Bucket=bucket_name, Key=key, Body=b"evil" + DATA[4:])

    with pytest.raises(IntegrityError, match="refused"):
        s3_store.fetch(stored.uri, stored.sha256)

    assert [path for path in (tmp_path / "cache").rglob("*") if path.is_file()] == []


@pytest.mark.s3
def test_a_fetched_copy_is_served_from_the_cache_once_verified(
    s3_store: ArtifactStore, s3_client: Any
) -> None:
    stored = s3_store.put_bytes(DATA, "model.skops")
    first = s3_store.fetch(stored.uri, stored.sha256)
    bucket_name, key = s3_object_key(stored.uri)
    s3_client.delete_object(Bucket=bucket_name, Key=key)

    assert s3_store.fetch(stored.uri, stored.sha256) == first
    assert first.read_bytes() == DATA


@pytest.mark.s3
def test_a_damaged_cached_copy_is_discarded_and_downloaded_again(
    s3_store: ArtifactStore,
) -> None:
    stored = s3_store.put_bytes(DATA, "model.skops")
    cached = s3_store.fetch(stored.uri, stored.sha256)
    cached.chmod(0o644)
    cached.write_bytes(b"bit rot")

    assert s3_store.fetch(stored.uri, stored.sha256).read_bytes() == DATA


@pytest.mark.s3
def test_a_damaged_cached_copy_is_never_served_when_the_object_is_gone(
    s3_store: ArtifactStore,
) -> None:
    stored = s3_store.put_bytes(DATA, "model.skops")
    cached = s3_store.fetch(stored.uri, stored.sha256)
    cached.chmod(0o644)
    cached.write_bytes(b"bit rot")
    s3_store.delete(stored.uri)

    with pytest.raises(ArtifactError, match="does not exist"):
        s3_store.fetch(stored.uri, stored.sha256)
    assert not cached.exists()


@pytest.mark.s3
def test_uris_in_another_bucket_or_prefix_are_refused(
    s3_store: ArtifactStore, s3_client: Any, bucket: str
) -> None:
    stored = s3_store.put_bytes(DATA, "model.skops")
    other_bucket = f"{bucket}-other"
    s3_client.create_bucket(Bucket=other_bucket)
    _, key = s3_object_key(stored.uri)
    s3_client.put_object(Bucket=other_bucket, Key=key, Body=DATA)
    s3_client.put_object(Bucket=bucket, Key=key.replace("prefix/", "other/", 1), Body=DATA)

    for uri in (f"s3://{other_bucket}/{key}", stored.uri.replace("/prefix/", "/other/")):
        with pytest.raises(UnsafePathError):
            s3_store.read_bytes(uri, stored.sha256)
        with pytest.raises(UnsafePathError):
            s3_store.delete(uri)


@pytest.mark.s3
def test_uploading_to_a_missing_bucket_is_an_artifact_error(
    s3_server: Any, aws_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLRELEASE_S3_ENDPOINT_URL", s3_server.endpoint_url)
    store = open_artifact_store("s3://no-such-bucket/prefix", cache_dir=tmp_path)

    with pytest.raises(ArtifactError, match="s3://no-such-bucket/prefix/sha256/"):
        store.put_bytes(DATA, "model.skops")


def test_without_s3fs_opening_an_s3_store_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A None entry in sys.modules is how Python spells "this module is not importable".
    monkeypatch.setitem(sys.modules, "s3fs", None)

    with pytest.raises(ConfigError, match=r"pip install 'mlrelease\[s3\]'"):
        open_artifact_store("s3://bucket/prefix")


def test_an_unknown_protocol_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="nosuchfs://bucket"):
        open_artifact_store("nosuchfs://bucket/prefix")
