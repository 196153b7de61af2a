"""A VMService client we did not write: Debian's python3-grpcio on stubs protoc generated from proto/.
Usage: client.py SOCKET STUBDIR. Prints one JSON object with what it saw; exits 1 on a failed check."""
import json
import sys

sock, stubs = sys.argv[1], sys.argv[2]
sys.path.insert(0, stubs)

import grpc  # noqa: E402
from google.protobuf import empty_pb2  # noqa: E402
import vm_pb2_grpc  # noqa: E402
from defs import context_pb2  # noqa: E402

out = {}
with grpc.insecure_channel(f"unix://{sock}") as ch:
    stub = vm_pb2_grpc.VMServiceStub(ch)
    h = stub.HealthCheck(empty_pb2.Empty(), timeout=10)
    out["health"] = {"status": h.status, "version": h.version, "components": {c.name: c.status for c in h.components}}
    cur = stub.ContextCurrent(empty_pb2.Empty(), timeout=10)
    out["current"] = cur.context.name
    created = stub.ContextCreate(context_pb2.ContextCreateRequest(
        context=context_pb2.ContextInfo(name="py", registry_url="localhost:5000", description="from python"), use=True), timeout=10)
    out["created"] = {"name": created.context.name, "current": created.context.current, "registry_url": created.context.registry_url}
    lst = stub.ContextList(empty_pb2.Empty(), timeout=10)
    out["list"] = sorted(c.name for c in lst.contexts)
    out["list_current"] = lst.current
    try:
        stub.ContextRemove(context_pb2.ContextRemoveRequest(name="py"), timeout=10)
        out["remove_current"] = "OK"
    except grpc.RpcError as e:
        out["remove_current"] = e.code().name
        out["remove_current_details"] = e.details()
    stub.ContextUse(context_pb2.ContextUseRequest(name="default"), timeout=10)
    rm = stub.ContextRemove(context_pb2.ContextRemoveRequest(name="py"), timeout=10)
    out["removed"] = rm.context.name
    try:
        stub.ContextCreate(context_pb2.ContextCreateRequest(context=context_pb2.ContextInfo(name="bad name")), timeout=10)
        out["bad_name"] = "OK"
    except grpc.RpcError as e:
        out["bad_name"] = e.code().name
print(json.dumps(out))
