//go:build !unix

package handover

import "syscall"

// supported is false: without SCM_RIGHTS there is no handover channel, and
// Listen and Dial return ErrUnsupported. The library serves plain here.
const supported = false

const msgCtrunc = 0

func oobSpace(int) int { return 0 }

func unixRights([]int) []byte { return nil }

func parseRights([]byte) ([]int, error) { return nil, ErrUnsupported }

// closeFD has nothing to close: no descriptor is ever received here.
func closeFD(int) {}

func dupRaw(syscall.RawConn) (int, error) { return -1, ErrUnsupported }
