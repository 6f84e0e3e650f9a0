#!/usr/bin/env bash
# A single-node SLURM on this machine, to try the cluster launcher (hydra/launcher=asyncrl_slurm)
# for real: munge, a private MariaDB + slurmdbd (so that sacct works, which submitit needs to see
# jobs that end without a result), slurmctld and slurmd, all from the distribution's packages
# (Debian 12: SLURM 22.05). Needs root and apt-get. docs/sweeps.md, "A local SLURM".
#
#   tools/slurm_local.sh up       install what is missing, write the config, start, wait for an idle node
#   tools/slurm_local.sh status   one line; exit 0 when up, 3 when down, 1 when partly up
#   tools/slurm_local.sh down     cancel every job, stop every daemon it started; nothing keeps running
#
# Every command is idempotent and prints one line (errors go to stderr with exit code 1).
# The node is this machine (`slurmd -C`: its CPUs and memory), in one partition, `local`
# (SLURM_LOCAL_PARTITION to rename it). Jobs run as the submitting user. Files:
#   /etc/slurm/slurm.conf, /etc/slurm/slurmdbd.conf   written here (never one written by someone else)
#   /var/lib/asyncrl-slurm/                         MariaDB's data (the accounting database)
#   /run/asyncrl-slurm/                             pid files and MariaDB's socket
#   /var/log/slurm/                                 the daemons' logs (and slurm_local-*.log)
set -uo pipefail

PARTITION="${SLURM_LOCAL_PARTITION:-local}"
CLUSTER="asyncrl-local"
DB_PORT="${SLURM_LOCAL_DB_PORT:-3307}"        # the private MariaDB, on 127.0.0.1 only
ETC=/etc/slurm
CONF="$ETC/slurm.conf"
DBD_CONF="$ETC/slurmdbd.conf"
STATE=/var/lib/asyncrl-slurm
RUN=/run/asyncrl-slurm
LOG=/var/log/slurm
MARK="# written by asyncrl tools/slurm_local.sh"
PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd)   # start order; down stops them in reverse
MUNGE_PID=/run/munge/munged.pid

say() { echo "slurm_local: $*"; }
die() { echo "slurm_local: $*" >&2; exit 1; }

pidfile() {
  case "$1" in
    munged) echo "$MUNGE_PID" ;;
    *) echo "$RUN/$1.pid" ;;
  esac
}

running() {  # running NAME: the daemon of that pid file is alive
  local f pid
  f="$(pidfile "$1")"
  [ -r "$f" ] || return 1
  pid="$(tr -dc 0-9 < "$f")"
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  # a stale pid file whose number was reused by another program does not count (the executable
  # as root: Debian's slurmctld is slurmctld-wlm; the process name, which anyone may read, otherwise)
  local exe
  exe="$(basename "$(readlink "/proc/$pid/exe" 2>/dev/null)")"
  [ -n "$exe" ] || exe="$(cat "/proc/$pid/comm" 2>/dev/null)"
  case "$exe" in "$1" | "$1"-wlm) return 0 ;; *) return 1 ;; esac
}

wait_for() {  # wait_for SECONDS COMMAND...: until the command succeeds
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.5
  done
}

stop_daemon() {  # stop_daemon NAME: SIGTERM by pid file, SIGKILL after 20 s
  local f pid
  running "$1" || { rm -f "$(pidfile "$1")"; return 0; }
  f="$(pidfile "$1")"
  pid="$(tr -dc 0-9 < "$f")"
  kill -TERM "$pid" 2>/dev/null
  if ! wait_for 20 bash -c "! kill -0 $pid"; then
    kill -KILL "$pid" 2>/dev/null
    wait_for 5 bash -c "! kill -0 $pid"
  fi
  rm -f "$f"
  STOPPED+=("$1")
}

ours() {  # ours FILE: the file was written by this script
  head -n 1 "$1" 2>/dev/null | grep -qxF "$MARK"
}

