#!/usr/bin/env bash
# MpiPoolExecutor across hosts (issue 19): three simulated hosts h1 h2 h3 (network namespaces
# on one bridge, TCP only, remote daemons started through an rsh agent), from
# ../shared/tools/mpi-multihost (or $CF_MPI_MULTIHOST_TOOLS). One rank per host, rank 0 on h1.
#
#   1. the SHA demo (examples/mpi_sha) across the three hosts, and examples/flags_mpi: it
#      downloads 20 flags from a flags_server on h1 given by URL into a shared directory, and
#      says exactly what is missing otherwise (a server only rank 0's host reaches; a download
#      directory the hosts do not share);
#   2. tests/mpi.rs in mode `hosts h1 h2 h3`: every check of the single-host run (results,
#      order, panics, mixed as_completed/wait over thread, process and MPI futures, shutdown,
#      initializer, image refusal, long tasks not lost, idle CPU), plus each rank's host and
#      the host named in a refusal;
#   3. the lost host: tests/mpi.rs in mode `lost-host h3` runs a 12 s task on each worker rank;
#      once they run, `ip -n h3 link set eth0 down` makes h3 vanish without a reset. Rank 0
#      must fail the task on h3 with an error naming rank 2 and h3 within the default liveness
#      timeout (10 s), let the task on h2 finish, and abort the job with error code 69.
#
# Open MPI 4.1's mpirun, tearing the job down, waits for every daemon, and it hears nothing
# from h3's daemon until TCP gives up on that connection: about 16 minutes with Linux's default
# tcp_retries2 (15). Once rank 0 has aborted, this script lowers tcp_retries2 on h1, the launch
# host, so that mpirun's teardown ends in seconds and its exit status (69) can be checked;
# rank 0's own detection runs under the default settings.
#
# Needs root (network namespaces), iproute2, util-linux and Open MPI; installs what is missing.
# Every namespace and every process in it is removed on exit, failed or not.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
export CARGO_TERM_COLOR=never

tools=${CF_MPI_MULTIHOST_TOOLS:-$repo/../shared/tools/mpi-multihost}
tools=$(readlink -f "$tools")
work=$repo/target/mpi-multihost # not /tmp: every simulated host mounts a private /tmp
hosts=(h1 h2 h3)
liveness_s=10 # the default liveness timeout, which this run relies on

say() { printf '%s\n' "$*"; }
fail() {
  say "mpi-multihost: FAILED: $*" >&2
  exit 1
}
now_ms() { date +%s%3N; }

[ "$(id -u)" -eq 0 ] || fail "needs root to create network namespaces"
[ -x "$tools/mpirun3" ] || fail "no $tools/mpirun3 (set CF_MPI_MULTIHOST_TOOLS)"

packages=(libopenmpi-dev openmpi-bin libclang-dev pkgconf iproute2 util-linux)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

# Ends every process "on" the simulated hosts (mpirun, daemons, ranks: a vanished host's ranks
# outlive the job), then removes the namespaces, veths, bridge and per-host /etc/hosts. The
# veths go explicitly: a namespace outlives its name while the kernel still retransmits on its
# orphaned TCP connections (to a vanished host: minutes), and its veth with it.
leftovers() {
  ip netns list 2>/dev/null | grep -qwE 'h1|h2|h3' ||
    ip link show 2>/dev/null | grep -qE ': (cfbr0|cfv-h[123])[:@]'
}
cleanup() {
  local h pids
  for h in "${hosts[@]}"; do
    pids=$(ip netns pids "$h" 2>/dev/null || true)
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
  done
  for _ in $(seq 50); do
    pids=$(for h in "${hosts[@]}"; do ip netns pids "$h" 2>/dev/null; done)
    [ -n "$pids" ] || break
    sleep 0.1
  done
  sh "$tools/teardown.sh" >/dev/null 2>&1 || true
  for h in "${hosts[@]}"; do ip link del "cfv-$h" 2>/dev/null || true; done
  ip link del cfbr0 2>/dev/null || true
  if leftovers; then
    local links
    links=$(ip -o link show | grep -oE 'cfbr0|cfv-h[123]' | tr '\n' ' ')
    say "mpi-multihost: left behind: $(ip netns list | tr '\n' ' ') $links" >&2
  fi
}
if leftovers; then
  say "mpi-multihost: removing namespaces and links left by an earlier run"
  cleanup
