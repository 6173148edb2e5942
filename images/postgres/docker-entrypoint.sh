#!/usr/bin/env bash
# Entrypoint of storefleet/postgres, a stand-in for the official `postgres` image built
# from Debian's packages (devtools/images.py). It keeps that image's documented contract:
#   POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_USER
#   (default postgres), POSTGRES_DB (default: the user), POSTGRES_INITDB_ARGS,
#   POSTGRES_INITDB_WALDIR, POSTGRES_HOST_AUTH_METHOD, each VAR also as VAR_FILE;
#   PGDATA initialised on first start, then /docker-entrypoint-initdb.d/* (*.sh, *.sql,
#   *.sql.gz, *.sql.xz, *.sql.zst) run against a socket-only server.
# Started as root it prepares the directories and drops to the postgres user (999); as
# any other uid (Kubernetes runAsUser) it needs only PGDATA, /var/run/postgresql and /tmp
# writable, so the root filesystem may be read-only. Passwords are never logged and never
# appear on a command line. A POSTGRES_USER that Postgres cannot take as the owner of
# extensions is refused before initdb, which would fail on it only after logging the
# password.
set -Eeuo pipefail

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }

# file_env VAR [DEFAULT]: VAR from VAR or from the file named by VAR_FILE.
file_env() {
	local var="$1" default="${2:-}"
	local file_var="${var}_FILE"
	if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
		log "both $var and $file_var are set, but they are exclusive"
		exit 1
	fi
	local value="$default"
	if [ -n "${!var:-}" ]; then
		value="${!var}"
	elif [ -n "${!file_var:-}" ]; then
		value="$(<"${!file_var}")"
	fi
	export "$var"="$value"
	unset "$file_var"
}

setup_env() {
	file_env POSTGRES_PASSWORD
	file_env POSTGRES_USER postgres
	file_env POSTGRES_DB "$POSTGRES_USER"
	file_env POSTGRES_INITDB_ARGS
	: "${POSTGRES_HOST_AUTH_METHOD:=}"
	: "${POSTGRES_INITDB_WALDIR:=}"
	DATABASE_EXISTS=
	if [ -s "$PGDATA/PG_VERSION" ]; then
		DATABASE_EXISTS=yes
	fi
}

create_directories() {
	mkdir -p -- "$PGDATA"
	# Postgres insists on 0700; on some volumes chmod fails and initdb says why.
	chmod 0700 -- "$PGDATA" || :
	mkdir -p /var/run/postgresql || :
	chmod 3775 /var/run/postgresql 2>/dev/null || :
	if [ -n "$POSTGRES_INITDB_WALDIR" ]; then
		mkdir -p -- "$POSTGRES_INITDB_WALDIR"
		chmod 0700 -- "$POSTGRES_INITDB_WALDIR"
	fi
	if [ "$(id -u)" = 0 ]; then
		local dir
		for dir in "$PGDATA" /var/run/postgresql ${POSTGRES_INITDB_WALDIR:+"$POSTGRES_INITDB_WALDIR"}; do
			find "$dir" \! -user postgres -exec chown postgres:postgres -- '{}' +
		done
	fi
}

