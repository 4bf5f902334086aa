#!/usr/bin/env bash
# Start a single-node SLURM on this machine for tests/test_slurm.py (Debian/Ubuntu, root, no systemd).
#
#   bash tests/slurm/start.sh     # installs slurm-wlm + munge if missing, starts munged/slurmctld/slurmd
#   .venv/bin/python -m pytest tests/test_slurm.py
#   bash tests/slurm/stop.sh      # stops exactly the daemons this script started, by PID
#
# slurm.conf and gres.conf go to /etc/slurm (jobs' nested `srun` calls only find the configuration
# there: the snakemake job step drops SLURM_CONF from their environment), marked as written by this
# script; stop.sh removes them again, so snakemake's SLURM plugin stops probing a controller that is
# gone. An existing /etc/slurm/slurm.conf not written here is never overwritten. Spool folders, logs
# and PID files live in $COMMST_SLURM_DIR (default /tmp/commst-slurm). The node offers one stand-in
# GPU (gres gpu:1 backed by /dev/null) so that `--gpus=1` jobs schedule; torch inside such a job finds
# no CUDA device and falls back to CPU.
set -euo pipefail

DIR="${COMMST_SLURM_DIR:-/tmp/commst-slurm}"
HOST="$(hostname -s)"
log() { echo "[slurm-start] $*" >&2; }

if [ "$(id -u)" != 0 ]; then
    log "must run as root (it installs packages and starts slurmctld/slurmd as root)"; exit 1
fi
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null \
    || ! command -v sbatch >/dev/null; then
    log "installing slurm-wlm and munge (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

CONF_DIR=/etc/slurm
MARKER="# Written by tests/slurm/start.sh (CommST); removed by tests/slurm/stop.sh."
mkdir -p "$DIR"/{spool/ctld,spool/d,log,run} "$CONF_DIR"
if [ -e "$CONF_DIR/slurm.conf" ] && ! grep -qxF "$MARKER" "$CONF_DIR/slurm.conf"; then
    log "$CONF_DIR/slurm.conf exists and was not written by this script; not touching a real cluster's"
    log "configuration. Run the tests against that cluster instead, or move the file away."
    exit 1
fi
if [ -s "$DIR/run/slurmctld.pid" ] && kill -0 "$(cat "$DIR/run/slurmctld.pid")" 2>/dev/null; then
    log "a SLURM started from $DIR is already running (PID $(cat "$DIR/run/slurmctld.pid")); run stop.sh first"
    exit 1
fi

# munge: reuse a running munged, otherwise start one and remember its PID.
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    if [ ! -s /etc/munge/munge.key ]; then
        log "creating /etc/munge/munge.key"
        mungekey --create --keyfile /etc/munge/munge.key 2>/dev/null \
            || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
        chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    fi
    mkdir -p /run/munge && chown munge:munge /run/munge && rm -f /run/munge/commst-munged.pid
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/commst-munged.pid
    for _ in $(seq 50); do [ -s /run/munge/commst-munged.pid ] && break; sleep 0.1; done
    cp /run/munge/commst-munged.pid "$DIR/run/munged.pid"
    munge -n | unmunge >/dev/null || { log "munge does not work; see /var/log/munge/munged.log"; exit 1; }
    log "munged started (PID $(cat "$DIR/run/munged.pid"))"
fi

# Node size from the machine itself (1 GB of memory left to the system), but at least 8 CPUs and
# 16 GB: the profile's GPU request (4 CPUs per GPU, >= 16 GB) must schedule on a small CI machine too.
# `SlurmdParameters=config_overrides` lets slurmd accept a node declared larger than it is; the test
# jobs themselves are small.
read -r CPUS MEM < <(slurmd -C | awk '/^NodeName/ {for (i = 1; i <= NF; i++) {split($i, kv, "=");
    if (kv[1] == "CPUs") c = kv[2]; if (kv[1] == "RealMemory") m = kv[2]}} END {print c, m}')
MEM=$((MEM - 1000)); MEM=$((MEM < 16000 ? 16000 : MEM)); CPUS=$((CPUS < 8 ? 8 : CPUS))

cat > "$CONF_DIR/slurm.conf" <<CONF
$MARKER
# A one-node test cluster.
ClusterName=commst-ci
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/spool/ctld
SlurmdSpoolDir=$DIR/spool/d
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
SlurmdParameters=config_overrides
# Finished jobs stay visible to squeue for 5 min: the snakemake plugin's squeue status command
# needs MinJobAge >= 3 x slurm-init-seconds-before-status-checks.
MinJobAge=300
GresTypes=gpu
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
# A stand-in GPU: `Count=1` without File= makes the node INVAL, /dev/null is a harmless device file.
printf '%s\nNodeName=%s Name=gpu File=/dev/null\n' "$MARKER" "$HOST" > "$CONF_DIR/gres.conf"

/usr/sbin/slurmctld -c
/usr/sbin/slurmd -c
for _ in $(seq 60); do
    state="$(sinfo -h -o %t 2>/dev/null || true)"
    [ "$state" = idle ] && break
    sleep 0.5
done
if [ "$state" != idle ]; then
    log "node state is '${state:-none}' instead of idle; see $DIR/log/slurmctld.log and slurmd.log"
    exit 1
fi
log "slurmctld PID $(cat "$DIR/run/slurmctld.pid"), slurmd PID $(cat "$DIR/run/slurmd.pid"); node $HOST idle"
