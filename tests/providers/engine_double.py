"""A stand-in for the Pulumi engine's host server (the ``Engine`` gRPC service the CLI passes to every
resource plugin as its first argument): records each ``Log`` request with the time it arrived."""
from __future__ import annotations

import threading
import time
from concurrent import futures

import grpc
from google.protobuf import empty_pb2
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc


class _Engine(engine_pb2_grpc.EngineServicer):
    def __init__(self, sink):
        self.sink = sink

    def Log(self, request, context):
        self.sink.add(request)
        return empty_pb2.Empty()


class EngineDouble:
    SEVERITY = {engine_pb2.DEBUG: "debug", engine_pb2.INFO: "info", engine_pb2.WARNING: "warning",
                engine_pb2.ERROR: "error"}

    def __init__(self):
        self.logs: list[dict] = []
        self._lock = threading.Lock()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        engine_pb2_grpc.add_EngineServicer_to_server(_Engine(self), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{self.port}"
        self.server.start()

    def add(self, req) -> None:
        with self._lock:
            self.logs.append({"at": time.monotonic(), "severity": self.SEVERITY.get(req.severity, "?"),
                              "message": req.message, "ephemeral": req.ephemeral, "urn": req.urn})

    def messages(self, severity: str | None = None) -> list[dict]:
        with self._lock:
            return [l for l in self.logs if severity is None or l["severity"] == severity]

    def close(self) -> None:
        self.server.stop(0)
