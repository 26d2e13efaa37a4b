"""Security: WinRM over HTTPS only, management ports never open to the Internet, secrets stay secret."""
from __future__ import annotations

from collections.abc import Mapping

from pulumi_policy import (EnforcementLevel, PolicyConfigSchema, ReportViolation, ResourceValidationArgs,
                           ResourceValidationPolicy, Severity)

from . import common as C
from . import props as P
from . import secrets as S
from . import types as T

# ------------------------------------------------------------------ winrm-https-only


def validate_winrm_https(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != T.VM:
        return
    windows = P.get(args.props, "osProfile.windowsConfiguration")
    if P.is_unknown(windows):
        return
    if windows is None:
        return  # not a Windows VM (or no osProfile: attached disk); nothing to listen on
    listeners = P.items(P.get(windows, "winRM.listeners", []))
    if listeners is P.UNKNOWN:
        return
    require = P.truthy(P.config(args, "requireHttpsListener", True))
    https = 0
    for i, listener in enumerate(listeners):
        proto = P.get(listener, "protocol")
        if P.is_unknown(proto):
            continue
        if not isinstance(proto, str) or proto.lower() != "https":
            report(f"osProfile.windowsConfiguration.winRM.listeners[{i}] uses protocol {proto!r}: WinRM over HTTP "
                   "(5985) sends NTLM/Basic-authenticated sessions unprotected. Use Https only.")
            continue
        https += 1
        url = P.get(listener, "certificateUrl")
        if not P.is_unknown(url) and not (isinstance(url, str) and url):
            report(f"winRM.listeners[{i}] is Https without certificateUrl (the Key Vault secret URL of the "
                   "listener certificate).")
    if require and https == 0:
        report("the VM has no WinRM Https listener: winfleet configures hosts over WinRM/HTTPS (5986); add one "
               "with the Key Vault certificate (listeners can only be set at VM creation).")


winrm_https_only = ResourceValidationPolicy(
    name="winrm-https-only",
    description="Windows VMs expose WinRM over HTTPS only, with a certificate from Key Vault.",
    validate=validate_winrm_https,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.CRITICAL,
    remediation_steps="Set `osProfile.windowsConfiguration.winRM.listeners` to a single {protocol: Https, "
                      "certificateUrl: <Key Vault secret id>} and list the vault in `osProfile.secrets`.",
    config_schema=PolicyConfigSchema(properties={"requireHttpsListener": {"type": "boolean", "default": True}}),
)

# ------------------------------------------------------------------ nsg-no-internet-management

MANAGEMENT_PORTS = [22, 3389, 5985, 5986]


def validate_nsg_management(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in (T.NSG, T.SECURITY_RULE):
        return
    ports = [int(p) for p in (P.num(x) for x in P.config_list(args, "managementPorts", MANAGEMENT_PORTS))
             if isinstance(p, (int, float))]
    sources = [str(s) for s in P.config_list(args, "internetSources", C.INTERNET_SOURCES_DEFAULT)]
    if args.resource_type == T.NSG:
        rules = P.items(P.get(args.props, "securityRules", []))
        if rules is P.UNKNOWN:
            return
    else:
        rules = [args.props]
    for i, rule in enumerate(rules):
        if not isinstance(rule, Mapping):
            continue
        if C.is_allow_inbound(rule) is not True:
            continue
        src = C.source_matches(rule, sources)
        if src in (None, P.UNKNOWN):
            continue
        covered = [p for p in ports if C.rule_covers_port(rule, p) is True]
        if covered:
            rname = P.get(rule, "name") or (args.name if args.resource_type == T.SECURITY_RULE else f"#{i}")
            report(f"security rule '{rname}' allows inbound from {src!r} (the Internet) to management port(s) "
                   f"{', '.join(map(str, covered))} (SSH/RDP/WinRM). Restrict the source to named CIDRs "
                   "(winfleet: winrm.allowedSources) or use Bastion / just-in-time access.")


nsg_no_internet_management = ResourceValidationPolicy(
    name="nsg-no-internet-management",
    description="No NSG rule opens 22, 3389, 5985 or 5986 to the Internet "
                "(source '*', 'Internet', '0.0.0.0/0' or '::/0').",
    validate=validate_nsg_management,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.CRITICAL,
    remediation_steps="List the CIDRs that need access (CI runners, a bastion subnet) in `winfleet:winrm.allowedSources` "
                      "(WinRM) and `winfleet:azure.clientSources` (service ports), or set the rule's "
                      "sourceAddressPrefix(es) on a resource of your own; never open 5985 at all.",
    config_schema=PolicyConfigSchema(properties={
        "managementPorts": {"type": "array", "items": {"type": "integer"}, "default": MANAGEMENT_PORTS},
        "internetSources": {"type": "array", "items": {"type": "string"}, "default": C.INTERNET_SOURCES_DEFAULT},
    }),
)

# ------------------------------------------------------------------ winrm-validates-certificates

INSECURE_KEYS = ("insecure", "skipVerify", "serverCertValidation", "ignoreCertificate", "verify")


def validate_winrm_certificates(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in T.HOST_TYPES:
        return
    conn = P.get(args.props, "connection")
    if P.is_unknown(conn) or conn is None:
        if conn is None:
            report("host resource has no `connection`.")
        return
    host = P.get(conn, "hostName") or P.get(conn, "host") or "?"
    ca = P.get(conn, "caPem")
    pin = P.get(conn, "certSha256")
    if P.is_unknown(ca) or P.is_unknown(pin):
        return
    if not (isinstance(ca, str) and ca.strip()) and not (isinstance(pin, str) and pin.strip()):
        report(f"WinRM connection to {host} has neither caPem nor certSha256: the client cannot validate the "
               "host's certificate, so anyone on the path can impersonate the host and capture the password.")
    if isinstance(pin, str) and pin.strip():
        hexpin = pin.replace(":", "").strip().lower()
        if len(hexpin) != 64 or any(c not in "0123456789abcdef" for c in hexpin):
            report(f"WinRM connection to {host}: certSha256 is not a SHA-256 fingerprint (64 hex digits).")
    for key in INSECURE_KEYS:
        value = P.get(conn, key)
        if value is None or P.is_unknown(value):
            continue
        text = str(value).strip().lower()
        if (key == "serverCertValidation" and text == "ignore") or (key == "verify" and text in ("false", "0")) or (
                key not in ("serverCertValidation", "verify") and P.truthy(value) is True):
            report(f"WinRM connection to {host} sets {key}={value!r}: certificate validation must stay on.")
    port = P.num(P.get(conn, "port"))
    if port == 5985:
        report(f"WinRM connection to {host} uses port 5985 (HTTP); use 5986 (HTTPS).")


winrm_validates_certificates = ResourceValidationPolicy(
    name="winrm-validates-certificates",
    description="Every WinRM client connection validates the host certificate (CA bundle or pinned SHA-256) "
                "over HTTPS.",
    validate=validate_winrm_certificates,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.CRITICAL,
    remediation_steps="Give each host `winfleet:existingHosts[].caPemFile` or `winfleet:existingHosts[].caPem` (CA bundle), "
                      "or `winfleet:existingHosts[].certSha256` (pinned certificate fingerprint); winfleet has no "
                      "option to skip validation.",
)

# ------------------------------------------------------------------ passwords-are-secrets

SECRET_PATHS = {
    T.VM: ["osProfile.adminPassword"],
    T.WINDOWS_SERVICE: ["accountPassword", "connection.password"],
}


def validate_passwords_secret(args: ResourceValidationArgs, report: ReportViolation) -> None:
    paths = SECRET_PATHS.get(args.resource_type)
    if paths is None and args.resource_type in T.HOST_TYPES:
        paths = ["connection.password"]
    if paths is None:
        return
    if not S.installed():
        args.not_applicable("secret-ness is not visible: the winfleet secret hook is not installed in this "
                            "policy-pack process")
    for path in paths:
        value = P.get(args.props, path)
        if value is None or P.is_unknown(value):
            continue
        if isinstance(value, str) and value == "":
            continue
        if not S.is_secret(value):
            report(f"{path} is not a Pulumi secret: it would be stored in plain text in the state file and shown "
                   "in previews. Pass it as a secret (`pulumi config set --secret`, `pulumi.Output.secret`).")


passwords_are_secrets = ResourceValidationPolicy(
    name="passwords-are-secrets",
    description="Admin, service-account and WinRM passwords are Pulumi secrets.",
    validate=validate_passwords_secret,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.CRITICAL,
    remediation_steps="Set `winfleet:existingHosts[].password` and `winfleet:services[].accountPassword` with "
                      "`pulumi config set --secret --path`, and pass passwords of your own resources as secret "
                      "Outputs (`pulumi.Output.secret(...)`); never as plain strings.",
)

# ------------------------------------------------------------------ vm-boot-diagnostics


def validate_boot_diagnostics(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != T.VM:
        return
    enabled = P.get(args.props, "diagnosticsProfile.bootDiagnostics.enabled")
    if P.is_unknown(enabled):
        return
    if P.truthy(enabled) is not True:
        report("boot diagnostics are off (diagnosticsProfile.bootDiagnostics.enabled): a Windows VM that hangs at "
               "boot or in Windows Update shows nothing in the portal's screenshot and serial log.")


vm_boot_diagnostics = ResourceValidationPolicy(
    name="vm-boot-diagnostics",
    description="Virtual machines have boot diagnostics enabled.",
    validate=validate_boot_diagnostics,
    enforcement_level=EnforcementLevel.ADVISORY,
    severity=Severity.MEDIUM,
    remediation_steps="Set `diagnosticsProfile.bootDiagnostics.enabled: true` (managed storage needs no account).",
)

# ------------------------------------------------------------------ vm-managed-disks


def validate_managed_disks(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != T.VM:
        return
    storage = P.get(args.props, "storageProfile")
    if P.is_unknown(storage) or storage is None:
        return
    if P.get(storage, "osDisk.vhd") not in (None, P.UNKNOWN):
        report("storageProfile.osDisk uses an unmanaged VHD (osDisk.vhd): use a managed disk.")
    disks = P.items(P.get(storage, "dataDisks", []))
    if disks is P.UNKNOWN:
        return
    for i, disk in enumerate(disks):
        if isinstance(disk, Mapping) and P.get(disk, "vhd") not in (None, P.UNKNOWN):
            report(f"storageProfile.dataDisks[{i}] uses an unmanaged VHD: use a managed disk.")


vm_managed_disks = ResourceValidationPolicy(
    name="vm-managed-disks",
    description="Virtual machines use managed disks only (no unmanaged VHDs in storage accounts).",
    validate=validate_managed_disks,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    remediation_steps="Remove `vhd` from `storageProfile.osDisk`/`dataDisks` and set `managedDisk` "
                      "{storageAccountType: Premium_LRS}.",
)

POLICIES = [winrm_https_only, nsg_no_internet_management, winrm_validates_certificates, passwords_are_secrets,
            vm_boot_diagnostics, vm_managed_disks]
