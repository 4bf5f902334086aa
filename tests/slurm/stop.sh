#!/usr/bin/env bash
# Stop the daemons tests/slurm/start.sh started (slurmd, slurmctld, then munged if it started it),
# each by the PID it recorded in $COMMST_SLURM_DIR (default /tmp/commst-slurm)/run, and remove the
# /etc/slurm files it wrote (only those carrying its marker line).
set -uo pipefail

DIR="${COMMST_SLURM_DIR:-/tmp/commst-slurm}"
log() { echo "[slurm-stop] $*" >&2; }

stop_pid_file() {  # name pidfile
    local name=$1 file=$2 pid
    [ -s "$file" ] || return 0
    pid="$(cat "$file")"
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name (PID $pid) did not stop on SIGTERM; sending SIGKILL"
            kill -9 "$pid" 2>/dev/null || true
        fi
        log "stopped $name (PID $pid)"
    fi
    rm -f "$file"
}

stop_pid_file slurmd "$DIR/run/slurmd.pid"
stop_pid_file slurmctld "$DIR/run/slurmctld.pid"
stop_pid_file munged "$DIR/run/munged.pid"

MARKER="# Written by tests/slurm/start.sh (CommST); removed by tests/slurm/stop.sh."
for conf in /etc/slurm/slurm.conf /etc/slurm/gres.conf; do
    if [ -f "$conf" ] && grep -qxF "$MARKER" "$conf"; then
        rm -f "$conf" && log "removed $conf"
    fi
done
