#!/usr/bin/env bash
# Read-only audit of the host settings that matter to sluice-server.
#
# Usage: bash tuning/audit.sh [--strict] [path/to/sluice.conf]
#
# For each setting prints: current value, recommended value, OK/WARN, and
# why. It needs no root and changes nothing (only reads /proc, /sys and
# this shell's limits). tcp-backlog and maxclients are taken from the given
# config file when present, else Redis's defaults (511, 10000). Limits are
# those of this shell: run it as the user (or under the unit) that runs the
# server. --strict: exit 1 when any line is WARN.
set -uo pipefail

strict=0
conf=""
for arg in "$@"; do
    case "$arg" in
        --strict) strict=1 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) conf="$arg" ;;
    esac
done

# Last value of a directive in a redis.conf-style file (or the default).
conf_value() {
    local name=$1 default=$2 value=""
    if [[ -n "$conf" && -r "$conf" ]]; then
        value=$(awk -v k="$name" 'tolower($1) == k { v = $2 } END { print v }' "$conf")
    fi
    echo "${value:-$default}"
}

tcp_backlog=$(conf_value tcp-backlog 511)
maxclients=$(conf_value maxclients 10000)

read_file() { [[ -r "$1" ]] && tr -s ' \t' ' ' <"$1" || echo "n/a"; }

warnings=0
printf '%-30s %-22s %-22s %-5s %s\n' SETTING CURRENT RECOMMENDED STATUS WHY
row() { # name current recommended ok(0/1) why
    local status=OK
    if [[ "$4" != 1 ]]; then
        status=WARN
        warnings=$((warnings + 1))
    fi
    printf '%-30s %-22s %-22s %-5s %s\n' "$1" "$2" "$3" "$status" "$5"
}
is_int() { [[ "$1" =~ ^-?[0-9]+$ ]]; }
ge() { is_int "$1" && is_int "$2" && (("$1" >= "$2")) && echo 1 || echo 0; }

# Kernel version: multishot accept and provided-buffer rings need 5.19,
# multishot recv 6.0.
kver=$(uname -r)
IFS=. read -r kmaj kmin _ <<<"${kver%%-*}"
ok=0
if is_int "$kmaj" && is_int "$kmin" && ((kmaj > 6 || (kmaj == 6 && kmin >= 0))); then ok=1; fi
row "kernel" "$kver" ">= 6.0" "$ok" "io_uring multishot recv and buffer rings"

v=$(read_file /proc/sys/kernel/io_uring_disabled)
if [[ "$v" == "n/a" ]]; then
    row "kernel.io_uring_disabled" "absent" "0" 1 "key absent (kernel < 6.6): io_uring is always enabled"
else
    row "kernel.io_uring_disabled" "$v" "0" "$([[ "$v" == 0 ]] && echo 1 || echo 0)" \
        "1 limits io_uring to kernel.io_uring_group, 2 disables it: sluice cannot start"
fi

v=$(ulimit -l)
soft_ok=$([[ "$v" == unlimited ]] && echo 1 || ge "$v" 1048576)
row "RLIMIT_MEMLOCK (KiB, soft)" "$v" ">= 1048576" "$soft_ok" \
    "io_uring pins registered/ring buffers against memlock (limits-sluice.conf)"

v=$(ulimit -n)
need=$((maxclients + 32))
nofile_ok=$([[ "$v" == unlimited ]] && echo 1 || ge "$v" "$need")
row "RLIMIT_NOFILE (soft)" "$v" ">= $need" "$nofile_ok" \
    "maxclients $maxclients + 32 reserved; below that maxclients is lowered at startup"

v=$(read_file /proc/sys/net/core/somaxconn)
rec=4096; ((tcp_backlog > rec)) && rec=$tcp_backlog
row "net.core.somaxconn" "$v" ">= $tcp_backlog, rec. $rec" "$(ge "$v" "$tcp_backlog")" \
    "listen() backlog is capped at somaxconn; tcp-backlog is $tcp_backlog"

v=$(read_file /proc/sys/net/ipv4/tcp_max_syn_backlog)
rec=8192; ((tcp_backlog > rec)) && rec=$tcp_backlog
row "net.ipv4.tcp_max_syn_backlog" "$v" ">= $tcp_backlog, rec. $rec" "$(ge "$v" "$tcp_backlog")" \
    "half-open connections queued during a connect storm"

v=$(read_file /proc/sys/vm/overcommit_memory)
row "vm.overcommit_memory" "$v" "1" "$([[ "$v" == 1 ]] && echo 1 || echo 0)" \
    "Redis's advice: allocations (and fork for snapshots) may fail under pressure otherwise"

thp_raw=$(read_file /sys/kernel/mm/transparent_hugepage/enabled)
thp=$(sed -n 's/.*\[\(.*\)\].*/\1/p' <<<"$thp_raw")
thp=${thp:-$thp_raw}
row "transparent_hugepage/enabled" "$thp" "madvise or never" "$([[ "$thp" != always ]] && echo 1 || echo 0)" \
    "'always' causes latency spikes and memory bloat (Redis warns about it)"

v=$(read_file /proc/sys/net/core/rmem_max)
row "net.core.rmem_max" "$v" ">= 16777216" "$(ge "$v" 16777216)" \
    "only for 10 Gbit/s single streams (replication): BDP at 2 ms RTT is ~2.5 MB"
v=$(read_file /proc/sys/net/core/wmem_max)
row "net.core.wmem_max" "$v" ">= 16777216" "$(ge "$v" 16777216)" \
    "as rmem_max, for the sending side"
v=$(read_file /proc/sys/net/ipv4/tcp_wmem)
max=${v##* }
row "net.ipv4.tcp_wmem (max)" "$max" ">= 16777216" "$(ge "$max" 16777216)" \
    "autotuned send buffer ceiling"
v=$(read_file /proc/sys/net/ipv4/tcp_rmem)
max=${v##* }
row "net.ipv4.tcp_rmem (max)" "$max" ">= 16777216" "$(ge "$max" 16777216)" \
    "autotuned receive buffer ceiling"

# A VM guest whose idle vCPUs halt at once: every wake-up of a thread on
# another (idle) vCPU then pays a VM exit and the host's wake-up of the
# vCPU, tens of microseconds. A WAIT crosses threads several times
# (client, shard, replica link, ACK watcher): SET+WAIT 1 p50 on a 2-vCPU
# VM was 100-150 us at 0 and 30-35 us at 200000 (the kernel's default).
if [[ "$(read_file /sys/devices/system/cpu/cpuidle/current_driver)" == haltpoll ]]; then
    v=$(read_file /sys/module/haltpoll/parameters/guest_halt_poll_ns)
    row "haltpoll guest_halt_poll_ns" "$v" ">= 200000" "$(ge "$v" 200000)" \
        "VM guest: an idle vCPU polls this long before halting (0: cross-CPU wake-ups cost tens of us)"
fi

echo
echo "$warnings warning(s). Recommended values: tuning/sysctl-sluice.conf, tuning/limits-sluice.conf."
if ((strict && warnings > 0)); then
    exit 1
fi
exit 0
