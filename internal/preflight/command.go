package preflight

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

var errNoXBit = errors.New("no execute bit set")

// DefaultCheckTimeout bounds a check command when Command is given none.
const DefaultCheckTimeout = 30 * time.Second

// maxOutput bounds what a check command's output adds to a refusal.
const maxOutput = 8 << 10

// Command runs check with /bin/sh -c (cmd /c on Windows) and returns nil
// when it exits 0 within timeout (DefaultCheckTimeout when 0). The command
// gets env (os.Environ() when nil) plus HANDOFF_PROGRAM=program and
// HANDOFF_CHECK=1, its standard input is empty, and its combined output
// (the first 8 KiB) is returned with the refusal. A command that outlives
// timeout is killed, and anything it started that still holds its output
// is given up on two seconds later (exec.Cmd.WaitDelay). Every failure
// wraps ErrCheckFailed.
func Command(ctx context.Context, check, program string, env []string, timeout time.Duration) (output string, err error) {
	return CommandStarted(ctx, check, program, env, timeout, nil, nil)
}

// CommandStarted is Command for a process that reaps children it does not
// know (a supervisor that is PID 1 or a child subreaper): start starts the
// command (registering its pid; nil: (*exec.Cmd).Start), and waited, if
// set, is called once the command has been waited for.
func CommandStarted(ctx context.Context, check, program string, env []string, timeout time.Duration,
	start func(*exec.Cmd) error, waited func(*exec.Cmd)) (output string, err error) {
	if timeout <= 0 {
		timeout = DefaultCheckTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	shell, flag := "/bin/sh", "-c"
	if runtime.GOOS == "windows" {
		shell, flag = "cmd", "/c"
	}
	cmd := exec.CommandContext(ctx, shell, flag, check)
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(append([]string(nil), env...), "HANDOFF_PROGRAM="+program, "HANDOFF_CHECK=1")
	out := &capped{max: maxOutput}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 2 * time.Second
	if start == nil {
		start = (*exec.Cmd).Start
	}
	if err = start(cmd); err == nil {
		err = cmd.Wait()
		if waited != nil {
			waited(cmd)
		}
	}
	output = out.String()
	if err == nil {
		return output, nil
	}
	why := err.Error()
	if ctx.Err() == context.DeadlineExceeded {
		why = fmt.Sprintf("timed out after %v", timeout)
	}
	msg := fmt.Sprintf("check %q: %v: %s", check, ErrCheckFailed, why)
	if t := strings.TrimSpace(output); t != "" {
		msg += ": " + t
	}
	return output, &checkError{msg: msg}
}

type checkError struct{ msg string }

func (e *checkError) Error() string { return e.msg }
func (e *checkError) Unwrap() error { return ErrCheckFailed }

// capped keeps the first max bytes written to it and counts the rest.
type capped struct {
	max     int
	b       bytes.Buffer
	dropped int
}

func (c *capped) Write(p []byte) (int, error) {
	room := c.max - c.b.Len()
	if room >= len(p) {
		c.b.Write(p)
	} else {
		if room > 0 {
			c.b.Write(p[:room])
		}
		c.dropped += len(p) - max(room, 0)
	}
	return len(p), nil
}

func (c *capped) String() string {
	if c.dropped > 0 {
		return fmt.Sprintf("%s... (%d more bytes)", c.b.String(), c.dropped)
	}
	return c.b.String()
}