fi
trap cleanup EXIT
start_ms=$(now_ms)

say "building (debug: the test build is reused)"
cargo build --features mpi --example mpi_sha --example flags_mpi --example flags_server
built=$(cargo test --features mpi --test mpi --no-run 2>&1) || {
  say "$built"
  fail "tests/mpi.rs does not build"
}
test_bin=$(printf '%s\n' "$built" |
  sed -n 's/.*Executable tests\/mpi\.rs (\(.*\))$/\1/p' | tail -n1)
[ -n "$test_bin" ] || fail "cannot find the tests/mpi.rs binary in: $built"
test_bin=$repo/$test_bin
sha_bin=$repo/target/debug/examples/mpi_sha
flags_bin=$repo/target/debug/examples/flags_mpi
server_bin=$repo/target/debug/examples/flags_server

sh "$tools/setup.sh"
mkdir -p "$work"

# --- 1. the SHA demo -----------------------------------------------------------------------
say ""
say "--- mpi_sha across h1 h2 h3"
out=$work/mpi_sha.out
"$tools/mpirun3" "$sha_bin" >"$out" 2>&1 || {
  cat "$out"
  fail "mpi_sha failed"
}
cat "$out"
digests=$(grep -cE '^[0-9a-f]{64}$' "$out" || true)
[ "$digests" -eq 12 ] || fail "mpi_sha printed $digests digests, not 12"
grep -q '^12 SHA-256 jobs of 1 MiB on 2 MPI worker ranks in ' "$out" || fail "no summary line"

say ""
say "--- flags_mpi across h1 h2 h3"
flags_run=$work/flags-run # a directory every simulated host shares
rm -rf "$flags_run"
mkdir -p "$flags_run"
out=$work/flags_mpi.out
# Without a server every host reaches: rank 0 serves on its own 127.0.0.1.
"$tools/mpirun3" -wdir "$flags_run" "$flags_bin" >"$out" 2>&1 && {
  cat "$out"
  fail "flags_mpi with a server on rank 0's 127.0.0.1 should have failed"
}
cat "$out"
said='initializer failed on MPI rank [12] on h[23]: '
said+='cannot reach the flag server http://127\.0\.0\.1:'
grep -q "$said" "$out" ||
  fail "flags_mpi did not say that the server must be reachable from every host"
server_out=$work/flags_server.out
ip netns exec h1 "$server_bin" --bind 0.0.0.0 --quiet >"$server_out" 2>&1 &
server=$!
for _ in $(seq 100); do
  grep -q 'Press Ctrl-C' "$server_out" && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
grep -q 'Press Ctrl-C' "$server_out" || {
  cat "$server_out"
  fail "flags_server did not start on h1"
}
# The server reachable by name, but a directory the hosts do not share (each has its own /tmp).
"$tools/mpirun3" -wdir /tmp "$flags_bin" -s http://h1:8001/flags >"$out" 2>&1 && {
  cat "$out"
  fail "flags_mpi saving into each host's own /tmp should have failed"
}
cat "$out"
said='initializer failed on MPI rank [12] on h[23]: /tmp/downloads on h[23] is not the download '
said+='directory rank 0 uses on h1'
grep -q "$said" "$out" ||
  fail "flags_mpi did not say that the download directory must be shared"
