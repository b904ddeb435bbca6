"""`mlrelease report`: the PR comment (Markdown or HTML) and its PNG plots, from a real registry."""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from mlrelease.cli import _ErrorTranslatingGroup
from mlrelease.cli import app as main_app
from mlrelease.cli.report import register
from mlrelease.client import Client
from mlrelease.deploy.report import (
    MARKER,
    DataSummary,
    GateRow,
    MetricRow,
    Plot,
    Report,
    build_report,
    render_html,
    render_markdown,
    write_report,
)
from mlrelease.deploy.report import _write as report_write
from mlrelease.errors import ConfigError

runner = CliRunner()
MODEL = "breast-cancer"
# No store settings may leak in from the developer's environment.
ENV: dict[str, str | None] = {
    "MLRELEASE_DB": None,
    "MLRELEASE_ARTIFACTS": None,
    "MLRELEASE_FILE": None,
    "MLRELEASE_ACTOR": "tester",
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def report_app() -> typer.Typer:
    app = typer.Typer(cls=_ErrorTranslatingGroup, add_completion=False, rich_markup_mode=None)

    @app.callback()
    def _root() -> None:
        """Keeps `report` a subcommand."""

    register(app)
    return app


def invoke(app: typer.Typer, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env=ENV, catch_exceptions=False)
    return result.exit_code, result.output


def report(project: Path, *args: str) -> tuple[int, str]:
    return invoke(report_app(), "report", *args, "--file", str(project / "mlrelease.yaml"))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """breast-cancer v1 live in production, and v2 (trained with other params) in dev.

    Module-scoped (training twice is most of this file's time); tests only read it,
    apart from one that registers a model of another name.
    """
    folder = tmp_path_factory.mktemp("classifier")
    assert invoke(main_app, "quickstart", str(folder))[0] == 0
    spec = folder / "mlrelease.yaml"
    spec.write_text(spec.read_text().replace("{solver: liblinear}", "{solver: liblinear, C: 0.02}"))
    code, output = invoke(main_app, "quickstart", str(folder), "--force")
    assert code == 0, output
    with Client.from_project(spec, env={}) as client:
        client.promote(MODEL, 1, "staging", actor="tester")
        request = client.promote(MODEL, 1, "production", actor="tester")
        client.approve(request.id, actor="lead")
        assert client.registry.model(MODEL).aliases == {"dev": 2, "staging": 1, "production": 1}
    return folder


def assert_png(path: Path) -> None:
    import matplotlib.image

    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 5_000, path
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 200 and pixels.shape[1] > 200


def metric_row(markdown: str, metric: str) -> list[str]:
    (line,) = [line for line in markdown.splitlines() if line.startswith(f"| `{metric}`")]
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_markdown_report_compares_with_the_production_champion(
    project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "not-yet" / "report.md"
    code, output = report(project, MODEL, "2", "--out", str(out))
    assert code == 0, output
    text = out.read_text()
    lines = text.splitlines()
    assert lines[0] == MARKER
    assert lines[1] == "## ✅ breast-cancer v2 passed all 2 quality gates"
    assert "Compared with v1, the version live in production." in text
    assert "| Metric | v2 | v1 (production) | Δ |" in text

    with Client.from_project(project / "mlrelease.yaml", env={}) as client:
        v1, v2 = client.version(MODEL, 1).metrics, client.version(MODEL, 2).metrics
    # Same data, same split: v1 scored on v2's evaluation rows is v1's own test score.
    name, value, champion, delta = metric_row(text, "macro_f1")
    assert name == "`macro_f1` ↑"
    assert (value, champion) == (f"{v2['macro_f1']:.4f}", f"{v1['macro_f1']:.4f}")
    difference = v2["macro_f1"] - v1["macro_f1"]
    assert difference != 0  # C changed between the versions
    assert delta == f"{difference:+.4f} {'🟢' if difference > 0 else '🔴'}"

    assert "| ✅ | `macro_f1 >= 0.5` |" in text
    assert "| ✅ | `macro_f1 >= champion.macro_f1 - 0.01` |" in text
    assert "- **Evaluation rows:** 114" in text and "- **Features:** 30" in text
    assert "- **Data source:** `sklearn:load_breast_cancer`" in text
    assert re.search(r"- \*\*Data fingerprint:\*\* `sha256:[0-9a-f]{64}`", text)
    assert re.search(r"- \*\*Training run:\*\* `[0-9a-f]{32}`", text)
    assert "- **Git commit:** unknown" in text

    for slug in ("confusion-matrix", "roc", "metric-history"):
        assert f"](report-{slug}.png)" in text
        assert_png(out.parent / f"report-{slug}.png")
    assert "wrote" in output and "report-roc.png" in output
    assert not list(out.parent.glob(".*.tmp"))


def test_html_report_links_its_plots_and_is_well_formed(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "page.html"  # the format follows the suffix
    code, output = report(project, MODEL, "2", "--out", str(out))
    assert code == 0, output
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    root = ET.fromstring(page.split("\n", 1)[1])  # well-formed XML after the doctype
    sources = [image.get("src") for image in root.iter("img")]
    assert sources == ["page-confusion-matrix.png", "page-roc.png", "page-metric-history.png"]
    for source in sources:
        assert_png(tmp_path / str(source))
    assert "passed all 2 quality gates" in page and "v1 (production)" in page


def test_the_text_and_the_plots_are_the_same_bytes_every_time(
    project: Path, tmp_path: Path
) -> None:
    with Client.from_project(project / "mlrelease.yaml", env={}) as client:
        first = write_report(build_report(client.registry, MODEL, 2), tmp_path / "a" / "r.md")
        second = write_report(build_report(client.registry, MODEL, 2), tmp_path / "b" / "r.md")
    assert [path.name for path in first] == [path.name for path in second]
    assert [path.name for path in first][-1] == "r.md"  # the text is written last
    for one, two in zip(first, second, strict=True):
        assert one.read_bytes() == two.read_bytes(), one.name
    assert b"Software" not in first[0].read_bytes()


def test_nothing_live_in_the_environment_is_a_note_not_an_error(
    project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report.md"
    code, output = report(project, MODEL, "1", "--against", "qa", "--out", str(out))
    assert code == 0, output
    text = out.read_text()
    assert "Nothing is live in qa: no champion to compare with, so no deltas." in text
    assert "| Metric | v1 |\n" in text and "Δ" not in text
    assert metric_row(text, "accuracy")[0] == "`accuracy` ↑"


def test_the_champion_itself_shows_zero_deltas(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    assert report(project, MODEL, "1", "--out", str(out))[0] == 0
    text = out.read_text()
    assert metric_row(text, "accuracy")[3] == "+0.0000"
    assert "v1 is itself live in production" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [((MODEL, "9"), "has no version 9"), (("nope", "1"), "no model named 'nope'")],
)
def test_an_unknown_model_or_version_exits_4_and_writes_nothing(
    project: Path, tmp_path: Path, args: tuple[str, str], message: str
) -> None:
    out = tmp_path / "out" / "report.md"
    code, output = report(project, *args, "--out", str(out))
    assert code == 4 and message in output
    assert not out.parent.exists()


def test_without_matplotlib_it_says_which_extra_and_writes_nothing(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    out = tmp_path / "out" / "report.md"
    code, output = report(project, MODEL, "2", "--out", str(out))
    assert code == 2 and "pip install 'mlrelease[report]'" in output
    assert not out.parent.exists()


def test_a_failed_write_leaves_no_part_of_the_report(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "report.md"
    out.write_text("the previous report\n")
    staged: list[Path] = []
    real_stage = report_write._stage

    def failing_stage(path: Path, data: bytes) -> str:
        if len(staged) == 2:
            raise OSError(28, "No space left on device")
        staged.append(path)
        return real_stage(path, data)

    monkeypatch.setattr(report_write, "_stage", failing_stage)
    with Client.from_project(project / "mlrelease.yaml", env={}) as client:
        built = build_report(client.registry, MODEL, 2)
    with pytest.raises(ConfigError, match="No space left on device"):
        write_report(built, out)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["report.md"]
    assert out.read_text() == "the previous report\n"


def test_a_version_without_an_evaluation_set_skips_its_prediction_plots(
    project: Path, tmp_path: Path
) -> None:
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0] * 5, "b": [1.0, 0.0, 1.0, 0.0] * 5})
    y = np.array([0, 0, 1, 1] * 5)
    with Client.from_project(project / "mlrelease.yaml", env={}) as client:
        client.register_model(
            "no-eval",
            LogisticRegression().fit(X, y),
            task="classification",
            sample_input=X,
            metrics={"accuracy": 0.75},
            gates=["accuracy >= 0.5"],
        )
        built = build_report(client.registry, "no-eval", 1)
        written = write_report(built, tmp_path / "report.md")
    assert [plot.slug for plot in built.plots] == ["metric-history"]
    assert [path.name for path in written] == ["report-metric-history.png", "report.md"]
    text = written[-1].read_text()
    assert "registered without an evaluation set" in text
    assert "- **Evaluation rows:** none stored" in text and "- **Features:** 2" in text


def test_a_regression_report_plots_residuals_and_predictions(isolated_env: Path) -> None:
    assert invoke(main_app, "init", "--task", "regression")[0] == 0
    code, output = invoke(main_app, "run")
    assert code == 0, output
    code, output = invoke(report_app(), "report", "diabetes", "1", "--out", "ci/report.md")
    assert code == 0, output
    text = (isolated_env / "ci" / "report.md").read_text()
    assert text.startswith(MARKER + "\n## ✅ diabetes v1 passed")
    assert "Nothing is live in production" in text
    assert metric_row(text, "rmse")[0] == "`rmse` ↓" and metric_row(text, "r2")[0] == "`r2` ↑"
    for slug in ("residuals", "predicted-vs-actual", "metric-history"):
        assert f"](report-{slug}.png)" in text
        assert_png(isolated_env / "ci" / f"report-{slug}.png")
    assert "confusion" not in text


def test_the_command_has_help() -> None:
    code, output = invoke(report_app(), "report", "--help")
    assert code == 0 and "--against" in output and "mlrelease[report]" in output


# -- rendering, on a hand-made report ------------------------------------------------------

HOSTILE = "<script>alert(1)</script> | [x](http://evil) @team #1 `tick` & $x$"


@pytest.fixture
def failing() -> Report:
    return Report(
        model="m",
        version=3,
        task="classification",
        against="production",
        champion=2,
        metrics=(
            MetricRow("accuracy", 0.9, 0.95, higher_is_better=True),
            MetricRow("log_loss", 0.2, 0.3, higher_is_better=False),
            MetricRow("custom", 1.0, None, higher_is_better=None),
        ),
        gates=(
            GateRow("accuracy >= 0.5", True, 0.9, 0.5, "0.9 >= 0.5"),
            GateRow("accuracy >= champion.accuracy", False, 0.9, 0.95, HOSTILE),
        ),
        data=DataSummary(120, 4, "sha256:ab", HOSTILE, "0123abc", True, "run1"),
        history=(),
        plots=(Plot("roc", "ROC <curve>"),),
        notes=(HOSTILE, "- a note that starts like a list item"),
        artifact_sha256="f" * 64,
    )


def test_markdown_of_a_failed_version_escapes_what_the_registry_holds(failing: Report) -> None:
    text = render_markdown(failing, {"roc": "my report-roc.png"})
    assert text.splitlines()[:2] == [MARKER, "## ❌ m v3 failed 1 of 2 quality gates"]
    assert "<script>" not in text and "\\<script\\>" in text
    assert "\\[x\\](http://evil)" in text and "\\@team \\#1" in text and "\\$x\\$" in text
    (gate,) = [line for line in text.splitlines() if line.startswith("| ❌ |")]
    assert gate.count(" | ") == 4  # the note's pipe cannot open a new cell
    assert "| `accuracy` ↑ | 0.9000 | 0.9500 | -0.0500 🔴 |" in text
    assert "| `log_loss` ↓ | 0.2000 | 0.3000 | -0.1000 🟢 |" in text
    assert "| `custom` | 1.0000 | — | — |" in text
    assert "`0123abc` (dirty: uncommitted changes)" in text
    assert "![ROC \\<curve\\>](my%20report-roc.png)" in text
    assert "- \\- a note that starts like a list item" in text


def test_html_of_a_failed_version_escapes_what_the_registry_holds(failing: Report) -> None:
    page = render_html(failing, {"roc": "report-roc.png"})
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    root = ET.fromstring(page.split("\n", 1)[1])
    banner = next(p for p in root.iter("p") if "banner" in (p.get("class") or ""))
    assert banner.get("class") == "banner alert"
    assert "failed 1 of 2 quality gates" in "".join(banner.itertext())
    (failed,) = [row for row in root.iter("tr") if row.get("class") == "failed"]
    assert HOSTILE in "".join(failed.itertext())
