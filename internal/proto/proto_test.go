package proto

import (
	"errors"
	"testing"
)

func TestCheck(t *testing.T) {
	if err := Check("1"); err != nil {
		t.Fatalf("Check(1) = %v", err)
	}
	for _, v := range []string{"2", "0", "", "one", "1.0"} {
		if err := Check(v); !errors.Is(err, ErrVersion) {
			t.Errorf("Check(%q) = %v, want ErrVersion", v, err)
		}
	}
}
