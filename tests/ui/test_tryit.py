"""The "try it" page: a form from the live version's signature, and the prediction it gets."""

from __future__ import annotations

import dataclasses
import html
import json
import re

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from starlette.testclient import TestClient

from mlrelease.registry.flavors import LoadedModel
from mlrelease.registry.records import VersionInfo
from mlrelease.store import tables
from mlrelease.ui.pages import tryit

from ._scene import IRIS, MODEL
from .conftest import Ui, csrf

PAGE = f"/ui/models/{MODEL}/try"
FEATURES = [str(name) for name in load_breast_cancer().feature_names]


def _fields(page: str) -> dict[str, str]:
    """The form's inputs: feature name -> prefilled value."""
    found = re.findall(r'name="feature:([^"]+)" value="([^"]*)"', page)
    return {html.unescape(name): html.unescape(value) for name, value in found}


def _form(http: TestClient, path: str = PAGE, **changes: str) -> dict[str, str]:
    page = http.get(path).text
    data = {f"feature:{name}": value for name, value in _fields(page).items()}
    data.update({f"feature:{name}": value for name, value in changes.items()})
    data["csrf"] = csrf(http, path)
    data["environment"] = re.findall(r'name="environment" value="([^"]+)"', page)[0]
    data["next"] = path
    return data


def _logged(ui: Ui) -> int:
    with ui.client.store.read() as connection:
        return len(connection.execute(tables.predictions.select()).all())


def test_one_number_field_per_feature_prefilled_with_a_reference_row(ui: Ui) -> None:
    page = ui.browser("viewer").get(PAGE)

    assert page.status_code == 200
    fields = _fields(page.text)
    assert list(fields) == FEATURES
    assert all(float(value) > 0 for value in fields.values())  # the data's features are positive
    assert page.text.count('type="number" step="any"') == 30
    for name in FEATURES:
        assert f"{html.escape(name)} <span" in page.text  # each field is labelled with its name
    assert "row 1 of 114 of v1" in page.text
    assert "live in <strong>production</strong>" in page.text
    assert "not written to the prediction log" in page.text
    assert 'aria-current="page">Try it' in page.text


def test_another_reference_row_fills_other_values(ui: Ui) -> None:
    http = ui.browser("viewer")
    first = _fields(http.get(PAGE).text)

    other = http.get(PAGE, params={"row": "5"})

    assert "row 6 of 114" in other.text
    assert _fields(other.text) != first
    assert re.search(r'href="[^"]*/try\?environment=production&amp;row=\d+"', other.text)


def test_a_prediction_with_probabilities_from_the_live_version(ui: Ui) -> None:
    http = ui.browser("viewer")
    logged = _logged(ui)

    answer = http.post(PAGE, data=_form(http))

    assert answer.status_code == 200
    assert re.search(r'Prediction: <span class="prediction">[01]</span>', answer.text)
    assert "Answered by breast-cancer v1, live in production" in answer.text
    meters = re.findall(
        r'<meter min="0" max="1" value="([^"]+)" aria-label="[^"]+ (\d)"', answer.text
    )
    assert sorted(label for _, label in meters) == ["0", "1"]
    assert abs(sum(float(p) for p, _ in meters) - 1) < 1e-6
    assert _logged(ui) == logged  # nothing was written to the prediction log


def test_the_equivalent_curl_sends_the_submitted_values(ui: Ui) -> None:
    http = ui.browser("viewer")

    answer = http.post(PAGE, data=_form(http, **{"mean radius": "12.5"})).text

    curl = html.unescape(re.findall(r'<pre class="log curl">(.*?)</pre>', answer, re.S)[0])
    assert curl.startswith("curl -X POST http://testserver/predict")
    body = json.loads(curl.split("-d '", 1)[1].rstrip("'"))
    assert list(body) == ["records"]
    assert body["records"][0]["mean radius"] == 12.5
    assert list(body["records"][0]) == FEATURES


def test_a_value_that_is_not_a_number_is_400_naming_the_feature(ui: Ui) -> None:
    http = ui.browser("viewer")

    answer = http.post(PAGE, data=_form(http, **{"mean texture": "lots"}))

    assert answer.status_code == 400
    assert "mean texture: &#39;lots&#39; is not a number" in answer.text
    assert "1 value to fix" in answer.text
    assert "Prediction:" not in answer.text
    assert 'value="lots"' in answer.text  # shown as typed, to be fixed


