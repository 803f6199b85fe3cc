package serverflags

import (
	"flag"
	"log/slog"
	"testing"
	"time"
)

func TestOptions_EachFlagFillsItsField(t *testing.T) {
	fs := flag.NewFlagSet("hello", flag.ContinueOnError)
	options := Options(fs)
	err := fs.Parse([]string{"-pidfile", "/run/p", "-probation", "1s", "-drain-timeout", "2s",
		"-drain-idle", "3s", "-ready-timeout", "4s", "-max-draining", "2", "-migrate=false", "-v", "-takeover", "/run/app/t.sock"})
	if err != nil {
		t.Fatal(err)
	}
	o := options()
	if o.PIDFile != "/run/p" || o.Probation != time.Second || o.DrainTimeout != 2*time.Second ||
		o.DrainIdle != 3*time.Second || o.ReadyTimeout != 4*time.Second || o.MaxDraining != 2 || !o.NoMigrate || o.Logger == nil ||
		o.Takeover != "/run/app/t.sock" {
		t.Fatalf("options %+v", o)
	}
}

func TestOptions_DefaultsAreTheLibrarys(t *testing.T) {
	fs := flag.NewFlagSet("hello", flag.ContinueOnError)
	options := Options(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	o := options()
	if o.PIDFile != "" || o.Probation != 0 || o.DrainTimeout != 0 || o.DrainIdle != 0 || o.ReadyTimeout != 0 || o.MaxDraining != 0 || o.NoMigrate || o.Takeover != "" {
		t.Fatalf("options %+v, want every field at its zero value (the library's default)", o)
	}
	if o.Logger == nil || o.Logger.Enabled(t.Context(), slog.LevelError) {
		t.Fatal("without -v the logger must exist and discard everything")
	}
}
