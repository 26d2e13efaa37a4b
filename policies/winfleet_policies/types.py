"""Resource type tokens the pack looks at (docs/CONTRACTS.md + azure-native)."""
LOAD_BALANCER = "azure-native:network:LoadBalancer"
NSG = "azure-native:network:NetworkSecurityGroup"
SECURITY_RULE = "azure-native:network:SecurityRule"
VM = "azure-native:compute:VirtualMachine"

_HOST = "pulumi-python:dynamic/winfleet:"
DATA_VOLUME = _HOST + "DataVolume"
WINDOWS_SERVICE = _HOST + "WindowsService"
EVENT_LOG_SETTINGS = _HOST + "EventLogSettings"
NTFS_QUOTA = _HOST + "NtfsQuota"
SERVICE_BASELINE = _HOST + "ServiceBaseline"
CRASH_DUMPS = _HOST + "CrashDumps"
SERVICE_PORT = _HOST + "ServicePort"
SERVICE_WATCHDOG = _HOST + "ServiceWatchdog"

HOST_TYPES = (DATA_VOLUME, WINDOWS_SERVICE, EVENT_LOG_SETTINGS, NTFS_QUOTA, SERVICE_BASELINE, CRASH_DUMPS,
              SERVICE_PORT, SERVICE_WATCHDOG)
