"""WinRM transport of winfleet: ``run_op(Endpoint, op, params)`` (see docs/CONTRACTS.md)."""
from .endpoint import Endpoint
from .errors import (AuthenticationFailed, EnvelopeTooLarge, ExecutorConfigError, HostUnreachable,
                     InvalidEndpoint, MalformedOutput, OperationTimedOut, OpFailed, ShellQuotaExceeded,
                     TlsValidationFailed, WinfleetHostError, WsmanFault)
from .executor import run_op
from .pool import close_all as close_all_shells

__all__ = ["Endpoint", "run_op", "close_all_shells", "WinfleetHostError", "HostUnreachable",
           "TlsValidationFailed", "AuthenticationFailed", "WsmanFault", "ShellQuotaExceeded",
           "EnvelopeTooLarge", "OperationTimedOut", "OpFailed", "MalformedOutput",
           "ExecutorConfigError", "InvalidEndpoint"]
