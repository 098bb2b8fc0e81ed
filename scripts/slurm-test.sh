#!/bin/sh
# A test on a real Slurm: a single-node slurmctld + slurmd on this machine (Debian's slurm-wlm and
# munge, started by hand: no systemd needed), a plan of a 2D scan of cHW and cHq3 on the bundled VH
# workspace submitted as a job array with `efthf submit --engine slurm --now`, waited for (bounded),
# merged, and compared byte for byte with the same scan run here without Slurm.
#
#   sudo scripts/slurm-test.sh            # as root; EFTHF_BINARY=path/to/efthf to skip the build
#
# Idempotent: packages are installed only when missing; the configuration, state and logs live in
# $EFTHF_SLURM_DIR (default /tmp/efthf-slurm-test), wiped at the start; daemons left by an earlier
# run are stopped by their pid files there; the daemons this run starts are stopped on exit (trap),
# by pid. /etc/slurm is not touched (the daemons and clients read $SLURM_CONF). The pitfalls (cgroup
# process tracking drains the node) are in ../shared/reference/feasibility.md.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${EFTHF_SLURM_DIR:-/tmp/efthf-slurm-test}
timeout=${EFTHF_SLURM_TIMEOUT:-300}
start=$(date +%s)
say() { echo "slurm-test: $*"; }

[ "$(id -u)" = 0 ] || { say "run as root (it installs packages and starts daemons)"; exit 1; }

# Daemons of an earlier run, by the pid files it left.
stop_pidfile() {
    [ -f "$1" ] || return 0
    pid=$(cat "$1")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$1"
}
for f in slurmd.pid slurmctld.pid munged.pid; do stop_pidfile "$dir/run/$f"; done

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    say "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends slurm-wlm slurmctld slurmd slurm-client munge >/dev/null
fi

efthf=${EFTHF_BINARY:-}
if [ -z "$efthf" ]; then
    say "building efthf"
    (cd "$repo" && swift build --product efthf >/dev/null)
    efthf="$repo/.build/debug/efthf"
fi
efthf=$(cd "$(dirname "$efthf")" && pwd)/$(basename "$efthf")

rm -rf "$dir"
mkdir -p "$dir/run" "$dir/state" "$dir/spool" "$dir/log" "$dir/work"
started_munged=no
cleanup() {
    status=$?
    stop_pidfile "$dir/run/slurmd.pid"
    stop_pidfile "$dir/run/slurmctld.pid"
    [ "$started_munged" = yes ] && stop_pidfile "$dir/run/munged.pid"
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# munge: a key (the package makes one; make it if missing), the socket directory, the daemon as
# the munge user. A munged already running (not ours) is used as it is.
if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null
fi
chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
chmod 0755 /run/munge
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    rm -f /run/munge/munged.pid
    runuser -u munge -- /usr/sbin/munged
    started_munged=yes
    # munged writes its pid file where the munge user may write; ours is the copy stopped on exit.
    for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s /run/munge/munged.pid ] && break; sleep 0.2; done
    cp /run/munge/munged.pid "$dir/run/munged.pid"
fi

host=$(hostname -s)
memory=$(free -m | awk '/^Mem:/ { print int($7 * 0.9) }')   # below what is available now
export SLURM_CONF="$dir/slurm.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=efthftest
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MailProg=/bin/true
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
NodeName=$host CPUs=$(nproc) RealMemory=$memory State=UNKNOWN
PartitionName=efthf Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

say "starting slurmctld and slurmd on $host ($(nproc) CPUs, ${memory} MB)"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
waited=0
until sinfo -h -o %T 2>/dev/null | grep -q idle; do
    waited=$((waited + 1))
    if [ $waited -gt 60 ]; then
        say "the node did not become idle in 30 s"; sinfo -N -l || true; tail -n 20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" || true; exit 1
    fi
    sleep 0.5
done

# The plan: a 2D scan of cHW × cHq3 (the other coefficients at 0), 3 shards of rows.
cd "$dir/work"
workspace="$repo/Data/vh/workspace_morphing.json"
scan="--par cHW=-0.4:0.4:6 --par cHq3=-0.2:0.2:5 --fix cHl3=0,cHDD=0,cHbox=0,cll1=0"
# shellcheck disable=SC2086
"$efthf" plan scan "$workspace" $scan --shards 3 -o plan.json
"$efthf" submit plan.json --engine slurm --mem 256M --time 10:00 --now | tee submit.out
job=$(awk '/submitted job array/ { print $4 }' submit.out)
[ -n "$job" ] || { say "no job id from efthf submit"; exit 1; }

say "waiting for job array $job (at most $timeout s)"
deadline=$(( $(date +%s) + timeout ))
while [ -n "$(squeue -h -j "$job" 2>/dev/null)" ]; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        say "job array $job still queued or running after $timeout s"; squeue; sinfo -N -l; tail -n 20 "$dir/log/slurmd.log"; exit 1
    fi
    if sinfo -h -o %T | grep -q -e drain -e down; then
        say "the node is drained or down"; sinfo -N -l; tail -n 20 "$dir/log/slurmd.log"; exit 1
    fi
    sleep 1
done

for i in 0 1 2; do
    [ -s "plan-results/shard-$i.json" ] || { say "shard $i wrote no result; its log:"; cat "plan-results/logs/shard-$i.err" || true; exit 1; }
done
"$efthf" merge plan.json plan-results/shard-*.json -o merged.json >/dev/null
# shellcheck disable=SC2086
EFTHF_PROGRESS=0 "$efthf" scan "$workspace" $scan --output local.json >/dev/null
if cmp -s merged.json local.json; then
    say "PASS: the 3 Slurm array tasks merged equal the local scan byte for byte ($(( $(date +%s) - start )) s in all)"
else
    say "FAIL: the merged scan differs from the local one"; diff merged.json local.json | head -n 20; exit 1
fi