check_minimum_env() {
	if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
		log "the database is uninitialised and POSTGRES_PASSWORD is not set: set it (or POSTGRES_HOST_AUTH_METHOD=trust, not recommended)"
		exit 1
	fi
	if [ "$POSTGRES_HOST_AUTH_METHOD" = trust ]; then
		log "WARNING: POSTGRES_HOST_AUTH_METHOD=trust lets anyone who reaches the port in without a password"
	fi
	# initdb's superuser owns the extensions it creates, and Postgres takes no owner name
	# with any of "$'\, "--", "/*", "*/" or a line break: initdb would fail on it, as
	# upstream's does, but only after logging its ALTER USER statement, password and all.
	case "$POSTGRES_USER" in
	*[\"\$\'\\]* | *--* | */\** | *\*/* | *$'\n'* | *$'\r'*)
		log "POSTGRES_USER may not contain any of \"\$'\\, \"--\", \"/*\", \"*/\" or a line break (Postgres refuses it as the owner of extensions)"
		exit 1
		;;
	esac
}

# initdb looks the current uid up in /etc/passwd; an arbitrary uid (Kubernetes
# runAsUser) gets a passwd entry from nss_wrapper, in /tmp, for initdb only.
with_passwd_entry() {
	local uid gid
	uid="$(id -u)"
	gid="$(id -g)"
	if getent passwd "$uid" >/dev/null 2>&1; then
		"$@"
		return
	fi
	local wrapper
	wrapper="$(find /usr/lib -name libnss_wrapper.so -print -quit)"
	local passwd group
	passwd="$(mktemp)"
	group="$(mktemp)"
	printf 'postgres:x:%s:%s:PostgreSQL:%s:/bin/false\n' "$uid" "$gid" "$PGDATA" >"$passwd"
	printf 'postgres:x:%s:\n' "$gid" >"$group"
	local status=0
	LD_PRELOAD="$wrapper" NSS_WRAPPER_PASSWD="$passwd" NSS_WRAPPER_GROUP="$group" "$@" || status=$?
	rm -f -- "$passwd" "$group"
	return "$status"
}

init_database_dir() {
	local args=(--username="$POSTGRES_USER" --pgdata="$PGDATA")
	if [ -n "$POSTGRES_INITDB_WALDIR" ]; then
		args+=(--waldir="$POSTGRES_INITDB_WALDIR")
	fi
	# POSTGRES_INITDB_ARGS are initdb options by contract: split on blanks, never globbed
	# or evaluated.
	local extra=()
	read -r -a extra <<<"$POSTGRES_INITDB_ARGS"
	# The password goes through a pipe, never argv; initdb refuses an empty file.
	with_passwd_entry initdb "${args[@]}" "${extra[@]}" \
		--pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD")
}

setup_hba_conf() {
	local method="$POSTGRES_HOST_AUTH_METHOD"
	if [ -z "$method" ]; then
		method="$(postgres -D "$PGDATA" -C password_encryption)"
	fi
	printf '\nhost all all all %s\n' "$method" >>"$PGDATA/pg_hba.conf"
}

# A server on the socket only, for the setup; pg_ctl hands -o to a shell, so the port
# must be a number.
temp_server_start() {
	local port="${PGPORT:-5432}"
	if ! [[ "$port" =~ ^[0-9]+$ ]]; then
		log "PGPORT must be a number"
		exit 1
	fi
	NOTIFY_SOCKET='' PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" \
		-o "-c listen_addresses='' -p $port" -w start >/dev/null
}

temp_server_stop() {
	PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
}

# process_sql [psql options]: SQL from stdin or -f, as the superuser over the socket.
# User and database go in the environment, where libpq never reads them as options or as
# a connection string.
process_sql() {
	PGHOST='' PGHOSTADDR='' PGUSER="$POSTGRES_USER" PGDATABASE="${PSQL_DBNAME:-$POSTGRES_DB}" \
		psql -v ON_ERROR_STOP=1 --no-password --no-psqlrc "$@"
}

create_database() {
	local exists
	exists="$(PSQL_DBNAME=postgres process_sql --tuples-only --set=db="$POSTGRES_DB" <<-'SQL'
		SELECT 1 FROM pg_database WHERE datname = :'db';
	SQL
	)"
	if [ -z "$exists" ]; then
		PSQL_DBNAME=postgres process_sql --quiet --set=db="$POSTGRES_DB" <<-'SQL'
			CREATE DATABASE :"db";
		SQL
	fi
}

run_init_files() {
	local file
	for file in /docker-entrypoint-initdb.d/*; do
		[ -e "$file" ] || continue
		case "$file" in
		*.sh)
			if [ -x "$file" ]; then
				log "running $file"
				"$file"
			else
				log "sourcing $file"
				# shellcheck disable=SC1090
				. "$file"
			fi
			;;
		*.sql) log "running $file"; process_sql -f "$file" ;;
		*.sql.gz) log "running $file"; gunzip -c -- "$file" | process_sql ;;
		*.sql.xz) log "running $file"; xzcat -- "$file" | process_sql ;;
		*.sql.zst) log "running $file"; zstd -dc -- "$file" | process_sql ;;
		*) log "ignoring $file" ;;
		esac
	done
}

wants_help() {
	local arg
	for arg; do
		case "$arg" in
		-'?' | --help | --describe-config | -V | --version) return 0 ;;
		esac
	done
	return 1
}

main() {
	if [ "$#" -eq 0 ] || [ "${1:0:1}" = - ]; then
		set -- postgres "$@"
	fi
	if [ "$1" != postgres ] || wants_help "$@"; then
		exec "$@"
	fi
	setup_env
	create_directories
	if [ "$(id -u)" = 0 ]; then
		exec setpriv --reuid=postgres --regid=postgres --init-groups -- "${BASH_SOURCE[0]}" "$@"
	fi
	if [ -n "$DATABASE_EXISTS" ]; then
		log "the data directory holds a database: skipping initialisation"
		exec "$@"
	fi
	check_minimum_env
	ls /docker-entrypoint-initdb.d/ >/dev/null
	init_database_dir
	setup_hba_conf
	export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
	temp_server_start
	create_database
	run_init_files
	temp_server_stop
	unset PGPASSWORD
	log "initialisation complete; starting postgres"
	exec "$@"
}

main "$@"
