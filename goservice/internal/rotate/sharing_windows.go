package rotate

import (
	"errors"

	"golang.org/x/sys/windows"
)

// isSharingError: what another process holding the file makes MoveFileEx/DeleteFile return.
// ERROR_SHARING_VIOLATION (32): opened without FILE_SHARE_DELETE; ERROR_ACCESS_DENIED (5): also
// what a file in delete-pending state or one scanned by antivirus gives; ERROR_LOCK_VIOLATION (33).
// https://learn.microsoft.com/windows/win32/debug/system-error-codes--0-499-
func isSharingError(err error) bool {
	return errors.Is(err, windows.ERROR_SHARING_VIOLATION) ||
		errors.Is(err, windows.ERROR_ACCESS_DENIED) ||
		errors.Is(err, windows.ERROR_LOCK_VIOLATION)
}
