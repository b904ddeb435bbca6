"""Package attributes imported on first use."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mlrelease._lazy import lazy_attributes


def test_a_name_is_taken_from_its_module_and_others_are_refused() -> None:
    getattr_ = lazy_attributes("pkg", {"dumps": "json"})
    import json

    assert getattr_("dumps") is json.dumps
    with pytest.raises(AttributeError, match="module 'pkg' has no attribute 'loads'"):
        getattr_("loads")


def test_importing_mlrelease_and_its_data_kinds_loads_neither_the_client_nor_pandas() -> None:
    code = (
        "import sys, mlrelease, mlrelease.data.kinds, mlrelease.promotion, mlrelease.ui; "
        "print(sorted({'pandas', 'mlrelease.client'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr
