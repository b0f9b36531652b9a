#!/usr/bin/env bash
# The whole test job, from a fresh Debian bookworm machine: installs what is
# needed, checks formatting, builds (Release, Debug with ASan+UBSan, and the
# clang libFuzzer targets), starts the real brokers, runs every test and the
# fuzzers, stops the brokers. CI runs this.
#
#   scripts/test.sh            everything
#   scripts/test.sh -L unit    pass ctest arguments to select tests
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

step() { printf '== %s\n' "$*"; }

step deps
scripts/deps.sh

step format
scripts/format.sh --check

step "build (Release)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build

step "build (Debug, ASan+UBSan)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DBROKERSIDE_SANITIZE=ON >/dev/null
ninja -C build-asan

step "build (clang libFuzzer targets)"
fuzz_seconds=${BROKERSIDE_FUZZ_SECONDS:-60}
CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DBROKERSIDE_TESTS=OFF -DBROKERSIDE_FUZZ=ON -DBROKERSIDE_FUZZ_SECONDS="$fuzz_seconds" >/dev/null
ninja -C build-fuzz fuzzers

step brokers
export BROKERSIDE_RUN_DIR="$root/.run/test-brokers"
trap 'scripts/brokers.sh stop' EXIT
scripts/brokers.sh start
scripts/brokers.sh status

log_dir="$root/build/test-logs"
mkdir -p "$log_dir"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# A skipped or not-run test fails the job: the suite proves what it claims.
run_ctest() {
  local dir=$1 log=$2; shift 2
  if ! ctest --test-dir "$dir" --output-on-failure --no-tests=error -j2 "$@" 2>&1 | tee "$log"; then
    return 1
  fi
  if grep -qE '\*\*\*Skipped|Not Run|Disabled' "$log"; then
    echo "error: tests were skipped or not run (see $log)" >&2
    return 1
  fi
}

step "tests (Release)"
run_ctest build "$log_dir/release.log" "$@"

step "tests (ASan+UBSan: unit, in-process, sidecar process, Redis end to end, AMQP connection, framed, NATS, network faults, bad gRPC input)"
if (($# == 0)); then
  run_ctest build-asan "$log_dir/asan.log" -L 'unit|inprocess'
  run_ctest build-asan "$log_dir/asan-process.log" -R 'sidecar_process|redis_e2e|redis_recv|redis_own_server|amqp_e2e|amqp_connection|framed_aiomas|framed_peer_requests|nats_interop|nats_own_server|nats_jetstream_recv|kafka_e2e|redis_faults|amqp_faults|faults_bad_input'
  step "fuzz (each target $fuzz_seconds s from tests/fuzz/corpus)"
  run_ctest build-fuzz "$log_dir/fuzz.log" -L fuzz
fi
step "all tests passed"
