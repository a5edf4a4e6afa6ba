//go:build !linux

package main

import (
	"syscall"
	"time"
)

// childAttr has no portable equivalent of Linux's parent-death signal; the
// harness relies on its own cleanup.
func childAttr() *syscall.SysProcAttr { return nil }

// killGroup is a no-op where process groups are not used.
func killGroup(pid int) {}

// selfCPU is not measured on this system.
func selfCPU() time.Duration { return 0 }

// procCPU is not measured on this system.
func procCPU(pid int) time.Duration { return -1 }

// procPeakRSS is not measured on this system.
func procPeakRSS(pid int) int64 { return -1 }
