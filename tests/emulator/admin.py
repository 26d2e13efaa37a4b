"""The lab's admin API: plain HTTP on 127.0.0.1 (test-only, no auth; never bind it elsewhere).

GET  /state     -> {host: HostModel.state()}               (read-only view of the host models)
GET  /counters  -> {host: counters + shells_open}
POST /faults    {"host": name|"*", "kind": .., "action": "*", "count": 1}   inject a fault
                {"host": .., "latency": 0.05}                              set latency (s)
                {"host": .., "opDelay": 1.5, "op": "*"}                    slow op handlers
                {"host": .., "down": 2.0}                                  refuse connections for N s
POST /reset     {"host": name|"*", "model": false}          clear counters + faults (+ model)
POST /drift     {"host": .., "eventLog": "Application", "maxSizeKb": 2048}  a change made behind
                {"host": .., "service": "orders-api", "action": "stop"}     winfleet's back (an admin
                                                                            at the console): no journal
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _AdminHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "winfleet-emulator-admin"

    def log_message(self, fmt, *args):
        pass

    def _send(self, status: int, doc) -> None:
        body = json.dumps(doc, ensure_ascii=False, sort_keys=True).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _hosts(self, name):
        lab = self.server.lab
        if name in (None, "*"):
            return list(lab.hosts)
        return [lab.host(name)]

    def do_GET(self):
        lab = self.server.lab
        path = self.path.split("?")[0].rstrip("/")
        if path == "/state":
            self._send(200, lab.state())
        elif path == "/counters":
            self._send(200, lab.counters())
        elif path in ("", "/"):
            self._send(200, lab.describe())
        else:
            self._send(404, {"error": f"no such resource {path}"})

    def do_POST(self):
        path = self.path.split("?")[0].rstrip("/")
        try:
            length = int(self.headers.get("Content-Length") or 0)
            doc = json.loads(self.rfile.read(length) or b"{}") if length else {}
            if not isinstance(doc, dict):
                raise ValueError("body must be a JSON object")
            hosts = self._hosts(doc.get("host"))
            if path == "/faults":
                for h in hosts:
                    if "latency" in doc:
                        h.faults.latency = float(doc["latency"])
                    if "opDelay" in doc:
                        h.faults.set_op_delay(float(doc["opDelay"]), doc.get("op", "*"))
                    if "kind" in doc:
                        h.faults.add(doc["kind"], doc.get("action", "*"), int(doc.get("count", 1)))
                    if "down" in doc:
                        h.down(float(doc["down"]))
                self._send(200, {h.name: h.faults.state() for h in hosts})
            elif path == "/drift":
                done = {}
                for h in hosts:
                    with h.model.lock:
                        if "eventLog" in doc:
                            h.model.eventlogs.set_max_size(str(doc["eventLog"]), int(doc["maxSizeKb"]) * 1024)
                        elif doc.get("action") == "stop":
                            h.model.scm.stop(str(doc["service"]))
                        else:
                            raise ValueError("drift: give eventLog+maxSizeKb or service+action=stop")
                    done[h.name] = "changed"
                self._send(200, done)
            elif path == "/reset":
                for h in hosts:
                    h.reset(model=bool(doc.get("model", False)))
                self._send(200, {"reset": [h.name for h in hosts]})
            else:
                self._send(404, {"error": f"no such resource {path}"})
        except KeyError as exc:
            self._send(404, {"error": f"unknown host {exc}"})
        except (ValueError, TypeError) as exc:
            self._send(400, {"error": str(exc)})
        except Exception as exc:          # what the host itself refused (ScmError, EventLogError, ...)
            self._send(409, {"error": f"{type(exc).__name__}: {exc}"})


class AdminServer:
    def __init__(self, lab, port: int = 0):
        self.lab = lab
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _AdminHandler)
        self._server.daemon_threads = True
        self._server.lab = lab
        self._thread = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "AdminServer":
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="lab-admin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