def test_an_empty_value_is_400(ui: Ui) -> None:
    http = ui.browser("viewer")

    answer = http.post(PAGE, data=_form(http, **{"worst area": " "}))

    assert answer.status_code == 400
    assert "worst area: a number is needed" in answer.text


def test_a_missing_field_is_400(ui: Ui) -> None:
    http = ui.browser("viewer")
    data = _form(http)
    del data["feature:mean area"]

    answer = http.post(PAGE, data=data)

    assert answer.status_code == 400
    assert "mean area: no value was sent" in answer.text


def test_a_post_without_the_csrf_token_is_403(ui: Ui) -> None:
    http = ui.browser("viewer")
    data = _form(http)
    del data["csrf"]

    answer = http.post(PAGE, data=data)

    assert answer.status_code == 403
    assert "Prediction:" not in answer.text


def test_a_submitted_value_is_escaped_when_echoed(ui: Ui) -> None:
    http = ui.browser("viewer")

    answer = http.post(PAGE, data=_form(http, **{"mean radius": "<script>alert(1)</script>"}))

    assert answer.status_code == 400
    assert "<script>alert(1)" not in answer.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in answer.text


def test_a_feature_named_like_markup_is_escaped(ui: Ui) -> None:
    X = pd.DataFrame({"<script>": [0.0, 1.0, 2.0, 3.0], "plain": [1.0, 0.0, 1.0, 0.0]})
    fitted = LogisticRegression().fit(X, [0, 0, 1, 1])
    ui.client.register_model(
        "markup", fitted, task="classification", sample_input=X, gates=[], alias="dev"
    )
    http = ui.browser("viewer")

    page = http.get("/ui/models/markup/try")

    assert page.status_code == 200
    assert "<script>" not in page.text
    assert 'name="feature:&lt;script&gt;"' in page.text
    assert "medians" in page.text  # registered without an evaluation set
    answer = http.post("/ui/models/markup/try", data=_form(http, "/ui/models/markup/try"))
    assert answer.status_code == 200
    assert "Answered by markup v1, live in dev" in answer.text
    assert "&#34;&lt;script&gt;&#34;: 1.5" in answer.text  # the median, in the curl's JSON


def test_the_default_environment_is_the_last_one_with_a_version(ui: Ui) -> None:
    page = ui.browser("viewer").get(f"/ui/models/{IRIS}/try")  # waiting for production

    assert page.status_code == 200
    assert "live in <strong>staging</strong>" in page.text
    assert len(_fields(page.text)) == 4


def test_an_environment_with_nothing_live_says_how_to_promote(ui: Ui) -> None:
    page = ui.browser("viewer").get(f"/ui/models/{IRIS}/try", params={"environment": "production"})

    assert page.status_code == 200
    assert f"mlrelease promote {IRIS} VERSION --to production" in page.text
    assert "feature:" not in page.text


def test_an_unknown_model_is_404(ui: Ui) -> None:
    assert ui.browser("viewer").get("/ui/models/no-such-model/try").status_code == 404


def test_loaded_versions_are_kept_but_only_a_few(ui: Ui, monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[int] = []
    load = ui.client.registry.load_model

    def counted(version: VersionInfo) -> LoadedModel:
        loads.append(version.version)
        return load(version)

    monkeypatch.setattr(ui.client.registry, "load_model", counted)
    v1, v2, v3 = (ui.client.version(MODEL, number) for number in (1, 2, 3))
    cache = tryit.LoadedVersions(size=2)

    first = cache.get(ui.client, v1)
    assert cache.get(ui.client, v1) is first
    cache.get(ui.client, v2)
    cache.get(ui.client, v3)  # v1 goes: it was used longest ago
    assert cache.get(ui.client, v1) is not first

    assert loads == [1, 2, 3, 1]
    assert len(cache) == 2


def test_a_value_the_endpoint_refuses_gets_the_endpoints_words(ui: Ui) -> None:
    # The form reads 3.5 as a number; the served model's own validation refuses it
    # for a whole-number input, and its message goes beside the field.
    version = dataclasses.replace(
        ui.client.version(MODEL, 1),
        signature={"inputs": [{"name": "count", "kind": "int"}], "task": "classification"},
    )
    fields, record = tryit._read_form({"feature:count": "3.5"}, version)
    assert record == {"count": 3.5} and not fields[0].error

    checked, batch, problem = tryit._validate(fields, json.dumps({"records": [record]}), version)

    assert batch is None and problem is None
    assert checked[0].error is not None
    assert "count" in checked[0].error and "whole number" in checked[0].error
