"""The generated configuration reference (docs/config-reference.md, `make configdoc`): current, every
option the service accepts is in it, and a gap between the sample and the schema fails generation."""

from __future__ import annotations

import pytest
from repo_root import ROOT

from sequencer.tools import configdoc


def test_reference_is_current_and_lists_every_option() -> None:
    assert configdoc.main([str(ROOT), "--check"]) == 0
    text = (ROOT / configdoc.OUT).read_text()
    for table, options in configdoc.schema().items():
        assert f"[{table}]`" in text or f"[[{table}]]`" in text
        for option in options:
            assert f"| `{option}` |" in text, (table, option)


def test_an_option_missing_from_the_sample_or_unknown_to_the_service_fails() -> None:
    sample = (ROOT / configdoc.SAMPLE).read_text()
    tables = configdoc.parse(sample)
    assert tables["sequencer"].options["slot_ms"].default == "100"
    assert tables["jetstream"].options["replicas"].optional
    assert "one shared block per slot" in tables["sequencer"].options["slot_ms"].meaning
    dropped = sample.replace("slot_ms = 100\n", "")
    with pytest.raises(SystemExit, match=r"\[sequencer\]: slot_ms accepted by the service"):
        configdoc.render(configdoc.parse(dropped), configdoc.schema())
    extra = sample.replace("slot_ms = 100\n", "slot_ms = 100\nslot_length = 3\n")
    with pytest.raises(SystemExit, match="slot_length in deploy/sequencer.sample.toml but refused"):
        configdoc.render(configdoc.parse(extra), configdoc.schema())


def test_a_sample_value_other_than_the_schema_default_fails_and_types_come_from_the_schema() -> None:
    sample = (ROOT / configdoc.SAMPLE).read_text()
    changed = sample.replace("slot_ms = 100\n", "slot_ms = 250\n")
    with pytest.raises(SystemExit, match=r"sequencer.slot_ms = 250 in deploy/sequencer.sample.toml, but the "
                                         r"default is 100"):
        configdoc.render(configdoc.parse(changed), configdoc.schema())
    refused = sample.replace("max_list_items = 1024\n", 'max_list_items = "many"\n')
    with pytest.raises(SystemExit, match=r"sequencer.max_list_items = \"many\" .* is refused by the service"):
        configdoc.render(configdoc.parse(refused), configdoc.schema())
    text = (ROOT / configdoc.OUT).read_text()
    assert "| `slot_ms` | a positive integer |" not in text  # the noun of the type, not the rule
    assert "| `slot_ms` | an integer | `100` |" in text
    assert "| `id` | an integer | `901` (required) |" in text
    assert "| `servers` | a list of strings |" in text
