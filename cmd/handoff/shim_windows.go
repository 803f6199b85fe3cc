package main

// runShim: without a supervisor there are no workers to start.
func runShim() {}
