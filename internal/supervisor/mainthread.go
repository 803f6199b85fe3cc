package supervisor

import "sync/atomic"

// A worker's parent-death signal fires when the *thread* that forked it
// exits, and a self-upgrade's execve ends every thread but the one that
// calls it, which then becomes the process's main thread. So the thread
// that forks the workers and the thread that execs must be one, and after
// the first re-exec that thread is the main thread: a spawner on any other
// thread would fork the next workers from a thread the second re-exec
// ends, and the workers adopted from the first would lose their parent
// thread at the second. WithMainThread lends the main thread to the
// supervisor's spawner for the whole life of the process.

// mainThread carries the spawner's work to the main thread while
// WithMainThread serves it; nil otherwise (spawner.go then locks a thread
// of its own, enough for a supervisor that never re-executes itself).
var mainThread atomic.Pointer[chan func()]

// WithMainThread runs f on a new goroutine and, on the calling goroutine,
// every fork and exec the supervisor's spawner asks for, until f returns;
// it returns f's result. Call it from the main goroutine of a program
// whose init locked it to the main thread (runtime.LockOSThread in an init
// function), as `handoff run` does, so that every worker is forked by the
// main thread, the one a self-upgrade's execve keeps (selfupgrade_linux.go).
// Off unix it just runs f.
func WithMainThread(f func() int) int {
	reqs := make(chan func())
	mainThread.Store(&reqs)
	defer mainThread.Store(nil)
	result := make(chan int, 1)
	go func() { result <- f() }()
	for {
		select {
		case job := <-reqs:
			job()
		case code := <-result:
			return code
		}
	}
}