# ---- up ------------------------------------------------------------------------------------------
install_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} (SLURM 22.05, munge, MariaDB) yourself"
  local apt_log=/var/log/slurm_local-apt.log
  export DEBIAN_FRONTEND=noninteractive
  # the packages' own start-up scripts may try to start their daemons with default configs;
  # this script starts them itself below
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >"$apt_log" 2>&1; then
    apt-get update -q >>"$apt_log" 2>&1
    apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$apt_log" 2>&1 \
      || die "cannot install ${missing[*]} with apt-get (see $apt_log)"
  fi
  INSTALLED="installed ${missing[*]}; "
}

node_line() {  # this machine as a NodeName line: its sockets, cores, threads and memory
  local detected mem
  detected="$(slurmd -C 2>/dev/null | head -n 1)" || return 1
  case "$detected" in NodeName=*) ;; *) return 1 ;; esac
  mem="$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$detected")"
  [ -n "$mem" ] || return 1
  # leave 5% of the memory to the system, or slurmd drains the node when the kernel reports less
  detected="$(sed "s/RealMemory=[0-9]*/RealMemory=$((mem * 95 / 100))/" <<<"$detected")"
  echo "$detected NodeAddr=127.0.0.1 State=UNKNOWN"
}

write_if_changed() {  # write_if_changed FILE MODE OWNER CONTENT; returns 0 when the file changed
  local file="$1" mode="$2" owner="$3" content="$4"
  if [ -e "$file" ] && ! ours "$file"; then
    die "$file exists and was not written by this script; not touching it (move it away to use this script)"
  fi
  if [ -e "$file" ] && [ "$(cat "$file")" = "$content" ]; then
    return 1
  fi
  local tmp
  tmp="$(mktemp "$file.XXXXXX")" || die "cannot write $file"
  printf '%s\n' "$content" >"$tmp" && chmod "$mode" "$tmp" && chown "$owner" "$tmp" && mv -f "$tmp" "$file" \
    || { rm -f "$tmp"; die "cannot write $file"; }
  return 0
}

write_configs() {
  local host node db_pass
  host="$(hostname -s)"
  node="$(node_line)" || die "slurmd -C cannot describe this machine (see 'slurmd -C')"
  mkdir -p "$ETC" "$RUN" "$STATE" "$LOG" /var/lib/slurm/slurmctld /var/lib/slurm/slurmd
  chown slurm:slurm "$LOG" /var/lib/slurm/slurmctld
  CONF_CHANGED=0
  write_if_changed "$CONF" 644 root:root "$MARK
# A single-node cluster on this machine for trying asyncrl's SLURM launcher (docs/sweeps.md).
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
# no cgroups needed: processes are tracked through /proc, tasks are bound to their CPUs
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
# CPUs and memory are the consumable resources: --cpus-per-task and --mem must fit the node
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
ReturnToService=2
# requeue (scontrol requeue, submitit's requeue on timeout) is on for batch jobs
JobRequeue=1
KillWait=30
MinJobAge=600
# accounting through slurmdbd, so that sacct (and submitit, which polls it) sees every job
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
JobCompType=jobcomp/none
$node
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP" && CONF_CHANGED=1

  if ours "$DBD_CONF"; then
    db_pass="$(sed -n 's/^StoragePass=//p' "$DBD_CONF")"
  fi
  [ -n "${db_pass:-}" ] || db_pass="$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
  write_if_changed "$DBD_CONF" 600 slurm:slurm "$MARK
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=slurm
PidFile=$RUN/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$db_pass
StorageLoc=slurm_acct_db" && CONF_CHANGED=1
  DB_PASS="$db_pass"
}

start_munge() {
  running munged && return 0
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  chmod 755 /run/munge
  if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --keyfile=/etc/munge/munge.key >/dev/null 2>&1 || die "cannot create /etc/munge/munge.key"
    chown munge:munge /etc/munge/munge.key
    chmod 600 /etc/munge/munge.key
  fi
  runuser -u munge -- /usr/sbin/munged --pid-file="$MUNGE_PID" >/dev/null 2>&1 \
    || die "cannot start munged (see /var/log/munge/munged.log)"
  wait_for 15 bash -c 'munge -n | unmunge' || die "munged does not answer (see /var/log/munge/munged.log)"
  STARTED+=(munged)
}

