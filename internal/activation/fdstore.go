package activation

import "errors"

// ErrNoFDStore reports that no service manager offers an fd store: no
// NOTIFY_SOCKET to send FDSTORE=1 to.
var ErrNoFDStore = errors.New("no fd store: NOTIFY_SOCKET is not set")

// FDStoreOffered reports whether the service manager says it keeps an fd
// store for this service: $FDSTORE is a positive count (systemd 254 and
// later set it from FileDescriptorStoreMax=) and NOTIFY_SOCKET is set.
// systemd 252 and 253 do not set $FDSTORE; there the unit sets it
// (Environment=FDSTORE=N next to FileDescriptorStoreMax=N).
func FDStoreOffered(getenv func(string) string) bool {
	n := getenv("FDSTORE")
	return getenv("NOTIFY_SOCKET") != "" && n != "" && n != "0"
}
