"""deploy/replicas/: three sequencer replicas and three JetStream nodes on one host (issue 12)."""

from __future__ import annotations

import re
import tomllib

import pytest
from repo_root import ROOT

from sequencer.config import parse_config
from sequencer.errors import BadInput

DIR = ROOT / "deploy" / "replicas"


def test_three_replicas_one_key_one_log_distinct_ports() -> None:
    cfgs = [parse_config(tomllib.loads((DIR / f"replica-{i}.toml").read_text()), DIR) for i in range(3)]
    listen = re.compile(r'^listen: "(127\.0\.0\.1:\d+)"$', re.M)
    nats_ports = set()
    for i in range(3):
        found = listen.search((DIR / f"nats-{i}.conf").read_text())
        assert found is not None
        nats_ports.add("nats://" + found[1])
    assert all(c.store == "jetstream" and c.jetstream is not None for c in cfgs)
    assert {c.key_file.resolve() for c in cfgs} == {cfgs[0].key_file.resolve()}
    assert {c.jetstream.stream for c in cfgs if c.jetstream} == {"sharedseq"}
    assert all(set(c.jetstream.servers) == nats_ports for c in cfgs if c.jetstream)
    listens = [c.listen for c in cfgs]
    assert len(set(listens)) == 3 and [c.jetstream.advertise for c in cfgs if c.jetstream] == listens
    assert len({c.metrics_listen for c in cfgs}) == 3


def test_jetstream_store_needs_servers_and_known_options() -> None:
    doc = tomllib.loads((DIR / "replica-0.toml").read_text())
    doc["jetstream"].pop("servers")
    with pytest.raises(BadInput, match="jetstream.servers"):
        parse_config(doc, DIR)
    doc = tomllib.loads((DIR / "replica-0.toml").read_text())
    doc["jetstream"]["lease_ttl"] = 5
    with pytest.raises(BadInput, match="lease_ttl"):
        parse_config(doc, DIR)
    doc = tomllib.loads((DIR / "replica-0.toml").read_text())
    doc["sequencer"]["store"] = "raft"
    with pytest.raises(BadInput, match="sequencer.store"):
        parse_config(doc, DIR)
