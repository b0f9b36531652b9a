#!/usr/bin/env bash
# Installs everything the build, the tests and the brokers need on Debian 12
# (bookworm): apt packages, and a pinned Python virtual environment for the
# test clients. Idempotent; quiet on success.
#   scripts/deps.sh               everything (build, brokers, test clients)
#   scripts/deps.sh --build-only  just what the C++ build needs (Dockerfile)
set -euo pipefail

build_only=0
[[ ${1:-} == --build-only ]] && build_only=1

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
run() { "$@" >>"$log" 2>&1 || { cat "$log" >&2; echo "deps.sh: failed: $*" >&2; exit 1; }; }

sudo_cmd=()
[[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)

build_packages=(
  build-essential cmake ninja-build ccache pkg-config git ca-certificates curl
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libboost1.81-dev libyaml-cpp-dev libspdlog-dev libfmt-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev libjemalloc-dev librdkafka-dev
)
apt_packages=(
  "${build_packages[@]}"
  # sanitizers, fuzzing, format
  clang-14 libfuzzer-14-dev libclang-rt-14-dev clang-format-14 clang-tidy-14
  # real brokers (Apache Kafka runs on Java from Maven Central's jars)
  redis-server redis-tools rabbitmq-server nats-server erlang-base openjdk-17-jre-headless maven
  # test clients; openssl makes the certificates of the TLS tests
  python3 python3-venv procps iproute2 openssl
  # the benchmark's Redis proxy to compare with (twemproxy)
  nutcracker
  # the Kafka benchmark baseline (librdkafka's command-line client)
  kcat
  # the Java test client: javac, and grpc-java's code generator (the
  # registry reachable here does not serve io.grpc:protoc-gen-grpc-java)
  openjdk-17-jdk-headless protobuf-compiler-grpc-java-plugin
  # observability: promtool checks /metrics and the alert rules; tmux runs
  # `brokerside stats --watch` in a terminal the test reads
  prometheus tmux
)
# Node.js and Go for the cross-language client tests: Debian's, unless the
# machine already has its own.
command -v node >/dev/null && command -v npm >/dev/null || apt_packages+=(nodejs npm)
command -v go >/dev/null || apt_packages+=(golang-go)

((build_only)) && apt_packages=("${build_packages[@]}")
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  # Package scripts must not start system services (no init here; the tests
  # start their own brokers on private ports).
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
    "${sudo_cmd[@]}" chmod +x "$policy"
    made_policy=1
  fi
  run "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  run "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  ((made_policy)) && "${sudo_cmd[@]}" rm -f "$policy"
fi

((build_only)) && exit 0

# Python test clients, pinned, in an ignored virtual environment. Debian's
# interpreter is used so that a fresh machine and this one agree.
venv="$root/.venv"
req="$root/scripts/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
  [[ -x $venv/bin/python ]] || run /usr/bin/python3 -m venv "$venv"
  run "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  echo "$want" >"$stamp"
fi

# Apache Kafka's runtime classpaths: scripts/kafka/pom.xml (4.4, for
# brokers.sh and most tests) and pom-3.9.xml (the SCRAM test's broker).
kafka_dir="$root/.cache/kafka"
mkdir -p "$kafka_dir"
for pom in pom.xml pom-3.9.xml; do
  name=${pom%.xml}; name=classpath${name#pom}
  stamp="$kafka_dir/$name.sha256"
  want="$(sha256sum "$root/scripts/kafka/$pom" | cut -d' ' -f1)"
  if [[ ! -f $stamp || "$(cat "$stamp")" != "$want" || ! -s $kafka_dir/$name.txt ]]; then
    run timeout 900 mvn -q -B -f "$root/scripts/kafka/$pom" dependency:build-classpath \
      -Dmdep.includeScope=runtime -Dmdep.outputFile="$kafka_dir/$name.txt"
    echo "$want" >"$stamp"
  fi
done

# Java test client: the runtime classpath of tests/clients/java/pom.xml.
java_dir="$root/.cache/java"
mkdir -p "$java_dir"
stamp="$java_dir/classpath.sha256"
want="$(sha256sum "$root/tests/clients/java/pom.xml" | cut -d' ' -f1)"
if [[ ! -f $stamp || "$(cat "$stamp")" != "$want" || ! -s $java_dir/classpath.txt ]]; then
  run timeout 900 mvn -q -B -f "$root/tests/clients/java/pom.xml" dependency:build-classpath \
    -Dmdep.includeScope=runtime -Dmdep.outputFile="$java_dir/classpath.txt"
  echo "$want" >"$stamp"
fi

# Node.js test client, pinned by package-lock.json.
node_dir="$root/tests/clients/node"
stamp="$node_dir/node_modules/.lock.sha256"
want="$(sha256sum "$node_dir/package-lock.json" | cut -d' ' -f1)"
if [[ ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
  run npm ci --prefix "$node_dir" --no-audit --no-fund --silent
  echo "$want" >"$stamp"
fi

# Go test client: the protoc plugins (pinned) and the modules go.sum pins.
export GOBIN="$root/.cache/gobin"
[[ -x $GOBIN/protoc-gen-go ]] || run go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.31.0
[[ -x $GOBIN/protoc-gen-go-grpc ]] || run go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.3.0
(cd "$root/tests/clients/go" && run go mod download)
# kustomize, pinned, from the Go module proxy: renders deploy/'s overlays.
[[ "$("$GOBIN/kustomize" version 2>/dev/null)" == v5.8.1 ]] || run go install sigs.k8s.io/kustomize/kustomize/v5@v5.8.1
