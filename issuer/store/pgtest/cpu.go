package pgtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// ServerCPU is the processor time (user and system) used so far by every process of the
// PostgreSQL server that databaseURL reaches: the postmaster (the parent of one of its backends),
// its live children (backends, background writers) and the children it has reaped. It is for
// benchmarks and load tools that report the database's share of the processor beside their
// own; a server on another machine cannot be measured this way (Linux /proc only).
func ServerCPU(ctx context.Context, databaseURL string) (time.Duration, error) {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return 0, fmt.Errorf("pgtest: server CPU: %w", err)
	}
	defer conn.Close(context.Background())
	var backend int
	if err := conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		return 0, fmt.Errorf("pgtest: server CPU: %w", err)
	}
	self, err := procStat(backend)
	if err != nil {
		return 0, fmt.Errorf("pgtest: server CPU: backend %d is not on this machine: %w", backend, err)
	}
	postmaster, err := procStat(self.ppid)
	if err != nil {
		return 0, fmt.Errorf("pgtest: server CPU: postmaster %d: %w", self.ppid, err)
	}
	total := postmaster.cpu + postmaster.reaped
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("pgtest: server CPU: %w", err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := procStat(pid)
		if err != nil || st.ppid != self.ppid {
			continue // gone meanwhile, or another program's
		}
		total += st.cpu
	}
	return total, nil
}

type procStatus struct {
	ppid int
	// cpu is the process's own user and system time; reaped that of its children it has waited for.
	cpu, reaped time.Duration
}

// procStat reads a process's parent and its processor times from /proc/PID/stat (clock ticks of
// 10 ms, as Linux reports them to user space).
func procStat(pid int) (procStatus, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStatus{}, err
	}
	// The fields after the command name, which is in parentheses and may hold anything.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStatus{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 15 {
		return procStatus{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ppid, err := strconv.Atoi(string(f[1]))
	if err != nil {
		return procStatus{}, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	var ticks [4]int64 // utime, stime, cutime, cstime
	for k := range ticks {
		if ticks[k], err = strconv.ParseInt(string(f[11+k]), 10, 64); err != nil {
			return procStatus{}, fmt.Errorf("/proc/%d/stat: malformed", pid)
		}
	}
	const tick = 10 * time.Millisecond
	return procStatus{ppid: ppid, cpu: time.Duration(ticks[0]+ticks[1]) * tick, reaped: time.Duration(ticks[2]+ticks[3]) * tick}, nil
}
