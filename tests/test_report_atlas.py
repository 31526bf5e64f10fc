"""The atlas section of the report: findings from stored cases, the heat map, the built report."""

from __future__ import annotations

import json
from pathlib import Path

from compverify.proofs_check.atlas import AtlasParams
from compverify.report.build import build_report
from compverify.report.config import load_config_text
from compverify.report.section_atlas import atlas_heatmap_png, findings


def _case(d, M, rel, verdict, *, etf_rel=None, gap=None, zero=None, exists="does not exist",
          built=None, coherence="0.5", welch="0.4"):
    return {"d": d, "M": M, "relative_loss": rel,
            "frame": {"verdict": verdict, "coherence": coherence, "welch_bound": welch,
                      "tightness_defect": "1e-3", "equiangularity_spread": "0.1",
                      "etf_existence": {"status": exists, "reason": "test"},
                      "etf": {"construction": built} if built else None,
                      "etf_relative_loss": etf_rel, "etf_gap": gap,
                      "etf_gap_uncertainty": "1e-20" if gap is not None else None,
                      "etf_gap_zero_within_uncertainty": zero},
            "result": {"dps": 20, "evidence": {"verified_digits": 20, "status": "strict"}}}


def _sweep() -> dict:
    head = AtlasParams(max_params=16, restarts=2, dps=20).header()
    cases = [
        _case(2, 3, "0.01", "ETF", etf_rel="0.01", gap="0.0", zero=True, exists="exists",
              built="simplex", coherence="0.5", welch="0.5"),
        _case(2, 4, "0.004", "tight, not equiangular", coherence="0.7071", welch="0.5774"),
        _case(2, 5, "0.002", "neither", coherence="0.81", welch="0.6124"),
        _case(3, 4, "0.02", "neither", etf_rel="0.03", gap="0.01", zero=False, exists="exists",
              built="simplex"),
    ]
    return {**head, "cases": cases, "failed": [], "complete": True}


def test_findings_sort_the_cases():
    f = findings(_sweep())
    assert [(r["d"], r["M"]) for r in f["etf_optimal"]] == [(2, 3)]
    assert [(r["d"], r["M"]) for r in f["etf_beaten"]] == [(3, 4)]
    assert [(r["d"], r["M"]) for r in f["no_etf"]] == [(2, 4), (2, 5)]
    assert f["etf_not_built"] == []
    ratio = f["no_etf"][0]["coherence_over_welch"]
    assert abs(ratio - 0.7071 / 0.5774) < 1e-12
    assert f["verdicts"] == {"ETF": 1, "tight, not equiangular": 1, "neither": 2}


def test_heatmap_is_a_png():
    data = atlas_heatmap_png(_sweep())
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


def test_report_with_a_loaded_atlas(tmp_path: Path):
    (tmp_path / "atlas.json").write_text(json.dumps(_sweep()))
    cfg = load_config_text('[report]\nformats = ["markdown"]\n[atlas]\nfrom = "atlas.json"\n',
                           source="t.toml", base_dir=tmp_path)
    out = tmp_path / "out"
    build_report(cfg, out, progress="off")
    assert (out / "figures" / "atlas.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "results" / "atlas.json").read_text())["cases"][0]["d"] == 2
    md = (out / "report.md").read_text()
    assert "The ETF atlas" in md
    assert "Optimum on the ETF (gap zero within its uncertainty): (2, 3)." in md
    assert "An ETF is built but the optimum is lower: (3, 4)." in md
