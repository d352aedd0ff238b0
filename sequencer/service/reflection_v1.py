"""Server reflection v1 (grpc.reflection.v1.ServerReflection) beside v1alpha.

grpcio-reflection ships only v1alpha; current grpcurl, Postman and grpcui
ask for v1 first. The v1 protocol is v1alpha renamed: the same messages, field
for field (grpc/grpc-proto, grpc/reflection/v1/reflection.proto), so the v1
service is served by the v1alpha implementation with v1's name, and the v1
file descriptor (v1alpha's, renamed) is added to the pool so that reflection
can describe itself under both names.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import _async as reflection_aio
from grpc_reflection.v1alpha import reflection_pb2 as v1alpha

SERVICE_NAME = "grpc.reflection.v1.ServerReflection"
_FILE = "grpc/reflection/v1/reflection.proto"


def _register_descriptor(pool: descriptor_pool.DescriptorPool) -> None:
    try:
        pool.FindFileByName(_FILE)
        return
    except KeyError:
        pass
    fdp = descriptor_pb2.FileDescriptorProto()
    v1alpha.DESCRIPTOR.CopyToProto(fdp)
    fdp.name, fdp.package = _FILE, "grpc.reflection.v1"
    fdp.options.Clear()
    for msg in fdp.message_type:
        for f in msg.field:
            if f.HasField("type_name"):
                f.type_name = f.type_name.replace(".grpc.reflection.v1alpha.", ".grpc.reflection.v1.")
    for svc in fdp.service:
        for m in svc.method:
            m.input_type = m.input_type.replace(".grpc.reflection.v1alpha.", ".grpc.reflection.v1.")
            m.output_type = m.output_type.replace(".grpc.reflection.v1alpha.", ".grpc.reflection.v1.")
    pool.Add(fdp)


def enable_reflection(service_names: Iterable[str], server: grpc.aio.Server) -> None:
    """Serve reflection v1alpha and v1 for `service_names` (both reflection services are added)."""
    pool = descriptor_pool.Default()
    _register_descriptor(pool)
    v1alpha_name = v1alpha.DESCRIPTOR.services_by_name["ServerReflection"].full_name
    names = tuple(dict.fromkeys((*service_names, v1alpha_name, SERVICE_NAME)))
    servicer = reflection_aio.ReflectionServicer(names, pool=pool)
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=v1alpha.ServerReflectionRequest.FromString,
        response_serializer=v1alpha.ServerReflectionResponse.SerializeToString,
    )
    for name in (v1alpha_name, SERVICE_NAME):
        generic = grpc.method_handlers_generic_handler(name, {"ServerReflectionInfo": handler})
        server.add_generic_rpc_handlers((generic,))
