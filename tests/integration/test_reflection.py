"""Server reflection v1 beside v1alpha (issue 9, deliver 8): current grpcurl and grpcui ask for
grpc.reflection.v1 first; both versions list the services and describe them, v1 itself included."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2 as msgs  # v1's messages are these, field for field
from seq_helpers import make_config

from sequencer.server import running

pytestmark = [pytest.mark.anyio, pytest.mark.integration, pytest.mark.timeout(180)]


async def _ask(channel: grpc.aio.Channel, version: str, request: msgs.ServerReflectionRequest
               ) -> msgs.ServerReflectionResponse:
    call = channel.stream_stream(f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
                                 request_serializer=msgs.ServerReflectionRequest.SerializeToString,
                                 response_deserializer=msgs.ServerReflectionResponse.FromString)
    stream = call(iter([request]))
    async for resp in stream:
        return resp
    raise AssertionError("no answer")


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
async def test_reflection_lists_and_describes(tmp_path, version: str) -> None:
    async with running(make_config(tmp_path)) as srv:
        async with grpc.aio.insecure_channel(srv.address) as ch:
            listed = await _ask(ch, version, msgs.ServerReflectionRequest(list_services=""))
            names = {s.name for s in listed.list_services_response.service}
            assert {"sharedseq.v1.SequencerService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
                    "grpc.reflection.v1alpha.ServerReflection"} <= names
            for symbol, file in [("sharedseq.v1.SequencerService", "sharedseq/v1/sequencer.proto"),
                                 ("grpc.reflection.v1.ServerReflection", "grpc/reflection/v1/reflection.proto")]:
                resp = await _ask(ch, version, msgs.ServerReflectionRequest(file_containing_symbol=symbol))
                assert not resp.HasField("error_response"), resp.error_response
                protos = [descriptor_pb2.FileDescriptorProto.FromString(b)
                          for b in resp.file_descriptor_response.file_descriptor_proto]
                assert file in {p.name for p in protos}
            missing = await _ask(ch, version, msgs.ServerReflectionRequest(file_containing_symbol="no.such.Thing"))
            assert missing.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
