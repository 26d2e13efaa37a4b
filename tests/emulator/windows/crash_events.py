"""What Windows writes when a service process dies: the SCM's System-log events and WER's reports.

The emulated SCM calls ``record_crash`` when a service dies without reporting SERVICE_STOPPED
(``ServiceControlManager.crash``); the goservice work (real processes) calls it, or
``host.eventlogs.write`` directly, when a real child process exits unexpectedly.

* SCM, System log, provider "Service Control Manager", %1 = the service's **display name**
  (ScLogEvent(NEVENT_SERVICE_CRASH, ServiceRecord->DisplayName, FailNum, ActionDelay, ...)):
  7031 EVENT_SERVICE_CRASH (0xC0001B77) "The %1 service terminated unexpectedly. It has done this %2
  time(s). The following corrective action will be taken in %3 milliseconds: %5." when a failure action
  is configured; 7034 EVENT_SERVICE_CRASH_NO_ACTION (0xC0001B7A) otherwise; 7024
  EVENT_SERVICE_EXIT_FAILED_SPECIFIC "The %1 service terminated with the following service-specific
  error: %2" when it stopped reporting a non-zero service-specific exit code. Source: the Windows SDK's
  netevent.h message table (ids as in reactos/reactos sdk/include/reactos/mc/netevent.mc).
* WER, Application log: 1000 from "Application Error" (%1 = faulting application name, e.g. api.exe)
  and 1001 from "Windows Error Reporting" (event name APPCRASH, P1 = the application: the 6th
  property), https://learn.microsoft.com/en-us/windows/win32/wer/windows-error-reporting.
"""
from __future__ import annotations

import struct

ACTIONS = {0: "No action", 1: "Restart the service", 2: "Reboot the machine", 3: "Run the configured recovery program"}


def _first_action(failure_actions_hex) -> tuple[int, int] | None:
    """(type, delay ms) of the action for this failure from the FailureActions REG_BINARY, or None."""
    if not failure_actions_hex:
        return None
    raw = bytes.fromhex(failure_actions_hex) if isinstance(failure_actions_hex, str) else bytes(failure_actions_hex)
    if len(raw) < 20:
        return None
    count = struct.unpack_from("<I", raw, 12)[0]
    if count == 0 or len(raw) < 20 + 8:
        return None
    return struct.unpack_from("<2I", raw, 20)


def record_crash(host, service: str, *, exe_name: str, display_name: str, failure_count: int,
                 failure_actions_hex=None, service_exit_code: int | None = None) -> None:
    logs = host.eventlogs
    if service_exit_code:
        logs.write("System", "Service Control Manager", 7024, level="Error",
                   message=f"The {display_name} service terminated with the following service-specific error: "
                           f"{service_exit_code}", properties=[display_name, str(service_exit_code)])
        return
    action = _first_action(failure_actions_hex)
    if action is not None and action[0] != 0:
        kind, delay = action
        logs.write("System", "Service Control Manager", 7031, level="Error",
                   message=f"The {display_name} service terminated unexpectedly.  It has done this {failure_count} "
                           f"time(s).  The following corrective action will be taken in {delay} milliseconds: "
                           f"{ACTIONS.get(kind, 'No action')}.",
                   properties=[display_name, str(failure_count), str(delay), str(kind), ACTIONS.get(kind, "")])
    else:
        logs.write("System", "Service Control Manager", 7034, level="Error",
                   message=f"The {display_name} service terminated unexpectedly.  It has done this "
                           f"{failure_count} time(s).", properties=[display_name, str(failure_count)])
    logs.write("Application", "Application Error", 1000, level="Error",
               message=f"Faulting application name: {exe_name}, version: 0.0.0.0", properties=[exe_name, "0.0.0.0"])
    logs.write("Application", "Windows Error Reporting", 1001, level="Information",
               message=f"Fault bucket , type 0\r\nEvent Name: APPCRASH\r\nP1: {exe_name}",
               properties=["", "0", "APPCRASH", "Not available", "0", exe_name])
