//go:build !unix

package supervisor

import "net/http"

// Metrics answers 404: there is no supervisor off unix.
func (*Supervisor) Metrics() http.Handler { return http.NotFoundHandler() }

// Readiness answers 404: there is no supervisor off unix.
func (*Supervisor) Readiness() http.Handler { return http.NotFoundHandler() }