sql() { mariadb --no-defaults --protocol=socket -S "$RUN/mysqld.sock" -u root -e "$1"; }

start_mariadb() {
  local data="$STATE/mysql"
  if ! running mariadbd; then
    chown mysql:mysql "$STATE"
    if [ ! -d "$data/mysql" ]; then
      mariadb-install-db --no-defaults --user=mysql --datadir="$data" --auth-root-authentication-method=socket \
        --skip-test-db >"$LOG/slurm_local-mariadb-install.log" 2>&1 \
        || die "cannot create the accounting database in $data (see $LOG/slurm_local-mariadb-install.log)"
    fi
    touch "$LOG/mariadb.log" && chown mysql:mysql "$LOG/mariadb.log"
    chown mysql:mysql "$RUN"
    setsid /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$data" --socket="$RUN/mysqld.sock" \
      --pid-file="$RUN/mariadbd.pid" --port="$DB_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
      --innodb-buffer-pool-size=64M --log-error="$LOG/mariadb.log" </dev/null >/dev/null 2>&1 &
    wait_for 60 sql "SELECT 1" || die "MariaDB does not start (see $LOG/mariadb.log)"
    wait_for 10 test -s "$RUN/mariadbd.pid" || die "MariaDB wrote no pid file $RUN/mariadbd.pid (see $LOG/mariadb.log)"
    chmod 644 "$RUN/mariadbd.pid"  # for `status` as any user
    STARTED+=(mariadbd)
  fi
  # the accounting user may change its password when slurmdbd.conf is written anew
  sql "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
       CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
       ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
       GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" >/dev/null 2>&1 \
    || die "cannot create the slurm user in MariaDB (see $LOG/mariadb.log)"
}

start_slurm_daemon() {  # start_slurm_daemon NAME READY-COMMAND...
  local name="$1"
  shift
  running "$name" && return 0
  "/usr/sbin/$name" >/dev/null 2>&1 || die "cannot start $name (see $LOG/$name.log)"
  wait_for 60 "$@" || die "$name does not answer (see $LOG/$name.log)"
  STARTED+=("$name")
}

node_state() { sinfo -h -N -p "$PARTITION" -o %T 2>/dev/null | head -n 1; }

node_usable() {
  case "$(node_state)" in idle | mixed | allocated | completing) return 0 ;; *) return 1 ;; esac
}

cmd_up() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (it installs packages and starts system daemons)"
  STARTED=() INSTALLED=""
  install_packages
  write_configs
  if [ "$CONF_CHANGED" -eq 1 ] && { running slurmctld || running slurmd || running slurmdbd; }; then
    STOPPED=()  # a changed configuration: restart the SLURM daemons (their jobs go on)
    stop_daemon slurmd
    stop_daemon slurmctld
    stop_daemon slurmdbd
  fi
  start_munge
  start_mariadb
  start_slurm_daemon slurmdbd sacctmgr -n list cluster
  if ! sacctmgr -n -P list cluster format=cluster 2>/dev/null | grep -qxF "$CLUSTER"; then
    sacctmgr -i add cluster "$CLUSTER" >/dev/null 2>&1 || die "cannot register cluster $CLUSTER in slurmdbd (see $LOG/slurmdbd.log)"
  fi
  start_slurm_daemon slurmctld scontrol ping
  start_slurm_daemon slurmd running slurmd
  if ! wait_for 60 node_usable; then
    # a node that was drained (e.g. by an earlier unclean stop) is handed back to the scheduler
    scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1
    wait_for 30 node_usable || die "node $(hostname -s) is '$(node_state)', not idle (see $LOG/slurmd.log, 'scontrol show node')"
  fi
  local cpus mem
  read -r cpus mem < <(sinfo -h -N -p "$PARTITION" -o "%c %m" | head -n 1)
  if [ "${#STARTED[@]}" -eq 0 ]; then
    say "already up: ${INSTALLED}partition $PARTITION, node $(hostname -s) $(node_state), $cpus CPUs, $((mem / 1024)) GB"
  else
    say "up: ${INSTALLED}started ${STARTED[*]}; partition $PARTITION, node $(hostname -s) $(node_state), $cpus CPUs, $((mem / 1024)) GB"
  fi
}

