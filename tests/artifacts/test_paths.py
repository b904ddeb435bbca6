"""Which artifact names and URIs are accepted, and that everything else is refused."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from mlrelease.artifacts import LocalArtifactStore, safe_artifact_name
from mlrelease.artifacts._paths import ArtifactKey, key_from_uri
from mlrelease.errors import UnsafePathError

DIGEST = hashlib.sha256(b"model").hexdigest()
ROOT = "s3://bucket/prefix"
KEY = f"sha256/{DIGEST[:2]}/{DIGEST}"


@pytest.mark.parametrize(
    ("name", "stored_as"),
    [
        ("model.skops", "model.skops"),
        ("my model (v2).skops", "my model (v2).skops"),
        (".hidden", ".hidden"),
        ("...", "..."),
        ("100%", "100%"),
        ("caf\u00e9.bin", "caf\u00e9.bin"),
        ("cafe\u0301.bin", "caf\u00e9.bin"),
        ("model%2Eskops", "model.skops"),
        ("model%252Eskops", "model.skops"),
        ("\u6a21\u578b.skops", "\u6a21\u578b.skops"),
        ("a" * 255, "a" * 255),
    ],
)
def test_safe_names_are_accepted_in_decoded_nfc_form(name: str, stored_as: str) -> None:
    assert safe_artifact_name(name) == stored_as


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("", id="empty"),
        pytest.param(".", id="dot"),
        pytest.param("..", id="dotdot"),
        pytest.param("../x", id="parent-traversal"),
        pytest.param("a/b", id="slash"),
        pytest.param("a\\b", id="backslash"),
        pytest.param("/etc/passwd", id="absolute-posix"),
        pytest.param("C:\\Windows\\system.ini", id="absolute-windows"),
        pytest.param("x\x00.skops", id="nul"),
        pytest.param("%00", id="encoded-nul"),
        pytest.param("%2e%2e", id="encoded-dotdot"),
        pytest.param("%2e%2e%2fx", id="encoded-traversal"),
        pytest.param("%252e%252e", id="double-encoded-dotdot"),
        pytest.param("%25252e%25252e%25252f", id="triple-encoded-traversal"),
        pytest.param("..%2f..%2fetc", id="mixed-encoding"),
        pytest.param("a%5cb", id="encoded-backslash"),
        pytest.param("a%2fb", id="encoded-slash"),
        pytest.param("%ff%fe", id="encoded-non-utf8"),
        pytest.param("a\uff0fb", id="fullwidth-solidus"),
        pytest.param("a\uff3cb", id="fullwidth-reverse-solidus"),
        pytest.param("\uff0e\uff0e", id="fullwidth-dotdot"),
        pytest.param("\u2025", id="two-dot-leader"),
        pytest.param("model\u202egnp.exe", id="right-to-left-override"),
        pytest.param("mo\u200bdel.skops", id="zero-width-space"),
        pytest.param("line\nbreak", id="newline"),
        pytest.param("tab\t", id="control-character"),
        pytest.param("\ud800", id="lone-surrogate"),
        pytest.param("a" * 256, id="256-bytes"),
        pytest.param("\u00e9" * 128, id="256-bytes-of-two-byte-characters"),
        pytest.param("%" + "25" * 40 + "2e", id="endless-encoding"),
    ],
)
def test_unsafe_names_are_refused_naming_the_name_and_what_is_allowed(name: str) -> None:
    with pytest.raises(UnsafePathError) as refused:
        safe_artifact_name(name)

    assert repr(name) in refused.value.message
    assert "Allowed: a single file name" in refused.value.message


def test_a_uri_under_the_root_parses_to_its_key() -> None:
    assert key_from_uri(f"{ROOT}/{KEY}/model.skops", ROOT) == ArtifactKey(DIGEST, "model.skops")


def test_a_percent_encoded_uri_parses_to_the_decoded_key() -> None:
    key = key_from_uri(f"{ROOT}/{KEY}/my%20model%20100%25.skops", ROOT)

    assert key.name == "my model 100%.skops"
    assert key.path == f"{KEY}/my model 100%.skops"


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param(f"{ROOT}/../{KEY}/model.skops", id="parent-of-root"),
        pytest.param(f"{ROOT}/%2e%2e/{KEY}/model.skops", id="encoded-parent-of-root"),
        pytest.param(f"{ROOT}/{KEY}/../../../../x", id="parent-segments"),
        pytest.param(f"{ROOT}/{KEY}/%2e%2e%2fx", id="encoded-traversal"),
        pytest.param(f"{ROOT}/{KEY}/%252e%252e", id="double-encoded-dotdot"),
        pytest.param(f"{ROOT}/{KEY}%2fmodel.skops%2f..", id="encoded-separators"),
        pytest.param(f"{ROOT}/{KEY}/a\\b", id="backslash"),
        pytest.param(f"{ROOT}/{KEY}/\uff0e\uff0e", id="fullwidth-dotdot"),
        pytest.param(f"{ROOT}/{KEY}/x%00", id="encoded-nul"),
        pytest.param(f"s3://bucket/other/{KEY}/model.skops", id="other-prefix"),
        pytest.param(f"s3://other/prefix/{KEY}/model.skops", id="other-bucket"),
        pytest.param(f"{ROOT}2/{KEY}/model.skops", id="root-name-prefix"),
        pytest.param(f"gs://bucket/prefix/{KEY}/model.skops", id="other-scheme"),
        pytest.param(f"S3://bucket/prefix/{KEY}/model.skops", id="scheme-case"),
        pytest.param(f"/bucket/prefix/{KEY}/model.skops", id="bare-path"),
        pytest.param(f"{ROOT}/sha256/{DIGEST[2:4]}/{DIGEST}/model.skops", id="wrong-fanout"),
        pytest.param(f"{ROOT}/md5/{DIGEST[:2]}/{DIGEST}/model.skops", id="wrong-namespace"),
        pytest.param(f"{ROOT}/sha256/{DIGEST[:2]}/{DIGEST[:-1]}/model.skops", id="short-digest"),
        pytest.param(f"{ROOT}/{KEY}/", id="no-name"),
        pytest.param(f"{ROOT}/{KEY}/a/model.skops", id="extra-segment"),
        pytest.param(ROOT, id="the-root-itself"),
    ],
)
def test_uris_that_do_not_name_a_key_inside_the_root_are_refused(uri: str) -> None:
    with pytest.raises(UnsafePathError, match="refused"):
        key_from_uri(uri, ROOT)


def test_a_uri_is_matched_against_the_root_before_decoding() -> None:
    # An encoded root is not the root: matching happens on the literal spelling.
    with pytest.raises(UnsafePathError):
        key_from_uri(f"s3://bucket/pre%66ix/{KEY}/model.skops", ROOT)


def test_a_symlinked_fanout_directory_cannot_lead_outside_the_root(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    data = b"secret elsewhere"
    digest = hashlib.sha256(data).hexdigest()
    outside = tmp_path / "outside"
    (outside / digest).mkdir(parents=True)
    (outside / digest / "model.skops").write_bytes(data)
    (tmp_path / "store" / "sha256").mkdir(parents=True)
    (tmp_path / "store" / "sha256" / digest[:2]).symlink_to(outside)
    uri = f"{store.url}/sha256/{digest[:2]}/{digest}/model.skops"

    for attempt in (
        lambda: store.fetch(uri, digest),
        lambda: store.read_bytes(uri, digest),
        lambda: store.exists(uri),
        lambda: store.delete(uri),
        lambda: store.put_bytes(data, "model.skops"),
        lambda: store.put_bytes(data, "other.skops"),
    ):
        with pytest.raises(UnsafePathError, match="symbolic link"):
            attempt()

    assert (outside / digest / "model.skops").read_bytes() == data
    assert sorted(path.name for path in (outside / digest).iterdir()) == ["model.skops"]


def test_a_symlinked_blob_cannot_point_outside_the_root(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"password")
    store = LocalArtifactStore(tmp_path / "store")
    digest = hashlib.sha256(b"password").hexdigest()
    blob_dir = tmp_path / "store" / "sha256" / digest[:2] / digest
    blob_dir.mkdir(parents=True)
    (blob_dir / "model.skops").symlink_to(secret)
    uri = f"{store.url}/sha256/{digest[:2]}/{digest}/model.skops"

    with pytest.raises(UnsafePathError, match="symbolic link"):
        store.read_bytes(uri, digest)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        store.delete(uri)
    assert secret.exists()


def test_a_store_whose_root_is_a_symlink_still_works(tmp_path: Path) -> None:
    real_root = tmp_path / "real"
    real_root.mkdir()
    os.symlink(real_root, tmp_path / "link")
    store = LocalArtifactStore(tmp_path / "link")

    stored = store.put_bytes(b"model", "model.skops")

    assert store.fetch(stored.uri, stored.sha256).is_relative_to(real_root)
