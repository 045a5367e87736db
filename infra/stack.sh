#!/usr/bin/env bash
# paystream local stack without Docker: Kafka (KRaft), Apicurio Registry, Prometheus; PostgreSQL and Redis are the
# machine's own servers (started only if they are not running).
#
#   infra/stack.sh install   resolve Kafka, Apicurio and avro-tools from Maven Central, Prometheus from Debian
#   infra/stack.sh up        install if needed, then start what is not running and wait until each one is ready
#   infra/stack.sh down      stop what `up` started (never the machine's PostgreSQL or Redis)
#   infra/stack.sh status    one line per component; exit 1 if any is not healthy
#
# Guarantees:
#   - idempotent: `up` on a running stack changes nothing; `down` on a stopped one is a no-op;
#   - a half-started stack (stale pid files, a process that died, storage formatted or not) is repaired by `up`;
#   - KAFKA_BROKERS / SCHEMA_REGISTRY_URL / DATABASE_URL / REDIS_URL pointing at existing services means nothing of
#     that kind is started or stopped here;
#   - every component logs to .paystream/logs/<component>.log (git-ignored).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${PAYSTREAM_STATE_DIR:-$ROOT/.paystream}
RUNTIME=$STATE/runtime
DATA=$STATE/data
LOGS=$STATE/logs
PIDS=$STATE/pids

KAFKA_PORT=9092
KAFKA_CONTROLLER_PORT=9093
REGISTRY_PORT=8081
REGISTRY_MANAGEMENT_PORT=8091
PROMETHEUS_PORT=9090
PG_DATABASE=paystream
PG_ROLE=paystream
PG_REGISTRY_DATABASE=paystream_registry
# Bumped whenever infra/maven/pom.xml changes what it resolves; a mismatch re-runs the Maven install.
INSTALL_STAMP=$RUNTIME/.installed-$(sha1sum "$ROOT/infra/maven/pom.xml" | cut -c1-12)

