package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-go/handoff/internal/loadgen"
)

// shellUpgrade returns the upgrade function of `handoff bench`: it runs cmd
// through `sh -c`, with HANDOFF_BENCH_UPGRADE set to the upgrade's number
// (1-based), and shows each line the command writes, prefixed with it. A
// command that exits non-zero, or runs past timeout, is an upgrade error.
//
// The command gets a pipe of its own rather than one that exec.Cmd copies
// from, because a command that starts a server in the background (`./app &`)
// leaves that server holding the pipe: waiting for its end would wait for the
// server. The upgrade is over when `sh` exits; later output still shows.
func shellUpgrade(cmd string, timeout time.Duration, out io.Writer) loadgen.UpgradeFunc {
	return func(ctx context.Context, i int) (loadgen.UpgradeResult, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		r, w, err := os.Pipe()
		if err != nil {
			return loadgen.UpgradeResult{}, fmt.Errorf("upgrade command: pipe: %w", err)
		}
		c := exec.Command("sh", "-c", cmd)
		c.Env = append(os.Environ(), "HANDOFF_BENCH_UPGRADE="+strconv.Itoa(i+1))
		c.Stdout, c.Stderr = w, w
		// Its own process group, so that a timeout kills whatever it started.
		c.SysProcAttr = groupAttr()
		err = c.Start()
		w.Close()
		if err != nil {
			r.Close()
			return loadgen.UpgradeResult{}, fmt.Errorf("upgrade command: %w", err)
		}
		copied := make(chan struct{})
		go func() {
			defer close(copied)
			defer r.Close()
			prefixLines(r, out, fmt.Sprintf("upgrade %d| ", i+1))
		}()
		waited := make(chan error, 1)
		go func() { waited <- c.Wait() }()
		select {
		case err = <-waited:
		case <-ctx.Done():
			killGroup(c.Process)
			<-waited
			err = fmt.Errorf("killed after %v", timeout)
			if ctx.Err() == context.Canceled {
				err = ctx.Err()
			}
		}
		// Give the output a moment to arrive so that it prints before the
		// upgrade's own line; a background child holding the pipe does not
		// hold up the run.
		select {
		case <-copied:
		case <-time.After(100 * time.Millisecond):
		}
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return loadgen.UpgradeResult{}, fmt.Errorf("upgrade command: %s", ee.ProcessState)
			}
			return loadgen.UpgradeResult{}, fmt.Errorf("upgrade command: %w", err)
		}
		return loadgen.UpgradeResult{}, nil
	}
}

// prefixLines copies r to w line by line, each line prefixed and written
// in one call, so that with a LockedWriter lines never interleave.
func prefixLines(r io.Reader, w io.Writer, prefix string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		io.WriteString(w, prefix+strings.TrimRight(sc.Text(), "\r")+"\n")
	}
}