# ---- down ----------------------------------------------------------------------------------------
step_daemons() {  # the pids of slurmstepd processes (they outlive slurmd while their job runs)
  local p
  for p in /proc/[0-9]*; do
    case "$(basename "$(readlink "$p/exe" 2>/dev/null)")" in slurmstepd | slurmstepd-wlm) echo "${p#/proc/}" ;; esac
  done
}

with_descendants() {  # the given pids and all their descendants
  local all=" $* " added=1 pid ppid
  while [ "$added" -eq 1 ]; do
    added=0
    while read -r pid ppid; do
      case "$all" in *" $ppid "*) case "$all" in *" $pid "*) ;; *) all="$all$pid "; added=1 ;; esac ;; esac
    done < <(ps -e -o pid=,ppid=)
  done
  echo $all
}

cmd_down() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (it stops system daemons)"
  if [ -e "$CONF" ] && ! ours "$CONF"; then
    die "$CONF was not written by this script; not stopping that SLURM"
  fi
  STOPPED=()
  local jobs=0 pids
  if running slurmctld; then
    jobs="$(squeue -h -o %A 2>/dev/null | wc -l)"
    if [ "$jobs" -gt 0 ]; then
      scancel --full $(squeue -h -o %A 2>/dev/null) >/dev/null 2>&1
      # KillWait (30 s) after SIGTERM, then SIGKILL; then the epilog
      wait_for 90 bash -c '[ -z "$(squeue -h -o %A)" ]'
    fi
  fi
  stop_daemon slurmd
  stop_daemon slurmctld
  pids="$(step_daemons)"
  if [ -n "$pids" ]; then  # jobs that did not end in time: each slurmstepd with its job's processes
    pids="$(with_descendants $pids)"
    kill -KILL $pids 2>/dev/null
    wait_for 10 bash -c "for p in $(echo $pids); do [ -d /proc/\$p ] && exit 1; done; exit 0"
  fi
  stop_daemon slurmdbd
  stop_daemon mariadbd
  stop_daemon munged
  local left
  left="$(for d in "${DAEMONS[@]}"; do running "$d" && echo "$d"; done; [ -n "$(step_daemons)" ] && echo slurmstepd)"
  [ -z "$left" ] || die "still running after down: $(echo $left)"
  if [ "${#STOPPED[@]}" -eq 0 ]; then
    say "already down"
  else
    say "down: cancelled $jobs job(s); stopped $(printf '%s\n' "${STOPPED[@]}" | awk '!seen[$0]++' | tr '\n' ' ' | sed 's/ $//')"
  fi
}

# ---- status --------------------------------------------------------------------------------------
cmd_status() {
  local up=() off=() d
  for d in "${DAEMONS[@]}"; do
    if running "$d"; then up+=("$d"); else off+=("$d"); fi
  done
  if [ "${#up[@]}" -eq 0 ]; then
    say "down"
    exit 3
  fi
  if [ "${#off[@]}" -gt 0 ]; then
    echo "slurm_local: partly up (running: ${up[*]}; not running: ${off[*]}); 'tools/slurm_local.sh up' starts the rest" >&2
    exit 1
  fi
  local cpus mem jobs
  read -r cpus mem < <(timeout 10 sinfo -h -N -p "$PARTITION" -o "%c %m" 2>/dev/null | head -n 1)
  jobs="$(timeout 10 squeue -h -o %A 2>/dev/null | wc -l)"
  say "up: partition $PARTITION, node $(hostname -s) $(node_state), ${cpus:-?} CPUs, $(( ${mem:-0} / 1024 )) GB; $jobs job(s) in the queue"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: tools/slurm_local.sh up|down|status" >&2; exit 2 ;;
esac