# Both: the 20 flags, in the one directory.
"$tools/mpirun3" -wdir "$flags_run" "$flags_bin" -s http://h1:8001/flags >"$out" 2>&1 || {
  cat "$out"
  fail "flags_mpi failed with a reachable server and a shared directory"
}
cat "$out"
kill "$server"
grep -q '^20 flags downloaded in ' "$out" || fail "flags_mpi did not download 20 flags"
saved=$(find "$flags_run/downloads" -name '*.gif' | wc -l)
[ "$saved" -eq 20 ] || fail "$saved flags saved in $flags_run/downloads, not 20"

# --- 2. every check, across hosts ----------------------------------------------------------
say ""
say "--- tests/mpi.rs hosts h1 h2 h3"
out=$work/hosts.out
"$tools/mpirun3" "$test_bin" hosts h1 h2 h3 >"$out" 2>&1 || {
  cat "$out"
  fail "the checks failed across hosts"
}
cat "$out"
grep -q '^ok ranks 1..2 run on \["h2", "h3"\]$' "$out" || fail "ranks not on h2 and h3"
grep -q '^all MPI checks passed$' "$out" || fail "the checks did not all pass"

# --- 3. a host vanishes mid-run --------------------------------------------------------------
say ""
say "--- tests/mpi.rs lost-host h3 (h3's link goes down while both tasks run)"
out=$work/lost-host.out
: >"$out"
"$tools/mpirun3" "$test_bin" lost-host h3 >"$out" 2>&1 &
job=$!
# Polls the output for a line until a deadline; returns 1 if the job ended first or time ran out.
await() {
  local pattern=$1 limit_ms=$2 t
  t=$(now_ms)
  until grep -q -- "$pattern" "$out"; do
    kill -0 "$job" 2>/dev/null || return 1
    [ $(($(now_ms) - t)) -lt "$limit_ms" ] || return 1
    sleep 0.05
  done
}
await 'cut h3 now' 60000 || {
  cat "$out"
  fail "the tasks never started"
}
ip -n h3 link set eth0 down
cut_ms=$(now_ms)
await 'concurrent-futures: MPI rank 2 on h3 stopped answering' $(((liveness_s + 5) * 1000)) || {
  cat "$out"
  fail "no error naming rank 2 and h3 within $((liveness_s + 5)) s of the cut"
}
error_ms=$(now_ms)
await 'aborts the MPI job (error code 69)' 30000 || {
  cat "$out"
  fail "rank 0 did not abort the job"
}
abort_ms=$(now_ms)
# Rank 0 is done; only mpirun's teardown waits, on TCP (see the top of this file).
ip netns exec h1 sh -c 'echo 3 > /proc/sys/net/ipv4/tcp_retries2'
set +e
rc=0
for _ in $(seq 600); do
  kill -0 "$job" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$job" 2>/dev/null; then
  kill "$job"
  rc=124
else
  wait "$job"
  rc=$?
fi
set -e
end_ms=$(now_ms)
cat "$out"
secs() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
say ""
say "lost host: cut -> error naming rank 2 on h3: $(secs $((error_ms - cut_ms))) s" \
  "(liveness timeout ${liveness_s} s); cut -> rank 0 aborts: $(secs $((abort_ms - cut_ms))) s" \
  "(after the 12 s task on h2); cut -> mpirun exits $rc: $(secs $((end_ms - cut_ms))) s"
grep -q '^lost-host: rank 1 on h2 finished its 12000 ms task$' "$out" ||
  fail "the long task on h2 did not finish"
grep -q 'lost-host: failed after .*MPI rank 2 on h3 stopped answering' "$out" ||
  fail "the future of the task on h3 did not fail naming rank 2 and h3"
[ $((error_ms - cut_ms)) -le $(((liveness_s + 2) * 1000)) ] ||
  fail "the error came later than the liveness timeout allows"
[ "$rc" -eq 69 ] || fail "mpirun exited $rc, not 69"

say ""
say "mpi-multihost: all passed in $(secs $(($(now_ms) - start_ms))) s"
