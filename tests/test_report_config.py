"""The report configuration: the default parses, bad keys and types are reported with their line."""

from __future__ import annotations

import re

import pytest

from compverify.cli import main
from compverify.errors import CompverifyError
from compverify.report.config import (
    SCHEMA,
    expand_cases,
    load_config,
    load_config_text,
    load_default,
    locate_keys,
)


def test_default_configuration_parses_and_validates():
    cfg = load_default()
    assert cfg.report["seed"] == 0
    # the main job: ReLU with M = d + 1 for d = 2, 3, 4, one polynomial activation, a sweep, a rate
    relu = [e for e in cfg.solve if e["activation"] == "relu"]
    assert relu and expand_cases(relu[0]) == [(2, 3), (3, 4), (4, 5)]
    assert any(e["activation"].startswith("polynomial:") for e in cfg.solve)
    assert cfg.conjecture is not None and cfg.rate is not None
    assert cfg.kernels is not None and cfg.meanfield is not None and cfg.gradients is not None
    # every key of the default file is in the schema (validation would have failed otherwise)
    for name in ("report", "kernels", "gradients", "meanfield", "conjecture", "rate"):
        assert set(getattr(cfg, name)) <= set(SCHEMA[name]["fields"])


def _err(text: str) -> str:
    with pytest.raises(CompverifyError) as exc:
        load_config_text(text, source="cfg.toml")
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


BASE = """\
# a comment
[report]
seed = 1
title = "t = x"   # an '=' inside a string

[kernels]
activations = [
    "relu",
    "erf",
]

[[solve]]
activation = "relu"
d = [2]
M = ["d+1"]

[[solve]]
activation = "relu"
d = 3
M = 4
"""


def test_unknown_key_names_line_and_key():
    msg = _err(BASE + "restart = 5\n")  # in the second [[solve]] table, line 21
    assert msg.startswith("cfg.toml, line 21:"), msg
    assert "'solve[1].restart'" in msg and "restarts" in msg  # the known keys are listed


def test_unknown_key_after_multiline_array():
    text = BASE.replace('    "erf",\n]', '    "erf",\n]\nactivation = "relu"')
    msg = _err(text)
    assert msg.startswith("cfg.toml, line 11:"), msg
    assert "'kernels.activation'" in msg


def test_unknown_table_names_line():
    msg = _err(BASE + "\n[solver]\nd = 2\n")
    assert msg.startswith("cfg.toml, line 22:") and "'solver'" in msg, msg


@pytest.mark.parametrize("line_no, old, new, key", [
    (3, "seed = 1", 'seed = "one"', "report.seed"),
    (14, "d = [2]", "d = [2.5]", "solve[0].d"),
    (19, "d = 3", "d = true", "solve[1].d"),
    (20, "M = 4", 'M = "2*x"', "solve[1].M"),
    (7, '    "relu",', "    1,", "kernels.activations"),  # the line of the key
])
def test_wrong_type_names_line_and_key(line_no, old, new, key):
    assert old in BASE
    msg = _err(BASE.replace(old, new, 1))
    assert msg.startswith(f"cfg.toml, line {line_no}:"), msg
    assert f"'{key}'" in msg


def test_wrong_types_in_numeric_keys():
    msg = _err('[rate]\nd = [2]\nN = [10, 100]\nsamples = 0\n')
    assert msg.startswith("cfg.toml, line 4:") and "'rate.samples'" in msg and ">= 1" in msg
    msg = _err('[[solve]]\nactivation = "relu"\ndps = 5\n')
    assert msg.startswith("cfg.toml, line 3:") and "'solve[0].dps'" in msg


def test_width_below_one_names_line():
    msg = _err('[[solve]]\nd = [1, 2]\nM = ["d-1"]\n')
    assert msg.startswith("cfg.toml, line 3:") and "'solve[0].M'" in msg and "< 1" in msg


def test_from_excludes_other_keys():
    msg = _err('[rate]\nfrom = "r.json"\nsamples = 3\n')
    assert msg.startswith("cfg.toml, line 3:") and "'rate.samples'" in msg and "from" in msg


def test_syntax_error_and_empty_config():
    assert "not valid TOML" in _err("[report\nseed = 1\n")
    assert "asks for nothing" in _err("[report]\nseed = 1\n")


def test_locate_keys_handles_quotes_dotted_keys_and_multiline_strings():
    text = ('[report]\ntitle = """\nseed = 2\n"""\n"jobs" = 1\n'
            "[kernels]\nactivations = ['relu'] # seed = 3\n"
            "[meanfield]\nactivations.x = 1\n")
    locs = locate_keys(text)
    assert ("report", "seed") not in locs  # inside the multi-line string
    assert locs[("report", "jobs")] == 5
    assert locs[("kernels", "activations")] == 7
    assert locs[("meanfield", "activations", "x")] == 9


def test_inline_table_falls_back_to_its_line():
    msg = _err('report = {seed = 1, colour = "red"}\n[kernels]\nactivations = ["relu"]\n')
    assert msg.startswith("cfg.toml, line 1:") and "'report.colour'" in msg


def test_cli_bad_config_one_line_exit_2(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[report]\nseed = 0\n[kernels]\nactivations = ["relu"]\nfoo = 1\n')
    rc = main(["report", "--config", str(cfg), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and re.search(r"line 5: unknown key 'kernels\.foo'", err), err
    assert not (tmp_path / "out").exists()


def test_cli_missing_config_exit_2(tmp_path, capsys):
    rc = main(["report", "--config", str(tmp_path / "nope.toml")])
    assert rc == 2 and "not found" in capsys.readouterr().err


def test_load_config_resolves_from_paths(tmp_path):
    cfg_path = tmp_path / "c.toml"
    cfg_path.write_text('[rate]\nfrom = "sub/rate.json"\n')
    cfg = load_config(cfg_path)
    assert cfg.resolve(cfg.rate["from"]) == tmp_path / "sub" / "rate.json"


def test_print_default_config(capsys):
    assert main(["report", "--print-default-config"]) == 0
    text = capsys.readouterr().out
    assert load_config_text(text).as_dict() == load_default().as_dict()
