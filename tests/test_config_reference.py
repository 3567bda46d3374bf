"""docs/CONFIG.md is the settings model, written out: every key documented, in step."""

from __future__ import annotations

from pathlib import Path

from hlsd.config_reference import render

DOC = Path(__file__).resolve().parents[1] / "docs" / "CONFIG.md"


def test_the_config_reference_is_in_step_with_the_settings() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/CONFIG.md is stale: python -m hlsd.config_reference > docs/CONFIG.md")


def test_every_key_is_in_it_with_its_default_and_variable() -> None:
    text = render()
    for key in ("`cache.size` | size | `1GB`", "`live.window` | integer (≥ 3) | `6`",
                "`storage.create_bucket` | boolean | `false`",
                "`assets.ladder[].height`", "`http.header_timeout` | duration (> 0, ≤ 300) | `10s`",
                "HLSD_WEBSOCKET__<KEY>"):
        assert key in text, key
