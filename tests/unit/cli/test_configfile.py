"""The one TOML loader (sequencer/configfile.py): unknown keys refused, values coerced and checked, every
error naming `table.key`, defaults only from the schema."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sequencer.configfile import (
    NON_NEGATIVE,
    POSITIVE,
    between,
    load_table,
    one_of,
    option,
    options_of,
    read_toml,
)
from sequencer.errors import BadInput, ConfigError


@dataclass(frozen=True, slots=True)
class Limits:
    max_items: int = option(16, rule=POSITIVE)
    stall_s: float = 10.0


@dataclass(frozen=True, slots=True)
class Peer:
    url: str
    weight: float = option(1.0, rule=between(0, 1))


@dataclass(frozen=True, slots=True)
class Server:
    name: str
    slot_ms: int = option(100, rule=POSITIVE)
    lag: int = option(0, rule=NON_NEGATIVE)
    ratio: float = 0.5
    verbose: bool = False
    store: str = option("sqlite", rule=one_of("sqlite", "jetstream"))
    data_dir: Path = Path("var/data")
    ca_file: Path | None = None
    inbox: str | None = None
    servers: tuple[str, ...] = ()
    limits: Limits = option(inline=True, default_factory=Limits)
    peers: tuple[Peer, ...] = ()
    extra: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        if self.store == "jetstream" and not self.servers:
            raise ValueError("store = 'jetstream' needs servers")


def load(doc: dict[str, Any], base: Path | None = None) -> Server:
    return load_table(Server, doc, "server", base=base)


def test_defaults_come_from_the_schema_alone() -> None:
    s = load({"name": "a"})
    assert s == Server("a")
    assert (s.slot_ms, s.store, s.limits.max_items, s.data_dir, s.ca_file) == (100, "sqlite", 16, Path("var/data"),
                                                                              None)
    assert options_of(Server) == ["name", "slot_ms", "lag", "ratio", "verbose", "store", "data_dir", "ca_file",
                                  "inbox", "servers", "max_items", "stall_s", "peers", "extra"]


@pytest.mark.parametrize(("key", "value", "want"), [
    ("slot_ms", 250, 250),
    ("slot_ms", 250.0, 250),            # an integral float loses nothing
    ("slot_ms", "250", 250),            # nor does a decimal string
    ("ratio", 1, 1.0),
    ("ratio", "0.25", 0.25),
    ("name", 901, "901"),               # a bare number where a name is wanted
    ("verbose", True, True),
    ("servers", ["nats://a", "nats://b"], ("nats://a", "nats://b")),
    ("max_items", 3, 3),                # an inline option sits in the parent's table
])
def test_values_are_coerced_to_the_field_type(key: str, value: Any, want: Any) -> None:
    s = load({"name": "a", key: value})
    got = s.limits.max_items if key == "max_items" else getattr(s, key)
    assert got == want and type(got) is type(want)


def test_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    s = load({"name": "a", "data_dir": "d", "ca_file": "/etc/ca.pem"}, base=tmp_path)
    assert s.data_dir == tmp_path / "d" and s.ca_file == Path("/etc/ca.pem")
    assert load({"name": "a"}, base=tmp_path).data_dir == Path("var/data")  # a default is not re-based


@pytest.mark.parametrize(("doc", "message"), [
    ({"name": "a", "slot_ms": "abc"}, "server.slot_ms: expected a positive integer, got 'abc'"),
    ({"name": "a", "slot_ms": 0}, "server.slot_ms: expected a positive integer, got 0"),
    ({"name": "a", "slot_ms": 1.5}, "server.slot_ms: expected a positive integer, got 1.5"),
    ({"name": "a", "slot_ms": True}, "server.slot_ms: expected a positive integer, got True"),
    ({"name": "a", "lag": -1}, "server.lag: expected a non-negative integer, got -1"),
    ({"name": "a", "ratio": "half"}, "server.ratio: expected a number, got 'half'"),
    ({"name": "a", "ratio": float("inf")}, "server.ratio: expected a number, got inf"),
    ({"name": "a", "verbose": "yes"}, "server.verbose: expected true or false, got 'yes'"),
    ({"name": "a", "store": "raft"}, "server.store: expected one of 'sqlite', 'jetstream', got 'raft'"),
    ({"name": "a", "data_dir": 3}, r"server.data_dir: expected a path \(a string\), got 3"),
    ({"name": "a", "servers": "nats://a"}, "server.servers: expected a list of strings, got 'nats://a'"),
    ({"name": "a", "servers": ["nats://a", {}]}, r"server.servers\[1\]: expected a string, got \{\}"),
    ({"name": {"x": 1}}, r"server.name: expected a string, got \{'x': 1\}"),
    ({"name": "a", "max_items": 0}, "server.max_items: expected a positive integer, got 0"),
    ({}, r"server.name: missing: this option is required \(a string\)"),
])
def test_wrong_values_name_table_key(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{message}$") as err:
        load(doc)
    assert str(err.value).startswith(err.value.key + ": ")


def test_unknown_options_are_refused_with_the_known_ones() -> None:
    with pytest.raises(ConfigError) as err:
        load({"name": "a", "slot_msec": 5, "lagg": 1})
    text = str(err.value)
    assert text.startswith("[server]: unknown option(s) lagg, slot_msec (unknown key(s) server.lagg, "
                           "server.slot_msec); known: ")
    assert "slot_ms" in text.split("known: ")[1] and "max_items" in text.split("known: ")[1]
    assert err.value.key == "server.lagg"
    # keys another program reads from the same table are accepted when named
    assert load_table(Server, {"name": "a", "operator": "0x"}, "server", ignore=frozenset({"operator"})).name == "a"


def test_nested_tables_and_arrays_of_tables_name_their_path() -> None:
    s = load({"name": "a", "extra": {"max_items": 4}, "peers": [{"url": "x"}, {"url": "y", "weight": 0.5}]})
    assert s.extra.max_items == 4 and s.peers == (Peer("x"), Peer("y", 0.5))
    cases = [
        ({"extra": {"max_items": -2}}, r"^server.extra.max_items: expected a positive integer, got -2$"),
        ({"extra": {"maxitems": 1}}, r"^\[server.extra\]: unknown option\(s\) maxitems "
                                     r"\(unknown key\(s\) server.extra.maxitems\)"),
        ({"extra": 3}, r"^server.extra: expected a table \(\[server.extra\]\), got 3$"),
        ({"peers": [{"url": "x"}, {"weight": 0.5}]}, r"^server.peers\[1\].url: missing"),
        ({"peers": [{"url": "x", "weight": 2}]}, r"^server.peers\[0\].weight: expected a number from 0 to 1, got 2$"),
        ({"peers": [{"url": "x", "wieght": 1}]}, r"^\[server.peers\]: unknown option\(s\) wieght "
                                                 r"\(unknown key\(s\) server.peers\[0\].wieght\)"),
        ({"peers": {"url": "x"}}, r"^server.peers: expected an array of tables"),
    ]
    for extra, message in cases:
        with pytest.raises(ConfigError, match=message):
            load({"name": "a", **extra})


def test_the_schemas_own_checks_become_config_errors() -> None:
    with pytest.raises(ConfigError, match="^server: store = 'jetstream' needs servers$"):
        load({"name": "a", "store": "jetstream"})


def test_config_errors_are_bad_input_and_survive_pickling() -> None:
    with pytest.raises(BadInput) as err:
        load({"name": "a", "slot_ms": "x"})
    copy = pickle.loads(pickle.dumps(err.value))
    assert isinstance(copy, ConfigError) and str(copy) == str(err.value) and copy.key == "server.slot_ms"


def test_read_toml_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.toml: config file does not exist"):
        read_toml(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("[server\nname = 1\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        read_toml(tmp_path / "bad.toml")
    with pytest.raises(ConfigError, match="cannot read the config file"):
        read_toml(tmp_path)  # a folder
    (tmp_path / "ok.toml").write_text('[server]\nname = "a"\n')
    assert read_toml(tmp_path / "ok.toml") == {"server": {"name": "a"}}
