#!/bin/bash
# Kernel time per exec of each BPF program, on this kernel: runs
# `execsnoop --json` with EXECSNOOP_BPF_STATS=1 in the default mode, with -e,
# with -x and with the context options, around EXECS (default 300) execs of
# /bin/true, and prints each mode's bpf_stats lines (run_cnt, run_time_ns,
# ns_per_run; tail-called stages count in their caller). As root, from the
# repository, after `cargo build --release`; in the VM guests:
#   tests/vm/run --cmd bench/bpf-stats.sh 5.10 6.1 6.12
# Under qemu/TCG the times are many times the native ones.
set -u
cd "$(dirname "$0")/.."
for mode in "" "-e" "-x" "--cwd --env --print-container"; do
  err=$(mktemp) out=$(mktemp)
  # shellcheck disable=SC2086
  EXECSNOOP_BPF_STATS=1 target/release/execsnoop --json $mode > "$out" 2> "$err" & pid=$!
  for _ in $(seq 100); do sleep 0.1; grep -q "Tracing" "$err" && break; done
  for _ in $(seq "${EXECS:-300}"); do /bin/true a b c; done
  sleep 0.5; kill -INT "$pid"; wait "$pid"
  echo "== mode '${mode}': $(grep -c '"type":"exec"' "$out") exec records"
  grep 'bpf_stats' "$err" | grep -v 'run_cnt=0 '
  rm -f "$err" "$out"
done
