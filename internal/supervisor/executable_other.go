//go:build unix && !linux

package supervisor

// heldFile does nothing off Linux: there is no portable way to exec an open
// descriptor (FreeBSD's fexecve needs the fd in the child, and macOS has
// none). A rollback there runs the file at the previous generation's path
// as it is then; deploy each version to a path of its own to roll back to
// exact bytes.
type heldFile struct{}

func hold(string, string) (heldFile, error) { return heldFile{}, nil }

func (heldFile) target() string { return "" }

func (heldFile) close() {}
