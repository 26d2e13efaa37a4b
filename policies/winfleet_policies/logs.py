"""Log configuration: event logs big enough, never stuck full, service logs on a quota-bound data volume."""
from __future__ import annotations

from collections.abc import Mapping

from pulumi_policy import (EnforcementLevel, PolicyConfigSchema, ReportViolation, ResourceValidationArgs,
                           ResourceValidationPolicy, Severity, StackValidationArgs, StackValidationPolicy)

from . import common as C
from . import facts as F
from . import props as P
from . import types as T

# ------------------------------------------------------------------ eventlog-minimum-sizes


def validate_eventlog_sizes(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != T.EVENT_LOG_SETTINGS:
        return
    minimums = P.config(args, "minimumSizesKb", F.EVENT_LOG_MINIMUM_KB)
    minimums = {str(k).lower(): (str(k), P.num(v, 0)) for k, v in P.mapping(minimums).items()}
    require_all = P.truthy(P.config(args, "requireAllLogs", True))
    logs = P.items(P.get(args.props, "logs", []))
    if logs is P.UNKNOWN:
        return
    seen = set()
    incomplete = False  # an unknown entry might be the log that looks missing
    for entry in logs:
        if not isinstance(entry, Mapping):
            incomplete = incomplete or entry is P.UNKNOWN
            continue
        name = P.get(entry, "name")
        if not isinstance(name, str):
            incomplete = incomplete or name is P.UNKNOWN
            continue
        seen.add(name.lower())
        size = P.num(P.get(entry, "maxSizeKb"))
        if name.lower() in minimums and isinstance(size, (int, float)):
            label, minimum = minimums[name.lower()]
            if size < minimum:
                report(f"event log {name}: maxSizeKb={size} is below the minimum {minimum} KB "
                       f"(CIS/Azure baseline); the log wraps before anyone reads the events that matter.")
        if isinstance(size, (int, float)) and (size < 1024 or size % 64 != 0):
            report(f"event log {name}: maxSizeKb={size} is not a valid size (Windows needs >= 1024 KB in "
                   "multiples of 64 KB).")
    if require_all and not incomplete:
        for key, (label, minimum) in sorted(minimums.items()):
            if key not in seen:
                report(f"event log {label} is not sized by this resource (minimum {minimum} KB); "
                       "its Windows default (often 20 MB) is below the baseline.")


eventlog_minimum_sizes = ResourceValidationPolicy(
    name="eventlog-minimum-sizes",
    description="Event logs are sized at or above the configured minimums "
                "(CIS/Azure baselines: Application, System, Setup 32 MB; Security 192 MB).",
    validate=validate_eventlog_sizes,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.MEDIUM,
    remediation_steps="Set `winfleet:eventLogs.<log>.maxSizeKb` (e.g. `winfleet:eventLogs.Security.maxSizeKb`) to at least "
                      "the minimum for Application, System, Setup and Security, in multiples of 64 KB.",
    config_schema=PolicyConfigSchema(properties={
        "minimumSizesKb": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 1024},
                           "default": dict(F.EVENT_LOG_MINIMUM_KB)},
        "requireAllLogs": {"type": "boolean", "default": True},
    }),
)

# ------------------------------------------------------------------ eventlog-retention


