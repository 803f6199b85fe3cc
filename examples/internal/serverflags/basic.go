package serverflags

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/handoff-go/handoff"
)

// Basic registers on fs the flags of the examples that show one protocol
// each rather than hello's knobs (chat, websocket), and returns the
// function that, called after fs.Parse, gives the address and the Options
// they say:
//
//	-addr ADDR     the address to listen on (default def)
//	-probation D   Options.Probation
//	-v             Options.Logger: Logger(true)
func Basic(fs *flag.FlagSet, def string) func() (addr string, opts handoff.Options) {
	addr := fs.String("addr", def, "address to listen on")
	probation := fs.Duration("probation", 0, "how long to keep the sockets after a successor is ready (0: the library's default)")
	verbose := fs.Bool("v", false, "log what happens to stderr")
	return func() (string, handoff.Options) {
		return *addr, handoff.Options{Probation: *probation, Logger: Logger(*verbose)}
	}
}

// Exit ends an example's main when its server returned err: nothing when
// err is nil, else "name: err" on stderr and exit status 1.
func Exit(name string, err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// Listen is the start every example that serves TCP itself shares:
// handoff.New(opts), then h.Listen("tcp", addr), which inherits the
// listener from the previous generation (no bind; the accept queue is
// shared) or binds it on the first start. The caller stops h; when the
// listener cannot be had, Listen stops h itself and returns the error.
func Listen(opts handoff.Options, addr string) (*handoff.Handoff, net.Listener, error) {
	h, err := handoff.New(opts)
	if err != nil {
		return nil, nil, err
	}
	ln, err := h.Listen("tcp", addr)
	if err != nil {
		h.Stop()
		return nil, nil, err
	}
	return h, ln, nil
}

// Main is the whole main of an example that takes Basic's flags (name is
// its name in messages, def its default address): it parses the command
// line, starts the generation with Listen and calls serve with it, its
// listener and the -v logger; it stops the generation once serve returns
// and exits as Exit does with what Listen or serve returned.
func Main(name, def string, serve func(h *handoff.Handoff, ln net.Listener, logger *slog.Logger) error) {
	config := Basic(flag.CommandLine, def)
	flag.Parse()
	addr, opts := config()
	h, ln, err := Listen(opts, addr)
	if err == nil {
		err = serve(h, ln, opts.Logger)
		h.Stop()
	}
	Exit(name, err)
}
