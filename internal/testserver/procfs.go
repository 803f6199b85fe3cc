package testserver

import (
	"bytes"
	"os"
	"strconv"
	"strings"
)

// What a test reads of a process it did not necessarily start, from /proc
// (Linux): its descriptors, environment, state, parent and executable.
// Elsewhere, and for a process that is gone, these find nothing.

// FDs returns what each open descriptor of pid refers to ("socket:[123]",
// "pipe:[45]", a path), by descriptor number, or the error reading
// /proc/PID/fd. A descriptor closed while it is read is left out.
func FDs(pid int) (map[int]string, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	fds := make(map[int]string, len(ents))
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if target, err := os.Readlink(dir + "/" + e.Name()); err == nil {
			fds[n] = target
		}
	}
	return fds, nil
}

// CountFDs is the number of pid's open descriptors; 0 when it cannot be
// read.
func CountFDs(pid int) int {
	fds, _ := FDs(pid)
	return len(fds)
}

// Environ returns the environment pid was started with (it does not see
// changes the process made since), or the error reading
// /proc/PID/environ.
func Environ(pid int) (map[string]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(b), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env, nil
}

// Stat returns pid's command name, its state ('R', 'S', 'Z'...), its
// parent's pid and the fields of /proc/PID/stat that follow those (fields
// 6 and on: fields[8] is utime, fields[9] stime, in clock ticks); ok is
// false when pid is gone.
func Stat(pid int) (comm string, state byte, ppid int, rest []string, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, 0, nil, false
	}
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return "", 0, 0, nil, false
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 3 {
		return "", 0, 0, nil, false
	}
	ppid, _ = strconv.Atoi(f[1])
	return string(b[open+1 : end]), f[0][0], ppid, f[3:], true
}

// Status returns the value of a field of /proc/PID/status ("VmRSS" gives
// "1234 kB", "Uid" the real, effective, saved and file uids), white space
// trimmed; "" when pid is gone or has no such field.
func Status(pid int, field string) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Exe returns the file pid runs (/proc/PID/exe: " (deleted)" appended when
// it was replaced), "" when it cannot be read.
func Exe(pid int) string {
	exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	return exe
}

// Processes lists the pids of the running processes for which match is
// true.
func Processes(match func(pid int) bool) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && match(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// NetTable returns the rows of the kernel's socket table /proc/net/<table>
// ("tcp", "tcp6", "udp", "udp6", "unix"), each split into its fields, the
// header left out; nil when it cannot be read. In the inet tables field 1
// is the local address, 3 the state ("01": established) and 9 the inode;
// in "unix", 6 is the inode.
func NetTable(table string) [][]string {
	b, err := os.ReadFile("/proc/net/" + table)
	if err != nil {
		return nil
	}
	var rows [][]string
	for _, line := range strings.Split(string(b), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 0 {
			rows = append(rows, f)
		}
	}
	return rows
}

// SocketInode returns the inode of the socket an FDs target names
// ("socket:[123]" gives "123"), and whether it names a socket.
func SocketInode(target string) (string, bool) {
	rest, ok := strings.CutPrefix(target, "socket:[")
	if !ok {
		return "", false
	}
	return strings.TrimSuffix(rest, "]"), true
}

// Children lists the pids of the running processes whose parent is ppid.
func Children(ppid int) []int {
	return Processes(func(pid int) bool {
		_, _, p, _, ok := Stat(pid)
		return ok && p == ppid
	})
}
