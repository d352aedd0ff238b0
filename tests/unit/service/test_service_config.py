"""The service config refuses typos and impossible settings with a message naming them."""

from __future__ import annotations

import pytest
from repo_root import ROOT

from sequencer.config import parse_config
from sequencer.errors import BadInput, TooLarge
from sequencer.service.security import RateLimiter

ROLLUP = {"id": 901, "name": "op", "format": "opstack", "block_time_ms": 1000}


def doc(**tables: object) -> dict:
    return {"rollups": [ROLLUP], **tables}


def test_the_sample_config_parses() -> None:
    import tomllib

    sample = ROOT / "deploy" / "sequencer.sample.toml"
    cfg = parse_config(tomllib.loads(sample.read_text()), sample.parent)
    assert [r.rollup_id for r in cfg.core.rollups] == [901, 902, 903]
    assert cfg.core.rollups[2].policy.name == "evm-legacy"


@pytest.mark.parametrize(("document", "message"), [
    (doc(sequencer={"slot_msec": 50}), r"\[sequencer\]: unknown option\(s\) slot_msec"),
    (doc(domain={"chainid": 1}), r"\[domain\]: unknown option\(s\) chainid"),
    (doc(limits={"max_tx": 1}), r"\[limits\]: unknown option\(s\) max_tx"),
    (doc(tls={"cert": "x"}), r"\[tls\]: unknown option\(s\) cert"),
    ({"rollups": [{**ROLLUP, "format": "arbitrum"}]}, "unknown batch format 'arbitrum'"),
    ({"rollups": [{**ROLLUP, "block_time_ms": 1500}]}, "whole seconds"),
    ({"rollups": [{**ROLLUP, "blocktime": 1}]}, r"\[rollups\]: unknown option\(s\) blocktime"),
    ({"rollups": []}, "at least one"),
    (doc(sequencer={"rate_limit_tx_per_s": 100, "rate_limit_burst": 0}), "rate_limit_burst"),
    (doc(domain={"verifying_contract": "0x1234"}), "20-byte"),
    (doc(tls={"cert_file": "a.pem"}), "key_file"),
])
def test_bad_settings_are_refused(document: dict, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        parse_config(document)


def test_a_request_larger_than_the_burst_is_told_so() -> None:
    rl = RateLimiter(100, 4)
    with pytest.raises(TooLarge, match="over the burst of 4"):
        rl.take("client", 5)
    rl.take("client", 4)
