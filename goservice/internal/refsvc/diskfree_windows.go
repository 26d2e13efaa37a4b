package refsvc

import "golang.org/x/sys/windows"

// freeBytes is what the service account may still write on dir's volume. GetDiskFreeSpaceEx's
// "free bytes available to the caller" takes the caller's NTFS quota into account
// (https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-getdiskfreespaceexw), so it
// is the quota headroom for a virtual account whose quota winfleet set.
func freeBytes(dir string) (uint64, error) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, err
	}
	var avail, total, free uint64
	if err := windows.GetDiskFreeSpaceEx(p, &avail, &total, &free); err != nil {
		return 0, err
	}
	return avail, nil
}
