//go:build !linux

package launch

// pidNamespace: pid namespaces are Linux's.
func pidNamespace() string { return "" }
