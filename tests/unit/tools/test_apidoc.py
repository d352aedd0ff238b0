"""The generated API reference (docs/api-reference.md, `make apidoc`) covers every call, message and
field of the protos, with their comments, and its staleness check fails on a changed comment."""

from __future__ import annotations

import shutil
from pathlib import Path

from repo_root import ROOT

from sequencer.tools import apidoc
from sharedseq.v1 import sequencer_pb2 as pb


def test_reference_is_current_and_complete() -> None:
    assert apidoc.main([str(ROOT), "--check"]) == 0
    text = (ROOT / apidoc.OUT).read_text()
    for method in pb.DESCRIPTOR.services_by_name["SequencerService"].methods:
        assert f"| `{method.name}` |" in text
    for name, msg in pb.DESCRIPTOR.message_types_by_name.items():
        assert f"### message `{name}`" in text
        for field in msg.fields:
            assert f"| `{field.name}` | {field.number} |" in text, (name, field.name)
    assert "The rollup's id (its chain id)." in text  # a field comment, taken from the .proto


def test_a_changed_comment_makes_the_check_fail(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "proto", tmp_path / "proto")
    (tmp_path / "docs").mkdir()
    shutil.copy(ROOT / apidoc.OUT, tmp_path / apidoc.OUT)
    assert apidoc.main([str(tmp_path), "--check"]) == 0
    proto = next((tmp_path / "proto").rglob("sequencer.proto"))
    proto.write_text(proto.read_text().replace("The rollup's id (its chain id).", "The rollup, by id.", 1))
    assert apidoc.main([str(tmp_path), "--check"]) == 1
    assert apidoc.main([str(tmp_path), "--out"]) == 0
    assert "The rollup, by id." in (tmp_path / apidoc.OUT).read_text()
