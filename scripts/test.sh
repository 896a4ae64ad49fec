#!/usr/bin/env bash
# The one test command (README "Test"; .ci/run calls exactly this).
#
# 1. Installs redis-server and redis-tools from Debian if redis-server,
#    redis-benchmark or redis-check-rdb is missing: the differential test
#    and the benchmark-tool test need them.
# 2. Runs rustfmt, clippy with warnings denied, and every test target,
#    benches included (criterion runs each bench once in test mode).
#
# Tests never use port 6379: every server they start binds 127.0.0.1 on an
# OS-assigned port, so a redis service that Debian starts after installing
# redis-server does not interfere and is left alone.
#
# Under CI (CI set), SLUICE_REQUIRE_REDIS=1 is exported so that a test which
# would skip for a missing redis tool fails instead.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

missing=()
for tool in redis-server redis-benchmark redis-check-rdb redis-cli; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]} > 0)); then
    echo "test.sh: missing ${missing[*]}; installing redis-server redis-tools"
    sudo=()
    if [[ "$(id -u)" != 0 ]]; then
        sudo=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update
    "${sudo[@]}" apt-get install -y redis-server redis-tools
fi
echo "test.sh: $(redis-server --version)"

if [[ -n "${CI:-}" && "${CI}" != "0" && "${CI}" != "false" ]]; then
    export SLUICE_REQUIRE_REDIS=1
fi

# Randomized tests print seed=<n>; set SLUICE_SEED=<n> to replay one.
echo "test.sh: cargo fmt --check"
cargo fmt --all -- --check
echo "test.sh: cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings
echo "test.sh: cargo test --all-targets"
cargo test --all-targets
# The backlog ring's loom models (every interleaving of two producers and a
# reader; three producers publishing out of order, preemption-bounded); its
# own target dir, since --cfg loom rebuilds every crate.
echo "test.sh: loom model of the replication backlog"
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release --lib repl::backlog::loom_tests
