//go:build !windows

package rotate

// isSharingError: POSIX rename(2) and unlink(2) never fail because another process has the file
// open, so nothing is worth retrying here.
func isSharingError(error) bool { return false }
