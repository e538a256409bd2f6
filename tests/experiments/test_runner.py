"""The experiment runner: registry, verdict rows, the report writer, run reuse and the CLI's one-line errors."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from exp_checks import check_section  # noqa: E402

from animegen.cli.main import main  # noqa: E402
from animegen.experiments import claims  # noqa: E402
from animegen.experiments.core import REGISTRY, Context, Result, Row, get, parse_reuse  # noqa: E402
from animegen.experiments.writeout import fmt, verdict_table, write_section  # noqa: E402

EIGHT = ("ae-vs-vae", "latent-distances", "perturbation", "blend", "kl-balance", "gan-vs-vae", "dcgan-seed002",
         "mnist")


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_registry_names_all_eight_experiments_with_their_seed():
    assert tuple(REGISTRY) == EIGHT
    assert {e.seed for e in REGISTRY.values()} == {"000", "001", "002", "003"}
    assert all(e.default_minutes > 0 and e.title for e in REGISTRY.values())


def test_help_lists_all_eight(capsys):
    code, out, _ = run_cli(["experiment", "--help"], capsys)
    assert code == 0
    text = " ".join(out.split())
    for name in EIGHT:
        assert name in text


def test_row_refuses_an_unknown_verdict():
    with pytest.raises(ValueError, match="verdict"):
        Row("c", "1", "2", "s", "maybe")  # type: ignore[arg-type]


def test_claims_are_data_with_the_article_numbers():
    assert claims.claim("000.vae_mean_std").value == pytest.approx(0.2)
    assert claims.claim("000.same_distance").low == pytest.approx(1.15)
    assert claims.article("000.different_distance") == "> 2.0"
    with pytest.raises(Exception, match="no claim"):
        claims.claim("999.nothing")


def test_verdict_table_escapes_pipes_and_newlines():
    table = verdict_table([Row("a | b", "1", "2\n3", "s", "differs", "w")])
    lines = table.splitlines()
    assert lines[0] == "| claim | article | ours | setup | verdict | why |"
    assert lines[2] == "| a \\| b | 1 | 2 3 | s | differs | w |"


def test_fmt_keeps_three_significant_digits():
    assert fmt(0.123456) == "0.123"
    assert fmt(4246.2) == "4246" and fmt(53.53) == "53.5"
    assert fmt(2.5e-5) == "2.50e-05"
    assert fmt(float("nan")) == "nan"


def test_write_section_writes_marked_markdown_and_json(tmp_path):
    from animegen.imaging import save_png

    exp = get("blend")
    ctx = exp.context(tmp_path)
    ctx.section = exp.name
    img = ctx.file("x.png")
    import numpy as np

    save_png(np.zeros((4, 4, 3), np.uint8), img)
    res = Result([Row("c", "1", "2", "s", "reproduced", "w")], {"x": float("inf"), "p": tmp_path}, {"pic": img},
                 ["a note"])
    md = write_section(exp, ctx, res, {"command": "animegen experiment blend"})
    data = check_section(md)
    assert data["numbers"]["x"] is None and data["images"] == {"pic": "x.png"}
    assert "a note" in md.read_text()


def test_parse_reuse(tmp_path):
    assert parse_reuse([f"vae50-64={tmp_path}"]) == {"vae50-64": tmp_path}
    for bad in ("novalue", "=x", f"Bad Key={tmp_path}"):
        with pytest.raises(Exception, match="KEY=PATH"):
            parse_reuse([bad])
    with pytest.raises(Exception, match="does not exist"):
        parse_reuse([f"k={tmp_path / 'missing'}"])


def test_context_train_reuses_runs_by_key_and_config(tmp_path):
    exp = get("latent-distances")
    ctx = exp.context(tmp_path, 0.01, max_steps=2)
    over = ["data.size=32", "model.widths=[8,8,8,8]", "model.latent_dim=4"]
    run = ctx.train("toy", "ae", 0.05, over, data="synth:40")
    assert (run / "final.safetensors").is_file()
    assert ctx.train("toy", "ae", 0.05, over, data="synth:40") == run  # same invocation
    fresh = exp.context(tmp_path, 0.01, max_steps=2)
    assert fresh.train("toy", "ae", 0.05, over, data="synth:40") == run  # on disk, same config
    index = json.loads((tmp_path / "runs" / "experiment-runs.json").read_text())
    assert index["toy"]["run"] == run.name
    other = exp.context(tmp_path, 0.01, max_steps=3).train("toy", "ae", 0.05, over, data="synth:40")
    assert other != run  # another config: trained again
    given = Context(out=tmp_path, reuse={"toy": run}).train("toy", "ae", 1.0)
    assert given == run


@pytest.mark.parametrize("argv, msg", [
    (["experiment", "nope"], "unknown experiment 'nope'"),
    (["experiment", "blend", "--minutes", "0"], "--minutes must be positive"),
    (["experiment", "blend", "--run", "x"], "KEY=PATH"),
    (["experiment", "blend", "--threads", "0"], "--threads must be at least 1"),
])
def test_user_mistakes_are_one_line(argv, msg, capsys, tmp_path):
    code, _, err = run_cli([*argv, "--out", str(tmp_path / "o")], capsys)
    assert code != 0 and msg in err and err.startswith("error: ") and "Traceback" not in err


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("mine")
    code, _, err = run_cli(["experiment", "blend", "--out", str(f)], capsys)
    assert code != 0 and "is a file" in err


def test_a_report_we_did_not_write_is_never_replaced(tmp_path, capsys):
    (tmp_path / "blend").mkdir()
    (tmp_path / "blend" / "report.md").write_text("my notes\n")
    code, _, err = run_cli(["experiment", "blend", "--out", str(tmp_path)], capsys)
    assert code != 0 and "not written by animegen" in err
    assert (tmp_path / "blend" / "report.md").read_text() == "my notes\n"


def test_all_runs_the_available_experiments_splits_minutes_and_writes_an_index(tmp_path, monkeypatch):
    import types

    from animegen.experiments import core, runner

    seen = {}

    def fake_run(ctx):
        seen[ctx.section] = ctx.scale
        return Result([Row("c", "1", "2", "s", "differs", "w")], {"runs": {}})

    mod = types.ModuleType("animegen.experiments.fake_exp")
    mod.run = fake_run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "animegen.experiments.fake_exp", mod)
    fake = {"one": core.Experiment("one", "000", "first", "fake_exp", 1.0),
            "two": core.Experiment("two", "000", "second", "fake_exp", 3.0),
            "gone": core.Experiment("gone", "001", "not built", "no_such_module", 1.0)}
    monkeypatch.setattr(runner, "REGISTRY", fake)
    monkeypatch.setattr(core, "REGISTRY", fake)
    mds = runner.run_experiments(["all"], tmp_path, minutes=8.0)
    assert [m.parent.name for m in mds] == ["one", "two"]  # the missing module is skipped
    assert seen == {"one": pytest.approx(2.0), "two": pytest.approx(2.0)}  # 8 min split 1:3 → scale 2 each
    index = (tmp_path / "README.md").read_text()
    assert "| one | 000 |" in index and "two/report.md" in index
    with pytest.raises(Exception, match="not part of this build"):
        runner.run_experiments(["gone"], tmp_path)


def test_all_keeps_going_past_an_experiment_that_cannot_run(tmp_path, monkeypatch):
    import types

    from animegen.errors import AnimegenError
    from animegen.experiments import core, runner

    def ok(ctx):
        return Result([Row("c", "1", "2", "s", "differs", "w")])

    def no_data(ctx):
        raise AnimegenError("no MNIST folder")

    for name, fn in (("fake_ok", ok), ("fake_bad", no_data)):
        mod = types.ModuleType(f"animegen.experiments.{name}")
        mod.run = fn  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, f"animegen.experiments.{name}", mod)
    fake = {"bad": core.Experiment("bad", "003", "needs data", "fake_bad", 1.0),
            "good": core.Experiment("good", "000", "runs", "fake_ok", 1.0)}
    monkeypatch.setattr(runner, "REGISTRY", fake)
    monkeypatch.setattr(core, "REGISTRY", fake)
    with pytest.raises(core.ExperimentError, match=r"1 of 2 experiments could not run: bad \(no MNIST folder\)"):
        runner.run_experiments(["all"], tmp_path)
    assert (tmp_path / "good" / "report.md").is_file() and "good/report.md" in (tmp_path / "README.md").read_text()
    with pytest.raises(AnimegenError, match="no MNIST folder"):  # alone, its own error
        runner.run_experiments(["bad"], tmp_path)
