"""Safe artifact names and the content-addressed keys built from them.

This module owns the one rule for what a user-supplied artifact name may be and the
one parser that turns an untrusted artifact URI back into a key inside a store's
root. Both stores go through it, so a name or URI is judged the same way whether
the bytes live on disk or in a bucket.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote

from mlrelease.artifacts._content import is_sha256_hex
from mlrelease.errors import UnsafePathError

__all__ = ["ArtifactKey", "key_from_uri", "safe_artifact_name"]

KEY_NAMESPACE = "sha256"
MAX_NAME_BYTES = 255

# Enough rounds to undo any realistic layering of encodings; a name still changing
# after this many is built to be hostile and is refused rather than decoded further.
_MAX_DECODE_ROUNDS = 16

# Control, format (e.g. bidi overrides, zero-width joiners), surrogate, private-use
# and unassigned characters: none belong in a file name and several are used to make
# a name display as something it is not.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})

_ALLOWED = (
    "a single file name such as 'model.skops': printable characters, at most "
    f"{MAX_NAME_BYTES} bytes in UTF-8, no '/', '\\', NUL or invisible characters, "
    "and not '.' or '..'"
)


def safe_artifact_name(name: str) -> str:
    """Return ``name`` fully decoded and NFC-normalised, or refuse it.

    Raises:
        UnsafePathError: the name could reach outside the directory it is stored in,
            or could be read as something other than one plain file name.
    """
    try:
        decoded = unicodedata.normalize("NFC", _decode_until_stable(name))
    except ValueError as exc:
        raise _unsafe_name(name, str(exc)) from exc
    problem = _name_problem(decoded)
    if problem is not None:
        raise _unsafe_name(name, problem)
    return decoded


@dataclass(frozen=True)
class ArtifactKey:
    """Where one blob lives relative to a store root: ``sha256/<ab>/<digest>/<name>``."""

    sha256: str
    name: str

    def __post_init__(self) -> None:
        if not is_sha256_hex(self.sha256):
            raise UnsafePathError(
                f"{self.sha256!r} is not a lowercase hex SHA-256 digest.",
                details={"sha256": self.sha256},
            )
        if safe_artifact_name(self.name) != self.name:
            raise UnsafePathError(
                f"Artifact name {self.name!r} is not in its decoded, normalised form.",
                details={"name": self.name},
            )

    @property
    def parts(self) -> tuple[str, str, str, str]:
        return (KEY_NAMESPACE, self.sha256[:2], self.sha256, self.name)

    @property
    def path(self) -> str:
        return "/".join(self.parts)


def key_from_uri(uri: str, root_url: str) -> ArtifactKey:
    """Parse an untrusted artifact URI that must name a key directly under ``root_url``.

    ``root_url`` is compared literally, before any decoding, so a URI can only match
    the root by spelling it exactly; the remainder is then fully decoded and must be
    exactly ``sha256/<ab>/<digest>/<name>``.

    Raises:
        UnsafePathError: the URI points anywhere else.
    """
    prefix = root_url.rstrip("/") + "/"
    if not uri.startswith(prefix):
        raise _outside_root(uri, root_url, "it is not under the store root")
    try:
        relative = unicodedata.normalize("NFC", _decode_until_stable(uri[len(prefix) :]))
    except ValueError as exc:
        raise _outside_root(uri, root_url, str(exc)) from exc
    parts = relative.split("/")
    if len(parts) != 4:
        raise _outside_root(uri, root_url, "its key is not sha256/<ab>/<digest>/<name>")
    namespace, fanout, digest, name = parts
    if namespace != KEY_NAMESPACE or not is_sha256_hex(digest) or fanout != digest[:2]:
        raise _outside_root(uri, root_url, "its key is not sha256/<ab>/<digest>/<name>")
    try:
        return ArtifactKey(sha256=digest, name=name)
    except UnsafePathError as exc:
        raise _outside_root(uri, root_url, exc.message) from exc


def _decode_until_stable(text: str) -> str:
    """Percent-decode ``text`` until it stops changing.

    Raises:
        ValueError: the bytes are not UTF-8, or the text is still changing after
            :data:`_MAX_DECODE_ROUNDS` rounds.
    """
    for _ in range(_MAX_DECODE_ROUNDS):
        try:
            decoded = unquote(text, errors="strict")
        except UnicodeDecodeError as exc:
            raise ValueError("it percent-decodes to bytes that are not UTF-8") from exc
        if decoded == text:
            return text
        text = decoded
    raise ValueError(f"it is still percent-encoded after {_MAX_DECODE_ROUNDS} rounds of decoding")


def _name_problem(name: str) -> str | None:
    if not name:
        return "it is empty"
    if "\x00" in name:
        return "it contains a NUL character"
    # Compatibility forms catch look-alikes such as FULLWIDTH SOLIDUS or
    # ONE DOT LEADER that other tools may fold into '/' or '.'.
    for form in {name, unicodedata.normalize("NFKC", name)}:
        if "/" in form or "\\" in form:
            return "it contains a path separator"
        if form in {".", ".."}:
            return "it is a relative directory reference"
    if any(unicodedata.category(char) in _INVISIBLE_CATEGORIES for char in name):
        return "it contains a control or invisible character"
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        return f"it is longer than {MAX_NAME_BYTES} bytes in UTF-8"
    return None


def _unsafe_name(name: str, problem: str) -> UnsafePathError:
    return UnsafePathError(
        f"Artifact name {name!r} is refused: {problem}. Allowed: {_ALLOWED}.",
        details={"name": name},
    )


def _outside_root(uri: str, root_url: str, reason: str) -> UnsafePathError:
    return UnsafePathError(
        f"Artifact URI {uri!r} is refused: {reason}. Only URIs of the form "
        f"{root_url.rstrip('/')}/sha256/<ab>/<digest>/<name> are accepted.",
        details={"uri": uri},
    )