def validate_eventlog_retention(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != T.EVENT_LOG_SETTINGS:
        return
    allowed_list = [str(a) for a in P.config_list(args, "allowedRetention", ["circular", "autoBackup"])]
    allowed = {a.lower() for a in allowed_list}
    logs = P.items(P.get(args.props, "logs", []))
    if logs is P.UNKNOWN:
        return
    for entry in logs:
        if not isinstance(entry, Mapping):
            continue
        name = P.get(entry, "name")
        retention = P.get(entry, "retention")
        if isinstance(retention, str) and retention.lower() not in allowed:
            why = (" 'retain' keeps events without archiving them: once the log is full Windows stops logging "
                   "(and for Security, with CrashOnAuditFail, stops the host).") if retention.lower() == "retain" else ""
            report(f"event log {name}: retention {retention!r} is not allowed (allowed: {', '.join(allowed_list)}).{why}")


eventlog_retention = ResourceValidationPolicy(
    name="eventlog-retention",
    description="No event log uses 'retain' retention (do not overwrite, no archive).",
    validate=validate_eventlog_retention,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.MEDIUM,
    remediation_steps="Set `winfleet:eventLogs.<log>.retention` to `circular` (CIS: overwrite as needed, with a large size) "
                      "or `autoBackup` (archive when full, with disk monitoring) instead of `retain`.",
    config_schema=PolicyConfigSchema(properties={
        "allowedRetention": {"type": "array", "items": {"type": "string", "enum": ["circular", "autoBackup", "retain"]},
                             "default": ["circular", "autoBackup"]},
    }),
)

# ------------------------------------------------------------------ service-logging


def validate_service_logging(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != T.WINDOWS_SERVICE:
        return
    forbidden = {str(d).rstrip(":").upper() for d in P.config_list(args, "forbiddenLogDrives", ["C"])}
    props = args.props
    name = C.service_label(props, args.name)
    source = P.get(props, "eventSource.source")
    log_name = P.get(props, "eventSource.logName")
    if not P.is_unknown(source) and not P.is_unknown(log_name):
        if not (isinstance(source, str) and source.strip()) or not (isinstance(log_name, str) and log_name.strip()):
            report(f"service '{name}' has no event source (eventSource.logName + eventSource.source): SCM crash "
                   "events are all you would see in the event log.")
    directory = P.get(props, "logs.directory")
    if P.is_unknown(directory):
        return
    if not isinstance(directory, str) or not directory.strip():
        report(f"service '{name}' has no log directory (logs.directory): put its logs on the data volume, "
               "e.g. D:\\logs\\<service>.")
    else:
        drive = P.drive_of(directory)
        if drive is None:
            report(f"service '{name}': logs.directory {directory!r} is not an absolute path on a drive.")
        elif drive in forbidden:
            report(f"service '{name}': logs.directory {directory!r} is on {drive}: — the OS volume, where the "
                   "service's quota cannot bind and a runaway log fills the system disk. Use the data volume.")
    for key in ("maxSizeBytes", "maxFiles"):
        value = P.num(P.get(props, f"logs.{key}"))
        if value is P.UNKNOWN:
            continue
        if not isinstance(value, (int, float)) or value <= 0:
            report(f"service '{name}': logs.{key} must be a positive number (the log budget is maxSizeBytes x "
                   "maxFiles).")


service_logging = ResourceValidationPolicy(
    name="service-logging",
    description="Every service has an event source and a bounded log directory on the data volume, not C:.",
    validate=validate_service_logging,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.MEDIUM,
    remediation_steps="Set `winfleet:services[].eventSource` {logName, source} and `winfleet:services[].logs` "
                      "{directory on the data volume (`winfleet:services[].logs.directory`, D:), maxFileSizeMb, "
                      "maxFiles}.",
    config_schema=PolicyConfigSchema(properties={
        "forbiddenLogDrives": {"type": "array", "items": {"type": "string"}, "default": ["C"]},
    }),
)

# ------------------------------------------------------------------ service-account-quota-bindable


def validate_account_bindable(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in (T.WINDOWS_SERVICE, T.NTFS_QUOTA):
        return
    account = P.get(args.props, "account")
    if P.is_unknown(account):
        return
    what = (f"service '{C.service_label(args.props, args.name)}'" if args.resource_type == T.WINDOWS_SERVICE
            else f"quota '{args.name}'")
    if not isinstance(account, str) or not account.strip():
        if args.resource_type == T.WINDOWS_SERVICE:
            report(f"{what} names no account, so it runs as LocalSystem: its files are owned by Administrators, "
                   "which NTFS quotas exempt. Run it as NT SERVICE\\<name>.")
        else:
            report(f"{what} names no account.")
        return
    if F.quota_exempt(account):
        report(f"{what} uses account {account!r}: Administrators (and LocalSystem, whose files Administrators own) "
               "are exempt from NTFS quotas, so the quota binds nothing. Use a dedicated account such as "
               "NT SERVICE\\<name>.")


service_account_quota_bindable = ResourceValidationPolicy(
    name="service-account-quota-bindable",
    description="Services and quotas use an account an NTFS quota can bind (not LocalSystem or Administrators).",
    validate=validate_account_bindable,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    remediation_steps="Leave `winfleet:services[].account` unset (the virtual account `NT SERVICE\\<serviceName>`) with "
                      "`winfleet:services[].sidType: unrestricted`, so the quota binds to that account.",
)

# ------------------------------------------------------------------ service-log-quota


def _dump_size(args, dump_type) -> int:
    sizes = P.mapping(P.config(args, "dumpSizeBytes", F.DEFAULT_DUMP_SIZE_BYTES))
    key = str(dump_type or "mini").lower()
    value = P.num(sizes.get(key), F.DEFAULT_DUMP_SIZE_BYTES.get(key, F.DEFAULT_DUMP_SIZE_BYTES["mini"]))
    return int(value) if isinstance(value, (int, float)) else F.DEFAULT_DUMP_SIZE_BYTES["mini"]


def exe_name(props) -> object:
    url = P.get(props, "binaryUrl")
    if not isinstance(url, str) or not url:
        return None
    return url.split("?")[0].replace("\\", "/").rstrip("/").split("/")[-1].lower()


def dumps_for(service, resources) -> list:
    """CrashDumps on the service's host for the service's executable or account."""
    account = P.norm_account(P.get(service.props, "account"))
    exe = exe_name(service.props)
    out = []
    for d in C.of_type(resources, T.CRASH_DUMPS):
        if not C.same_host(service, d):
            continue
        d_exe = P.get(d.props, "exeName")
        d_acc = P.norm_account(P.get(d.props, "account"))
        if (isinstance(d_exe, str) and exe and d_exe.lower() == exe) or (
                isinstance(d_acc, str) and isinstance(account, str) and d_acc == account):
            out.append(d)
    return out


def validate_log_quota(args: StackValidationArgs, report: ReportViolation) -> None:
    headroom = float(P.config_num(args, "minHeadroom", 1.1))
    quotas = C.of_type(args.resources, T.NTFS_QUOTA)
    for svc in C.of_type(args.resources, T.WINDOWS_SERVICE):
        props = svc.props
        name = C.service_label(props, svc.name)
        host = C.host_label(svc)
        account = P.norm_account(P.get(props, "account"))
        size = P.num(P.get(props, "logs.maxSizeBytes"))
        files = P.num(P.get(props, "logs.maxFiles"))
        directory = P.get(props, "logs.directory")
        if C.host_keys(svc) is P.UNKNOWN or any(P.is_unknown(v) for v in (account, size, files, directory)):
            continue
        if not isinstance(size, (int, float)) or not isinstance(files, (int, float)) or size <= 0 or files <= 0:
            continue  # service-logging reports the missing log settings
        log_budget = F.log_budget_bytes(size, files)
        dump_budget = 0
        for d in dumps_for(svc, args.resources):
            count = P.num(P.get(d.props, "dumpCount"), 10)
            if isinstance(count, (int, float)):
                dump_budget += int(count) * _dump_size(args, P.get(d.props, "dumpType"))
        need_budget = log_budget + dump_budget
        drive = P.drive_of(directory)
        if any(C.host_keys(q) is P.UNKNOWN or P.is_unknown(P.get(q.props, "account")) for q in quotas):
            continue  # a quota whose host or account can't be known during preview might be this one's
        matches = [q for q in quotas
                   if C.same_host(svc, q) and P.norm_account(P.get(q.props, "account")) == account]
        if not matches:
            report(f"service '{name}' on {host}: no NtfsQuota for account {P.get(props, 'account')}; its log budget "
                   f"({log_budget} bytes logs + {dump_budget} bytes dumps) is unbounded on the data volume.", svc.urn)
            continue
        on_drive = [q for q in matches if P.drive_of(P.get(q.props, "volume")) in (drive, P.UNKNOWN)]
        if drive and not on_drive:
            vols = sorted(str(P.get(q.props, "volume")) for q in matches)
            report(f"service '{name}' logs to {drive}: but its quota is on {', '.join(vols)}.", svc.urn)
            continue
        for q in on_drive or matches:
            limit = P.num(P.get(q.props, "limitBytes"))
            declared = P.num(P.get(q.props, "budgetBytes"), 0)
            if not isinstance(limit, (int, float)):
                continue
            budget = max(need_budget, declared if isinstance(declared, (int, float)) else 0)
            need = F.quota_limit_for(budget, headroom)
            if limit < need:
                report(f"service '{name}' on {host}: quota limitBytes={int(limit)} for {P.get(q.props, 'account')} does not cover "
                       f"its log budget with headroom: logs {int(size)} x {int(files)} = {log_budget} bytes + dumps "
                       f"{dump_budget} bytes = {budget} bytes, x {headroom} headroom -> at least {need} bytes. "
                       "At the limit the service's writes fail with ERROR_DISK_QUOTA_EXCEEDED.", q.urn)
            if isinstance(declared, (int, float)) and declared < need_budget:
                report(f"service '{name}' on {host}: quota budgetBytes={int(declared)} is below the service's log + "
                       f"dump budget ({need_budget} bytes).", q.urn)


service_log_quota = StackValidationPolicy(
    name="service-log-quota",
    description="Each service's NTFS quota (same host, same account, on its log volume) covers its log budget "
                "(maxSizeBytes x maxFiles + crash dumps) with headroom.",
    validate=validate_log_quota,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    remediation_steps="Keep `winfleet:quota.enforce: true` and `winfleet:quota.headroom` >= 1 (the quota is (log budget + "
                      "dump budget) x headroom), or shrink `winfleet:services[].logs.maxFileSizeMb` / "
                      "`winfleet:services[].logs.maxFiles` / `winfleet:services[].crashDumps.count`.",
    config_schema=PolicyConfigSchema(properties={
        "minHeadroom": {"type": "number", "minimum": 1, "default": 1.1},
        "dumpSizeBytes": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 1},
                          "default": dict(F.DEFAULT_DUMP_SIZE_BYTES)},
    }),
)

POLICIES = [eventlog_minimum_sizes, eventlog_retention, service_logging, service_account_quota_bindable,
            service_log_quota]
