package serverflags

import (
	"flag"

	"github.com/handoff-go/handoff"
)

// Options registers on fs the flags that fill handoff.Options, as
// examples/hello has them, and returns the function that, called after
// fs.Parse, gives the Options they say:
//
//	-pidfile FILE      Options.PIDFile
//	-probation D       Options.Probation
//	-drain-timeout D   Options.DrainTimeout
//	-drain-idle D      Options.DrainIdle
//	-ready-timeout D   Options.ReadyTimeout
//	-max-draining N    Options.MaxDraining
//	-migrate=false     Options.NoMigrate
//	-takeover PATH     Options.Takeover (docs/TAKEOVER.md)
//	-v                 Options.Logger: Logger(true)
//
// A duration left at 0 is the library's default. Hello's flags are a
// stable interface: add here, never rename. A caller may reword a flag's
// help (fs.Lookup(name).Usage) where it means more for that program.
func Options(fs *flag.FlagSet) func() handoff.Options {
	pidfile := fs.String("pidfile", "", "write the serving pid here")
	probation := fs.Duration("probation", 0, "how long to keep the sockets after a successor is ready (0: the library's default)")
	drainTimeout := fs.Duration("drain-timeout", 0, "hard cap on the drain (0: the library's default)")
	drainIdle := fs.Duration("drain-idle", 0, "how long idle keep-alive connections may stay quiet before the drain closes them (0: default)")
	readyTimeout := fs.Duration("ready-timeout", 0, "how long a new generation may take to be ready (0: default)")
	maxDraining := fs.Int("max-draining", 0, "how many older generations may still drain when an upgrade starts; at it the oldest is retired (0: the library's default)")
	migrate := fs.Bool("migrate", true, "pass idle keep-alive connections to the new generation (-migrate=false: Options.NoMigrate, they drain)")
	verbose := fs.Bool("v", false, "log what happens to stderr")
	takeover := fs.String("takeover", "", "serve takeovers on this unix socket, or take over from the process serving there (a 0700 directory of ours; default $HANDOFF_TAKEOVER)")
	return func() handoff.Options {
		return handoff.Options{
			PIDFile:      *pidfile,
			Probation:    *probation,
			DrainTimeout: *drainTimeout,
			DrainIdle:    *drainIdle,
			ReadyTimeout: *readyTimeout,
			MaxDraining:  *maxDraining,
			NoMigrate:    !*migrate,
			Logger:       Logger(*verbose),
			Takeover:     *takeover,
		}
	}
}
