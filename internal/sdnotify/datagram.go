package sdnotify

// Datagram is one received notification.
type Datagram struct {
	// Msg is the parsed message; it is the zero Message when Err is set.
	Msg Message
	// Err is set when the datagram was malformed or too large (it then
	// matches ErrMalformed) or its control data could not be decoded. The
	// Receiver is still usable.
	Err error
	// PID is the sender's pid from SCM_CREDENTIALS, as vouched for by the
	// kernel; 0 when unknown (non-Linux, or no credentials arrived).
	PID int
	// UID is the sender's uid from SCM_CREDENTIALS; -1 when unknown.
	UID int
	// FDs is how many file descriptors arrived with the datagram. They have
	// already been closed.
	FDs int
}
