# dumps.read {"exeName", "dumpFolder", "dirs": [path], "serviceName"|null}
#  -> {"changed": false, "state": {localDumps: {exeName, values, missingParent}, globalValues, folder, dirs, driveExists, aeDebugAuto, serviceEnvironment}}
# WER LocalDumps (MicrosoftDocs/win32 "Collecting User-Mode Dumps"): the per-exe key
# HKLM\SOFTWARE\Microsoft\Windows\Windows Error Reporting\LocalDumps\<exe> overrides the global one;
# "A crash dump is not collected when you set automatic debugging" (AeDebug Auto = "1"), reported here.
# serviceEnvironment is the service's Environment (REG_MULTI_SZ): Go needs GOTRACEBACK=wer there.
param($P)
$ErrorActionPreference = 'Stop'

@{ changed = $false; state = (Read-DumpState -P $P) }
