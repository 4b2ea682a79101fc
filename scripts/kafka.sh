#!/usr/bin/env bash
# Real Apache Kafka broker (KRaft, single node, combined broker+controller) for tests and
# development, from Maven jars and the machine's Java 17. No Docker, no tarball download.
#
#   bash scripts/kafka.sh fetch    # resolve jars with Maven into .cache/kafka/<version>/libs
#   bash scripts/kafka.sh start    # format storage (first time), start, wait until it answers
#   bash scripts/kafka.sh status   # exit 0 if running and answering, 3 otherwise
#   bash scripts/kafka.sh stop     # TERM (then KILL) the broker recorded in the pid file
#   bash scripts/kafka.sh produce [BOOTSTRAP]  # Kafka's Java producer: stdin lines
#                                  # codec<TAB>topic<TAB>partition<TAB>value, to BOOTSTRAP (default
#                                  # 127.0.0.1:$KAFKA_PORT); scripts/kafka/Produce.java
#
# Environment (all optional):
#   KAFKA_VERSION          broker version (default: the pinned one below; see scripts/kafka/README.md)
#   KAFKA_PORT             PLAINTEXT listener port on 127.0.0.1 (default 19092)
#   KAFKA_CONTROLLER_PORT  KRaft controller port on 127.0.0.1 (default 19093)
#   KAFKA_SASL_SSL_PORT    SASL_SSL listener (TLS + PLAIN/SCRAM users) on 127.0.0.1 (default 19094)
#   KAFKA_MTLS_PORT        SSL listener requiring a client certificate (mTLS) on 127.0.0.1 (default 19095)
#   KAFKA_SECURE=0         no secure listeners (and no openssl needed). With them (the default),
#                          the first start generates a test CA, certificates and SASL users into
#                          $KAFKA_DATA_DIR/tls and describes them in $KAFKA_DATA_DIR/security.json
#                          (read by test/helpers/kafka-security.ts)
#   KAFKA_DATA_DIR         config, data, log and pid file (default .cache/kafka/run)
#   KAFKA_HEAP             JVM heap options (default "-Xms256m -Xmx512m")
#   KAFKA_START_TIMEOUT    seconds to wait for the broker to answer metadata (default 60)
#   KAFKA_M2_REPO          Maven local repository (default .cache/m2 in the checkout, so a fresh
#                          clone needs nothing but Maven's defaults; set to "default" for ~/.m2)
#   KAFKA_FRESH=1          wipe the data dir before start (new cluster id, no old topics)
#   KAFKA_LIBS_DIR         where the jars are (default .cache/kafka/<version>/libs in the checkout)
set -euo pipefail

