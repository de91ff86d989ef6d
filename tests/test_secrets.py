"""Credentials never reach a saved config, manifest or report: masked by key and by value."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stillroom.config.secrets import MASK, scrub_hydra_output, scrub_secrets, secret_values

SECRET = "wandb-0123456789abcdef"


def test_keys_that_name_credentials_are_masked_but_tokenizers_are_not() -> None:
    config = {
        "teacher": {"tokenizer": "pkg:model", "max_tokens": 64},
        "logger": {"WANDB_API_KEY": "abc", "hf_token": "hf_x", "nested": [{"client-secret": "s", "password": "p"}]},
        "apikey": "k",
    }
    scrubbed = scrub_secrets(config, frozenset())
    assert scrubbed["teacher"] == {"tokenizer": "pkg:model", "max_tokens": 64}
    assert scrubbed["logger"] == {"WANDB_API_KEY": MASK, "hf_token": MASK, "nested": [{"client-secret": MASK, "password": MASK}]}
    assert scrubbed["apikey"] == MASK


def test_an_environment_secret_is_masked_under_any_key_and_inside_any_string() -> None:
    values = secret_values({"WANDB_API_KEY": SECRET, "HF_TOKEN": "1", "HOME": "/home/someone-long"})
    assert values == {SECRET}  # short flags and ordinary variables are not secrets
    scrubbed = scrub_secrets({"logger": {"entity": SECRET, "url": f"https://x:{SECRET}@host"}, "home": "/home/someone-long"}, values)
    assert scrubbed == {"logger": {"entity": MASK, "url": f"https://x:{MASK}@host"}, "home": "/home/someone-long"}


def test_hydras_record_of_the_job_is_rewritten_without_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", SECRET)
    (tmp_path / "overrides.yaml").write_text(yaml.safe_dump(["seed=3", "+logger.hf_token=hf_abcdefgh123", f"logger.entity={SECRET}"]))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"seed": 3, "logger": {"entity": SECRET, "hf_token": "hf_abcdefgh123"}}))
    untouched = tmp_path / "hydra.yaml"
    untouched.write_text("hydra:\n  job:\n    name: app\n")
    before = untouched.stat().st_mtime_ns
    scrub_hydra_output(tmp_path)
    assert yaml.safe_load((tmp_path / "overrides.yaml").read_text()) == ["seed=3", f"+logger.hf_token={MASK}", f"logger.entity={MASK}"]
    assert yaml.safe_load((tmp_path / "config.yaml").read_text()) == {"seed": 3, "logger": {"entity": MASK, "hf_token": MASK}}
    assert untouched.stat().st_mtime_ns == before  # nothing secret, nothing rewritten