say() { printf '%s\n' "$*"; }
die() {
  printf 'stack: %s\n' "$*" >&2
  exit 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pid_of() { [[ -f $PIDS/$1.pid ]] && cat "$PIDS/$1.pid" || true; }
# A process counts as running unless it is gone or a zombie: where PID 1 does not reap orphans (some sandboxes), a
# killed component stays a zombie that `kill -0` still reports as alive.
pid_running() { kill -0 "$1" 2>/dev/null && [[ $(ps -o stat= -p "$1" 2>/dev/null) != Z* ]]; }
alive() {
  local pid
  pid=$(pid_of "$1")
  [[ -n $pid ]] && pid_running "$pid"
}
port_owner() { ss -ltnpH "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\("[^"]*"\).*/\1/p' | head -n1; }
port_pid() { ss -ltnpH "sport = :$1" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n1; }

# external <VAR>: the component is provided by the environment, so this script neither starts nor stops it.
external() { [[ -n ${!1:-} ]]; }

require() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is not installed. $2"
}

java_major() { "$1" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1; }

# Kafka 3.9 runs on Java 17+. Apicurio Registry's server builds from 3.2.0 on target Java 21, and 3.1.x (the last
# Java 17 line) is not on the Maven Central this project builds from, so the registry looks for a JDK >= 21:
# PAYSTREAM_REGISTRY_JAVA_HOME, then JAVA_HOME, then every JDK under /usr/lib/jvm.
kafka_java() {
  local j=${JAVA_HOME:+$JAVA_HOME/bin/java}
  j=${j:-$(command -v java || true)}
  [[ -n $j && -x $j ]] || die "Java is not installed: Kafka needs Java 17 or newer (apt-get install openjdk-17-jre-headless)."
  local m
  m=$(java_major "$j")
  ((m >= 17)) || die "Kafka needs Java 17 or newer; $j is Java $m."
  printf '%s' "$j"
}

registry_java() {
  local c m
  for c in ${PAYSTREAM_REGISTRY_JAVA_HOME:+$PAYSTREAM_REGISTRY_JAVA_HOME/bin/java} \
    ${JAVA_HOME:+$JAVA_HOME/bin/java} /usr/lib/jvm/*/bin/java "$(command -v java || true)"; do
    [[ -x $c ]] || continue
    m=$(java_major "$c")
    if [[ -n $m ]] && ((m >= 21)); then
      printf '%s' "$c"
      return
    fi
  done
  die "Apicurio Registry 3.3 needs Java 21 or newer and none was found (looked at PAYSTREAM_REGISTRY_JAVA_HOME, JAVA_HOME, /usr/lib/jvm/*). Set PAYSTREAM_REGISTRY_JAVA_HOME to a JDK 21+."
}

cmd_install() {
  mkdir -p "$RUNTIME" "$DATA" "$LOGS" "$PIDS"
  if [[ ! -f $INSTALL_STAMP || ! -f $RUNTIME/apicurio/quarkus-run.jar || ! -f $RUNTIME/tools/avro-tools.jar ]] ||
    ! compgen -G "$RUNTIME/kafka/libs/kafka_2.13-*.jar" >/dev/null; then
    require mvn "Install Apache Maven (apt-get install maven): Kafka and the registry come from Maven Central."
    say "installing Kafka, Apicurio Registry and avro-tools from Maven Central (log: $LOGS/maven.log)"
    if ! mvn -B -q -f "$ROOT/infra/maven/pom.xml" -Dpaystream.runtime="$RUNTIME" package >"$LOGS/maven.log" 2>&1; then
      tail -n 20 "$LOGS/maven.log" >&2
      die "Maven could not resolve the stack (full log: $LOGS/maven.log)."
    fi
    rm -f "$RUNTIME"/.installed-*
    touch "$INSTALL_STAMP"
  fi
  if ! external PAYSTREAM_PROMETHEUS_URL && ! command -v prometheus >/dev/null 2>&1; then
    say "installing Debian's prometheus package (log: $LOGS/apt.log)"
    {
      apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus
    } >"$LOGS/apt.log" 2>&1 || {
      tail -n 20 "$LOGS/apt.log" >&2
      die "could not install prometheus with apt-get (run as root, or install it yourself)."
    }
  fi
}

# start_bg <name> <port> <command…>: start a component in its own session with its log file, unless it is already
# running; refuses when the port is taken by a process that is not ours.
start_bg() {
  local name=$1 port=$2
  shift 2
  if alive "$name"; then
    return 0
  fi
  rm -f "$PIDS/$name.pid"
  # Our own process whose pid file was lost (its command line names this state folder): adopt it.
  local owner
  owner=$(port_pid "$port")
  if [[ -n $owner ]] && tr '\0' ' ' <"/proc/$owner/cmdline" 2>/dev/null | grep -qF -- "$STATE/"; then
    echo "$owner" >"$PIDS/$name.pid"
    return 0
  fi
  if port_open "$port"; then
    die "port $port (for $name) is taken by $(port_owner "$port" || echo 'another process'); stop it or point the matching environment variable at it."
  fi
  setsid nohup "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$PIDS/$name.pid"
}

# wait_for <name> <seconds> <check command…>: poll until the check passes; fail with the log's tail if the process
# dies or the time runs out.
wait_for() {
  local name=$1 secs=$2
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ! alive "$name"; then
      tail -n 30 "$LOGS/$name.log" >&2 || true
      die "$name exited during start-up (log: $LOGS/$name.log)"
    fi
    ((SECONDS < deadline)) || {
      tail -n 30 "$LOGS/$name.log" >&2 || true
      die "$name was not ready within ${secs}s (log: $LOGS/$name.log)"
    }
    sleep 0.5
  done
}

kafka_classpath() { printf '%s/kafka/libs/*' "$RUNTIME"; }

# A metadata request through Kafka's own admin client: the broker is ready when it answers one.
kafka_ready() {
  port_open "$KAFKA_PORT" || return 1
  timeout 20 "$(kafka_java)" -cp "$(kafka_classpath)" -Dlog4j.configuration="file:$ROOT/infra/kafka/log4j.properties" \
    -Dkafka.logs.dir="$LOGS" kafka.admin.BrokerApiVersionsCommand --bootstrap-server "localhost:$KAFKA_PORT" |
    grep -q 'localhost:9092'
}

up_kafka() {
  if external KAFKA_BROKERS; then
    say "kafka: using KAFKA_BROKERS=$KAFKA_BROKERS (not started here)"
    return
  fi
  local java conf dir
  java=$(kafka_java)
  dir=$DATA/kafka
  conf=$dir/server.properties
  mkdir -p "$dir/log"
  { cat "$ROOT/infra/kafka/server.properties"; printf 'log.dirs=%s\n' "$dir/log"; } >"$conf"
  if ! alive kafka && port_open "$KAFKA_CONTROLLER_PORT"; then
    die "port $KAFKA_CONTROLLER_PORT (Kafka controller) is taken by $(port_owner "$KAFKA_CONTROLLER_PORT" || echo 'another process')."
  fi
  if [[ ! -f $dir/log/meta.properties ]]; then
    local id
    id=$("$java" -cp "$(kafka_classpath)" -Dlog4j.configuration="file:$ROOT/infra/kafka/log4j.properties" \
      -Dkafka.logs.dir="$LOGS" kafka.tools.StorageTool random-uuid)
    "$java" -cp "$(kafka_classpath)" -Dlog4j.configuration="file:$ROOT/infra/kafka/log4j.properties" \
      -Dkafka.logs.dir="$LOGS" kafka.tools.StorageTool format -t "$id" -c "$conf" >>"$LOGS/kafka.log" 2>&1 ||
      die "formatting Kafka storage failed (log: $LOGS/kafka.log)"
  fi
  start_bg kafka "$KAFKA_PORT" "$java" -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$ROOT/infra/kafka/log4j.properties" -Dkafka.logs.dir="$LOGS" \
    -cp "$(kafka_classpath)" kafka.Kafka "$conf"
  wait_for kafka 120 kafka_ready
  say "kafka: ready on localhost:$KAFKA_PORT (pid $(pid_of kafka))"
}

pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432; }
psql_admin() { psql -v ON_ERROR_STOP=1 -qtA -h 127.0.0.1 -U postgres "$@"; }

up_postgres() {
  if external DATABASE_URL; then
    say "postgres: using DATABASE_URL (not started here)"
    return
  fi
  require psql "Install PostgreSQL (apt-get install postgresql)."
  if ! pg_ready; then
    say "postgres: not running, starting the machine's cluster"
    local v
    v=$(ls /etc/postgresql | sort -V | tail -n1)
    pg_ctlcluster --skip-systemctl-redirect "$v" main start || die "could not start PostgreSQL $v"
    local deadline=$((SECONDS + 30))
    until pg_ready; do
      ((SECONDS < deadline)) || die "PostgreSQL did not accept connections within 30s"
      sleep 0.5
    done
  fi
  if [[ -z $(psql_admin -c "select 1 from pg_roles where rolname = '$PG_ROLE'") ]]; then
    psql_admin -c "create role $PG_ROLE login password '$PG_ROLE'"
  fi
  # Local stack only: lets the sink benchmark start each measured run from a checkpoint (PostgreSQL 15+).
  if [[ -n $(psql_admin -c "select 1 from pg_roles where rolname = 'pg_checkpoint'") ]]; then
    psql_admin -c "grant pg_checkpoint to $PG_ROLE"
  fi
  local db
  for db in "$PG_DATABASE" "$PG_REGISTRY_DATABASE"; do
    if [[ -z $(psql_admin -c "select 1 from pg_database where datname = '$db'") ]]; then
      psql_admin -c "create database $db owner $PG_ROLE"
    fi
  done
  say "postgres: ready on 127.0.0.1:5432 (databases $PG_DATABASE, $PG_REGISTRY_DATABASE)"
}

up_redis() {
  if external REDIS_URL; then
    say "redis: using REDIS_URL (not started here)"
    return
  fi
  require redis-cli "Install Redis (apt-get install redis-server)."
  if [[ $(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null) != PONG ]]; then
    say "redis: not running, starting it"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --logfile "$LOGS/redis.log" || die "could not start redis-server"
    sleep 0.5
    [[ $(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null) == PONG ]] || die "Redis did not answer PING"
  fi
  say "redis: ready on 127.0.0.1:6379"
}

registry_ready() { curl -fsS "http://localhost:$REGISTRY_PORT/apis/ccompat/v7/subjects"; }

up_registry() {
  if external SCHEMA_REGISTRY_URL; then
    say "schema-registry: using SCHEMA_REGISTRY_URL=$SCHEMA_REGISTRY_URL (not started here)"
    return
  fi
  local java
  java=$(registry_java)
  [[ -f $RUNTIME/apicurio/quarkus-run.jar ]] || die "Apicurio Registry is not installed; run: infra/stack.sh install"
  if alive registry || ! port_open "$REGISTRY_MANAGEMENT_PORT"; then :; else
    die "port $REGISTRY_MANAGEMENT_PORT (registry management) is taken by $(port_owner "$REGISTRY_MANAGEMENT_PORT" || echo 'another process')."
  fi
  # Postgres storage in its own database, so the registry's schema ids survive restarts and `stack:down`. Pooled
  # connections are validated on borrow, so a Postgres restart costs the registry no failed request.
  (
    cd "$RUNTIME/apicurio"
    export APICURIO_STORAGE_KIND=sql APICURIO_STORAGE_SQL_KIND=postgresql \
      APICURIO_DATASOURCE_URL="jdbc:postgresql://127.0.0.1:5432/$PG_REGISTRY_DATABASE" \
      APICURIO_DATASOURCE_USERNAME="$PG_ROLE" APICURIO_DATASOURCE_PASSWORD="$PG_ROLE" \
      QUARKUS_HTTP_HOST=127.0.0.1 QUARKUS_HTTP_PORT="$REGISTRY_PORT" \
      QUARKUS_MANAGEMENT_HOST=127.0.0.1 QUARKUS_MANAGEMENT_PORT="$REGISTRY_MANAGEMENT_PORT" \
      QUARKUS_LOG_CONSOLE_JSON=false \
      APICURIO_DATASOURCE_JDBC_INITIAL_SIZE=2 APICURIO_DATASOURCE_JDBC_MIN_SIZE=2 APICURIO_DATASOURCE_JDBC_MAX_SIZE=20 \
      QUARKUS_DATASOURCE_POSTGRESQL_JDBC_VALIDATION_QUERY_SQL='select 1' \
      QUARKUS_DATASOURCE_POSTGRESQL_JDBC_VALIDATE_ON_BORROW=true \
      QUARKUS_DATASOURCE_POSTGRESQL_JDBC_BACKGROUND_VALIDATION_INTERVAL=5S
    start_bg registry "$REGISTRY_PORT" "$java" -Xms128m -Xmx512m -jar quarkus-run.jar
  )
  wait_for registry 120 registry_ready
  # Global BACKWARD, set explicitly: the ccompat API can answer a subject's config with the global level, and the
  # client's own compatibility check must agree with what the registry enforces.
  curl -fsS -X PUT -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
    --data '{"compatibility":"BACKWARD"}' "http://localhost:$REGISTRY_PORT/apis/ccompat/v7/config" >/dev/null ||
    die "could not set the registry's global compatibility to BACKWARD"
  say "schema-registry: ready at http://localhost:$REGISTRY_PORT/apis/ccompat/v7 (pid $(pid_of registry), compatibility BACKWARD)"
}

prometheus_ready() { curl -fsS "http://127.0.0.1:$PROMETHEUS_PORT/-/ready"; }

up_prometheus() {
  if external PAYSTREAM_PROMETHEUS_URL; then
    say "prometheus: using PAYSTREAM_PROMETHEUS_URL=$PAYSTREAM_PROMETHEUS_URL (not started here)"
    return
  fi
  require prometheus "Install Debian's prometheus package (apt-get install prometheus) or run: infra/stack.sh install"
  local dir=$DATA/prometheus
  mkdir -p "$dir/tsdb" "$dir/targets"
  # The config and its rules are copied next to its file_sd targets folder, which services fill in when they start.
  cp "$ROOT/infra/prometheus/prometheus.yml" "$ROOT/infra/prometheus/alerts.yml" "$dir/"
  start_bg prometheus "$PROMETHEUS_PORT" prometheus --config.file="$dir/prometheus.yml" \
    --storage.tsdb.path="$dir/tsdb" --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" --web.enable-lifecycle
  wait_for prometheus 60 prometheus_ready
  # A Prometheus already running still has the config and rules it started with: it reads the copies again.
  curl -fsS -X POST "http://127.0.0.1:$PROMETHEUS_PORT/-/reload" >/dev/null ||
    die "prometheus did not take $dir/prometheus.yml or its rules (see $LOGS/prometheus.log)"
  say "prometheus: ready at http://127.0.0.1:$PROMETHEUS_PORT (pid $(pid_of prometheus))"
}

cmd_up() {
  cmd_install
  up_postgres
  up_redis
  up_kafka
  up_registry
  up_prometheus
}

stop_one() {
  local name=$1 pid
  pid=$(pid_of "$name")
  if [[ -z $pid ]] || ! pid_running "$pid"; then
    rm -f "$PIDS/$name.pid"
    return
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 40))
  while pid_running "$pid"; do
    if ((SECONDS >= deadline)); then
      say "$name: did not stop within 40s, killing it"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.3
  done
  rm -f "$PIDS/$name.pid"
  say "$name: stopped"
}

cmd_down() {
  mkdir -p "$PIDS"
  # Reverse start order: the registry and Prometheus first, then the broker (which flushes its logs on SIGTERM).
  stop_one prometheus
  stop_one registry
  stop_one kafka
  say "postgres and redis are the machine's own servers: left running"
}

cmd_status() {
  local bad=0
  line() { printf '%-16s %-9s %s\n' "$1" "$2" "$3"; }
  check() {
    local name=$1 ext=$2 url=$3
    shift 3
    if external "$ext"; then
      line "$name" external "${!ext} (from $ext; not managed here)"
    elif "$@" >/dev/null 2>&1; then
      line "$name" healthy "$url $(alive "$name" && printf '(pid %s)' "$(pid_of "$name")")"
    else
      line "$name" DOWN "$url"
      bad=1
    fi
  }
  check postgres DATABASE_URL "postgres://127.0.0.1:5432/$PG_DATABASE" pg_ready
  check redis REDIS_URL "redis://127.0.0.1:6379" bash -c '[[ $(redis-cli -h 127.0.0.1 -p 6379 ping) == PONG ]]'
  check kafka KAFKA_BROKERS "localhost:$KAFKA_PORT" kafka_ready
  check registry SCHEMA_REGISTRY_URL "http://localhost:$REGISTRY_PORT/apis/ccompat/v7" registry_ready
  check prometheus PAYSTREAM_PROMETHEUS_URL "http://127.0.0.1:$PROMETHEUS_PORT" prometheus_ready
  return $bad
}

case ${1:-} in
  install) cmd_install ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *)
    say "usage: infra/stack.sh install|up|down|status"
    exit 2
    ;;
esac