# Pinned broker version. Keep in sync with <kafka.version> in scripts/kafka/pom.xml.
PINNED_KAFKA_VERSION="4.1.2"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAFKA_VERSION="${KAFKA_VERSION:-$PINNED_KAFKA_VERSION}"
KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_SASL_SSL_PORT="${KAFKA_SASL_SSL_PORT:-19094}"
KAFKA_MTLS_PORT="${KAFKA_MTLS_PORT:-19095}"
KAFKA_SECURE="${KAFKA_SECURE:-1}"
KAFKA_DATA_DIR="${KAFKA_DATA_DIR:-$ROOT/.cache/kafka/run}"
[[ "$KAFKA_DATA_DIR" == /* ]] || KAFKA_DATA_DIR="$PWD/$KAFKA_DATA_DIR"
KAFKA_HEAP="${KAFKA_HEAP:--Xms256m -Xmx512m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
KAFKA_M2_REPO="${KAFKA_M2_REPO:-$ROOT/.cache/m2}"

LIBS_DIR="${KAFKA_LIBS_DIR:-$ROOT/.cache/kafka/$KAFKA_VERSION/libs}"
PID_FILE="$KAFKA_DATA_DIR/kafka.pid"
LOG_FILE="$KAFKA_DATA_DIR/broker.log"
CONFIG_FILE="$KAFKA_DATA_DIR/server.properties"
LOG_DIRS="$KAFKA_DATA_DIR/data"
TLS_DIR="$KAFKA_DATA_DIR/tls"
# Test users of the SASL_SSL listener (their password: $TLS_DIR/sasl-password, made at format).
SASL_PLAIN_USER="driftdplain"
SASL_SCRAM_USER="driftdscram"

log() { printf '[kafka.sh] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

kafka_major() { printf '%s' "${KAFKA_VERSION%%.*}"; }

need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is required but not on PATH"; }

# ---------------------------------------------------------------------------------------------
# fetch
# ---------------------------------------------------------------------------------------------
cmd_fetch() {
  local t0 marker
  t0="$(now)"
  marker="$LIBS_DIR/.complete"
  if [[ -f "$marker" ]] && compgen -G "$LIBS_DIR/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null; then
    log "Kafka $KAFKA_VERSION jars already present in ${LIBS_DIR#"$ROOT"/} ($(find "$LIBS_DIR" -name '*.jar' | wc -l) jars); skipping"
    return 0
  fi
  need mvn
  need java
  local -a mvn_args=(-q -B -Dstyle.color=never -f "$ROOT/scripts/kafka/pom.xml"
    "-Dkafka.version=$KAFKA_VERSION"
    dependency:copy-dependencies
    "-DoutputDirectory=$LIBS_DIR"
    -DincludeScope=runtime
    -DoverWriteIfNewer=true)
  if [[ "$KAFKA_M2_REPO" != "default" ]]; then
    mkdir -p "$KAFKA_M2_REPO"
    mvn_args=("-Dmaven.repo.local=$KAFKA_M2_REPO" "${mvn_args[@]}")
  fi
  if [[ "$(kafka_major)" -lt 4 ]]; then
    mvn_args=("-Dkafka.log=reload4j" "${mvn_args[@]}")
  fi
  rm -rf "$LIBS_DIR"
  mkdir -p "$LIBS_DIR"
  log "resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION and runtime dependencies with Maven ..."
  # Maven 3.8 prints ANSI resets even in batch mode; strip them so CI logs stay readable.
  if ! mvn "${mvn_args[@]}" 2>&1 | sed -u 's/\x1b\[[0-9;]*m//g' >&2; then
    rm -rf "$LIBS_DIR"
    die "Maven could not resolve Kafka $KAFKA_VERSION"
  fi
  [[ -f "$LIBS_DIR/kafka_2.13-$KAFKA_VERSION.jar" ]] || die "kafka_2.13-$KAFKA_VERSION.jar missing after Maven run"
  touch "$marker"
  log "fetched Kafka $KAFKA_VERSION: $(find "$LIBS_DIR" -name '*.jar' | wc -l) jars, $(du -sh "$LIBS_DIR" | cut -f1) in ${LIBS_DIR#"$ROOT"/} (took $(elapsed "$t0") s)"
}

# ---------------------------------------------------------------------------------------------
# helpers for start/stop/status
# ---------------------------------------------------------------------------------------------
read_pid() { [[ -f "$PID_FILE" ]] && tr -dc '0-9' <"$PID_FILE" || true; }

# True when $1 is a live process that is our Kafka broker (guards against recycled PIDs).
is_our_broker() {
  local pid="$1"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

secure_ports_open() {
  [[ "$KAFKA_SECURE" == "1" ]] || return 0
  port_open "$KAFKA_SASL_SSL_PORT" && port_open "$KAFKA_MTLS_PORT"
}

# Ask the broker for metadata through kafkajs (the client the project uses).
metadata_ok() {
  local timeout_ms="${1:-5000}"
  (cd "$ROOT" && KAFKA_PROBE_BROKER="127.0.0.1:$KAFKA_PORT" KAFKA_PROBE_TIMEOUT="$timeout_ms" \
    node --input-type=module -e '
import kafkajs from "kafkajs";
const { Kafka, logLevel } = kafkajs;
const t = Number(process.env.KAFKA_PROBE_TIMEOUT);
const kafka = new Kafka({ clientId: "kafka-sh-probe", brokers: [process.env.KAFKA_PROBE_BROKER],
  logLevel: logLevel.NOTHING, connectionTimeout: Math.min(t, 3000), requestTimeout: t, retry: { retries: 0 } });
const admin = kafka.admin();
const timer = setTimeout(() => process.exit(2), t + 1000);
try { await admin.connect(); await admin.listTopics(); await admin.describeCluster(); process.exitCode = 0; }
catch { process.exitCode = 1; }
finally { clearTimeout(timer); await admin.disconnect().catch(() => {}); }
' >/dev/null 2>&1)
}

secure_listeners() {
  [[ "$KAFKA_SECURE" == "1" ]] || return 0
  printf ',SASL_SSL://127.0.0.1:%s,MTLS://127.0.0.1:%s' "$KAFKA_SASL_SSL_PORT" "$KAFKA_MTLS_PORT"
}

# A test CA, the broker's certificate (127.0.0.1 and localhost), a client certificate for mTLS,
# a second CA that signed nothing here (a client trusting only it must refuse the broker) and
# the SASL users' password. Made once per data dir, with the storage format.
make_tls() {
  need openssl
  local d="$TLS_DIR" days=3650
  rm -rf "$d"
  mkdir -p "$d"
  chmod 700 "$d"
  local -a key=(-newkey rsa:2048 -nodes)
  ca() { # ca <name> <CN>
    openssl req -x509 "${key[@]}" -keyout "$d/$1-key.pem" -out "$d/$1.pem" -days "$days" \
      -subj "/CN=$2" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  }
  leaf() { # leaf <name> <CN> <extensions>
    openssl req "${key[@]}" -keyout "$d/$1-key.pem" -out "$d/$1.csr" -subj "/CN=$2" 2>/dev/null
    printf '%b' "$3" >"$d/$1.ext"
    openssl x509 -req -in "$d/$1.csr" -CA "$d/ca.pem" -CAkey "$d/ca-key.pem" \
      -set_serial "0x$(openssl rand -hex 16)" -days "$days" -extfile "$d/$1.ext" \
      -out "$d/$1.pem" 2>/dev/null
    rm -f "$d/$1.csr" "$d/$1.ext"
  }
  ca ca "driftd test CA" || die "openssl could not make the test CA"
  ca untrusted-ca "driftd untrusted test CA" || die "openssl could not make the second test CA"
  leaf broker localhost 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' \
    || die "openssl could not make the broker certificate"
  leaf client driftd-test-client 'extendedKeyUsage=clientAuth\n' \
    || die "openssl could not make the client certificate"
  # Kafka's PEM key store: the (PKCS#8, unencrypted) key and its certificate in one file.
  cat "$d/broker-key.pem" "$d/broker.pem" >"$d/broker-keystore.pem"
  openssl rand -hex 16 >"$d/sasl-password"
  chmod 600 "$d"/*
}

write_secure_config() {
  local password
  password="$(cat "$TLS_DIR/sasl-password")"
  cat >>"$CONFIG_FILE" <<EOF

# Secure listeners (KAFKA_SECURE=1): SASL_SSL (PLAIN user $SASL_PLAIN_USER, SCRAM-SHA-256/512
# user $SASL_SCRAM_USER made at format) and MTLS (TLS, a client certificate required).
# Certificates: $TLS_DIR (a test CA made by the first start).
ssl.keystore.type=PEM
ssl.keystore.location=$TLS_DIR/broker-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.pem
listener.name.mtls.ssl.client.auth=required
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$SASL_PLAIN_USER="$password";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
EOF
  # What tests need to reach the secure listeners (test/helpers/kafka-security.ts).
  cat >"$KAFKA_DATA_DIR/security.json" <<EOF
{
  "saslSslBrokers": ["127.0.0.1:$KAFKA_SASL_SSL_PORT"],
  "mtlsBrokers": ["127.0.0.1:$KAFKA_MTLS_PORT"],
  "ca": "$TLS_DIR/ca.pem",
  "untrustedCa": "$TLS_DIR/untrusted-ca.pem",
  "clientCert": "$TLS_DIR/client.pem",
  "clientKey": "$TLS_DIR/client-key.pem",
  "plainUser": "$SASL_PLAIN_USER",
  "scramUser": "$SASL_SCRAM_USER",
  "passwordFile": "$TLS_DIR/sasl-password"
}
EOF
}

write_config() {
  mkdir -p "$LOG_DIRS"
  cat >"$CONFIG_FILE" <<EOF
# Generated by scripts/kafka.sh for Kafka $KAFKA_VERSION -- single-node KRaft (broker+controller).
# Test/development broker: loopback only, replication factor 1, small segments and retention.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT$(secure_listeners)
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT$(secure_listeners)
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,MTLS:SSL
log.dirs=$LOG_DIRS

num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
auto.create.topics.enable=false
delete.topic.enable=true
group.initial.rebalance.delay.ms=0

# Small footprint: the machine is shared.
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=8388608
log.segment.bytes=16777216
log.retention.hours=2
log.retention.bytes=67108864
log.retention.check.interval.ms=60000
log.cleanup.policy=delete
EOF
  if [[ "$KAFKA_SECURE" == "1" ]]; then write_secure_config; fi

  # Logging backend: Log4j 2 for Kafka 4.x, Log4j 1 API (reload4j) for 3.x. Everything goes to
  # stdout, which start redirects into broker.log.
  cat >"$KAFKA_DATA_DIR/log4j2.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.statechange.name = state.change.logger
logger.statechange.level = warn
logger.zk.name = org.apache.zookeeper
logger.zk.level = warn
EOF
  cat >"$KAFKA_DATA_DIR/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
EOF
}

java_log_opts() {
  if [[ "$(kafka_major)" -ge 4 ]]; then
    printf '%s\n' "-Dlog4j2.configurationFile=$KAFKA_DATA_DIR/log4j2.properties"
  else
    printf '%s\n' "-Dlog4j.configuration=file:$KAFKA_DATA_DIR/log4j.properties"
  fi
}

# ---------------------------------------------------------------------------------------------
# start
# ---------------------------------------------------------------------------------------------
cmd_start() {
  local t0 pid
  t0="$(now)"
  need java
  need node
  [[ -f "$LIBS_DIR/.complete" ]] || die "Kafka $KAFKA_VERSION jars not found; run: bash scripts/kafka.sh fetch"

  pid="$(read_pid)"
  if is_our_broker "$pid"; then
    if metadata_ok 5000; then
      log "already running (pid $pid) on 127.0.0.1:$KAFKA_PORT"
      return 0
    fi
    die "a broker process (pid $pid) exists but does not answer on 127.0.0.1:$KAFKA_PORT; see $LOG_FILE or run: bash scripts/kafka.sh stop"
  fi
  rm -f "$PID_FILE"
  if port_open "$KAFKA_PORT"; then
    die "127.0.0.1:$KAFKA_PORT is already in use by another process (not started by this script)"
  fi
  if port_open "$KAFKA_CONTROLLER_PORT"; then
    die "127.0.0.1:$KAFKA_CONTROLLER_PORT (controller) is already in use by another process"
  fi
  if [[ "$KAFKA_SECURE" == "1" ]]; then
    local p
    for p in "$KAFKA_SASL_SSL_PORT" "$KAFKA_MTLS_PORT"; do
      port_open "$p" && die "127.0.0.1:$p (secure listener) is already in use by another process"
    done
  fi

  if [[ "${KAFKA_FRESH:-0}" == "1" ]]; then
    log "KAFKA_FRESH=1: wiping $KAFKA_DATA_DIR"
    rm -rf "$KAFKA_DATA_DIR"
  fi
  # A data dir formatted by another Kafka version or for other ports is not reused.
  local stamp="version=$KAFKA_VERSION port=$KAFKA_PORT controller=$KAFKA_CONTROLLER_PORT"
  if [[ "$KAFKA_SECURE" == "1" ]]; then
    stamp+=" sasl_ssl=$KAFKA_SASL_SSL_PORT mtls=$KAFKA_MTLS_PORT"
  fi
  if [[ -f "$KAFKA_DATA_DIR/.stamp" && "$(cat "$KAFKA_DATA_DIR/.stamp")" != "$stamp" ]]; then
    log "data dir was made for '$(cat "$KAFKA_DATA_DIR/.stamp")'; wiping it for '$stamp'"
    rm -rf "$KAFKA_DATA_DIR"
  fi
  # The SCRAM users are made at format: a formatted dir without the test secrets starts over.
  if [[ "$KAFKA_SECURE" == "1" && -f "$LOG_DIRS/meta.properties" && ! -f "$TLS_DIR/sasl-password" ]]; then
    log "data dir has no test certificates and SASL users; wiping it"
    rm -rf "$KAFKA_DATA_DIR"
  fi
  mkdir -p "$KAFKA_DATA_DIR"
  local -a scram=()
  if [[ "$KAFKA_SECURE" == "1" && ! -f "$LOG_DIRS/meta.properties" ]]; then
    make_tls
    local password
    password="$(cat "$TLS_DIR/sasl-password")"
    scram=(--add-scram "SCRAM-SHA-256=[name=$SASL_SCRAM_USER,password=$password]"
      --add-scram "SCRAM-SHA-512=[name=$SASL_SCRAM_USER,password=$password]")
  fi
  write_config

  local -a jvm=(java $KAFKA_HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError
    -Djava.awt.headless=true "-Dkafka.logs.dir=$KAFKA_DATA_DIR" "$(java_log_opts)"
    -cp "$LIBS_DIR/*")

  if [[ ! -f "$LOG_DIRS/meta.properties" ]]; then
    local cluster_id
    cluster_id="$(node -e 'process.stdout.write(require("crypto").randomBytes(16).toString("base64url"))')"
    log "formatting storage in ${LOG_DIRS#"$ROOT"/} (cluster id $cluster_id)"
    # StorageTool lives in kafka.tools (Scala, kafka_2.13) up to at least 4.1; with a static
    # controller.quorum.voters no --standalone flag is needed on 3.9 or 4.x.
    if ! "${jvm[@]}" -Xmx256m kafka.tools.StorageTool format -t "$cluster_id" -c "$CONFIG_FILE" "${scram[@]}" \
      >"$KAFKA_DATA_DIR/format.log" 2>&1; then
      tail -n 40 "$KAFKA_DATA_DIR/format.log" >&2
      die "storage format failed (log: $KAFKA_DATA_DIR/format.log)"
    fi
    printf '%s\n' "$stamp" >"$KAFKA_DATA_DIR/.stamp"
  fi

  log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (controller 127.0.0.1:$KAFKA_CONTROLLER_PORT), log ${LOG_FILE#"$ROOT"/}"
  : >"$LOG_FILE"
  # setsid: own session, so the broker outlives the shell (and process group) that started it.
  setsid "${jvm[@]}" kafka.Kafka "$CONFIG_FILE" </dev/null >>"$LOG_FILE" 2>&1 &
  pid=$!
  printf '%s\n' "$pid" >"$PID_FILE"

  local deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  until port_open "$KAFKA_PORT" && metadata_ok 5000 && secure_ports_open; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "broker process $pid exited during startup; last log lines:"
      tail -n 60 "$LOG_FILE" >&2
      rm -f "$PID_FILE"
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      log "broker did not answer metadata within ${KAFKA_START_TIMEOUT}s; last log lines:"
      tail -n 60 "$LOG_FILE" >&2
      kill -TERM "$pid" 2>/dev/null || true
      sleep 3
      kill -KILL "$pid" 2>/dev/null || true
      rm -f "$PID_FILE"
      exit 1
    fi
    sleep 1
  done
  local secure=""
  [[ "$KAFKA_SECURE" == "1" ]] && secure=", SASL_SSL 127.0.0.1:$KAFKA_SASL_SSL_PORT, mTLS 127.0.0.1:$KAFKA_MTLS_PORT"
  log "Kafka $KAFKA_VERSION is up: pid $pid, brokers 127.0.0.1:$KAFKA_PORT$secure (took $(elapsed "$t0") s)"
  printf '%s\n' "$pid"
}

# ---------------------------------------------------------------------------------------------
# stop / status
# ---------------------------------------------------------------------------------------------
cmd_stop() {
  local pid i
  pid="$(read_pid)"
  if [[ -z "$pid" ]]; then
    log "not running (no pid file at $PID_FILE)"
    return 0
  fi
  if ! is_our_broker "$pid"; then
    log "pid $pid from $PID_FILE is not a running Kafka broker; removing stale pid file"
    rm -f "$PID_FILE"
    return 0
  fi
  log "stopping Kafka (pid $pid) ..."
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 60; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "still alive after 30 s; sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 1
  fi
  rm -f "$PID_FILE"
  log "stopped"
}

cmd_status() {
  local pid
  pid="$(read_pid)"
  if is_our_broker "$pid"; then
    if metadata_ok 5000; then
      log "running: pid $pid, $(cat "$KAFKA_DATA_DIR/.stamp" 2>/dev/null || echo "version=?"), brokers 127.0.0.1:$KAFKA_PORT, data ${KAFKA_DATA_DIR#"$ROOT"/}"
      return 0
    fi
    log "process $pid is alive but 127.0.0.1:$KAFKA_PORT does not answer metadata (see $LOG_FILE)"
    return 3
  fi
  log "not running"
  return 3
}

# ---------------------------------------------------------------------------------------------
# produce
# ---------------------------------------------------------------------------------------------
# Kafka's own Java producer (kafka-clients from the fetched jars) run by Java's single-file source
# launcher: batches compressed the way Java clients compress them. Reads stdin, see Produce.java.
cmd_produce() {
  need java
  [[ -f "$LIBS_DIR/.complete" ]] || die "Kafka $KAFKA_VERSION jars not found in $LIBS_DIR; run: bash scripts/kafka.sh fetch"
  java -Xmx128m -XX:TieredStopAtLevel=1 -Dlog4j2.level=warn -cp "$LIBS_DIR/*" \
    "$ROOT/scripts/kafka/Produce.java" "${1:-127.0.0.1:$KAFKA_PORT}"
}

case "${1:-}" in
  fetch) cmd_fetch ;;
  produce) cmd_produce "${2:-}" ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *)
    echo "usage: bash scripts/kafka.sh fetch|start|stop|status|produce" >&2
    exit 2
    ;;
esac
