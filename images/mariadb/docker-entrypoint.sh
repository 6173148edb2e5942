#!/usr/bin/env bash
# Entrypoint of storefleet/mariadb, a stand-in for the official `mariadb` image built from
# Debian's packages (devtools/images.py). It keeps that image's documented contract:
#   MARIADB_ROOT_PASSWORD, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD or MARIADB_RANDOM_ROOT_PASSWORD
#   (one is required on first start), MARIADB_ROOT_HOST (default %), MARIADB_DATABASE,
#   MARIADB_USER + MARIADB_PASSWORD, MARIADB_INITDB_SKIP_TZINFO, MARIADB_AUTO_UPGRADE; each
#   also as MYSQL_* and as VAR_FILE. The data directory is initialised on first start,
#   then /docker-entrypoint-initdb.d/* (*.sh, *.sql, *.sql.gz, *.sql.xz, *.sql.zst) run
#   against a server without networking; a `healthcheck` user and
#   $DATADIR/.my-healthcheck.cnf are made for healthcheck.sh.
# Arguments starting with "-" are mariadbd options. Started as root it drops to the mysql
# user (999); as any other uid it needs only the datadir, /run/mysqld and /tmp writable.
# Not supported: replication, *_PASSWORD_HASH and restoring from backup archives.
# Passwords reach the server through stdin or the environment only, and are never logged.
set -Eeuo pipefail
shopt -s nullglob

log() { printf '%s [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

# file_env VAR [DEFAULT]: VAR from VAR or from the file named by VAR_FILE.
file_env() {
	local var="$1" default="${2:-}"
	local file_var="${var}_FILE"
	if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
		die "both $var and $file_var are set, but they are exclusive"
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

# mariadb_env NAME [DEFAULT]: MARIADB_NAME, falling back to MYSQL_NAME; both end equal.
mariadb_env() {
	local mysql="MYSQL_$1" maria="MARIADB_$1"
	file_env "$mysql" "${2:-}"
	file_env "$maria" "${!mysql}"
	export "$mysql"="${!maria}"
}

# server_config NAME SERVER ARGS...: a setting as the server would resolve it.
server_config() {
	local name="$1"
	shift
	"$@" --verbose --help 2>/dev/null |
		awk -v name="$name" '$1 == name && /^[^ \t]/ { sub(/^[^ \t]+[ \t]+/, ""); print; exit }'
}

setup_env() {
	DATADIR="$(server_config datadir "$@")"
	SOCKET="$(server_config socket "$@")"
	PORT="$(server_config port "$@")"
	[ -n "$DATADIR" ] || die "mariadbd could not read its configuration: $("$@" --verbose --help 2>&1 >/dev/null | head -n 5)"
	mariadb_env ROOT_HOST %
	mariadb_env DATABASE
	mariadb_env USER
	mariadb_env PASSWORD
	mariadb_env ROOT_PASSWORD
	: "${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:=${MYSQL_ALLOW_EMPTY_PASSWORD:-}}"
	: "${MARIADB_RANDOM_ROOT_PASSWORD:=${MYSQL_RANDOM_ROOT_PASSWORD:-}}"
	: "${MARIADB_INITDB_SKIP_TZINFO:=${MYSQL_INITDB_SKIP_TZINFO:-}}"
	: "${MARIADB_AUTO_UPGRADE:=}"
	export MARIADB_ALLOW_EMPTY_ROOT_PASSWORD MARIADB_RANDOM_ROOT_PASSWORD MARIADB_INITDB_SKIP_TZINFO
	DATABASE_EXISTS=
	if [ -d "$DATADIR/mysql" ]; then
		DATABASE_EXISTS=yes
	fi
}

create_directories() {
	mkdir -p -- "$DATADIR"
	# The image has it, but a runtime may mount an empty /run (ctr run does).
	mkdir -p -- "${SOCKET%/*}" 2>/dev/null || :
	if [ "$(id -u)" = 0 ]; then
		find "$DATADIR" \! -user mysql -exec chown mysql:mysql -- '{}' +
		find "${SOCKET%/*}" -maxdepth 0 \! -user mysql -exec chown mysql:mysql -- '{}' \;
	fi
}

check_minimum_env() {
	if [ -z "$MARIADB_ROOT_PASSWORD" ] && [ -z "$MARIADB_ALLOW_EMPTY_ROOT_PASSWORD" ] &&
		[ -z "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
		die "the database is uninitialised and no root password option is set: set one of MARIADB_ROOT_PASSWORD, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD and MARIADB_RANDOM_ROOT_PASSWORD"
	fi
}

# sql_string TEXT: TEXT as the inside of a single-quoted SQL string literal.
sql_string() {
	local text="${1//\\/\\\\}"
	text="${text//$'\n'/\\n}"
	printf '%s' "${text//\'/\\\'}"
}

# sql_name TEXT: TEXT as the inside of a backquoted SQL identifier.
sql_name() {
	printf '%s' "${1//\`/\`\`}"
}

random_password() {
	head -c 32 /dev/urandom | base64 -w 0
}

# client [mariadb options]: the server's socket, as root; the password in MYSQL_PWD.
client() {
	MYSQL_PWD="${CLIENT_PASSWORD:-}" mariadb --no-defaults --protocol=socket --user=root \
		--host=localhost --socket="$SOCKET" "$@"
}

temp_server_start() {
	"$@" --skip-networking --default-time-zone=SYSTEM --socket="$SOCKET" --wsrep_on=OFF \
		--expire-logs-days=0 --loose-innodb_buffer_pool_load_at_startup=0 &
	SERVER_PID=$!
	local attempt
	for attempt in {60..0}; do
		if client --database=mysql <<<'SELECT 1' >/dev/null 2>&1; then
			return
		fi
		kill -0 "$SERVER_PID" 2>/dev/null || die "the temporary server exited"
		sleep 1
	done
	die "the temporary server did not answer within a minute"
}

temp_server_stop() {
	kill "$SERVER_PID"
	wait "$SERVER_PID"
}

init_database_dir() {
	log "initialising the data directory"
	# mariadb-install-db passes the server's own options on; it cannot take blanks.
	local args=() arg
	for arg in "${@:2}"; do
		if [[ "$arg" =~ [[:space:]] ]]; then
			log "not passing an option with blanks to mariadb-install-db"
		else
			args+=("$arg")
		fi
	done
	mariadb-install-db --datadir="$DATADIR" --rpm --auth-root-authentication-method=normal \
		"${args[@]}" --skip-test-db --old-mode=UTF8_IS_UTF8MB3 --default-time-zone=SYSTEM \
		--enforce-storage-engine= --skip-log-bin --expire-logs-days=0 \
		--loose-innodb_buffer_pool_load_at_startup=0 \
		--loose-innodb_buffer_pool_dump_at_shutdown=0 >/dev/null
}

healthcheck_users() {
	local password
	password="$(random_password)"
	local host
	for host in 127.0.0.1 ::1 localhost; do
		printf "CREATE USER IF NOT EXISTS healthcheck@'%s' IDENTIFIED BY '%s';\n" "$host" "$password"
		printf "SET PASSWORD FOR healthcheck@'%s' = PASSWORD('%s');\n" "$host" "$password"
		printf "GRANT USAGE ON *.* TO healthcheck@'%s';\n" "$host"
	done
	(
		umask 0077
		printf '[mariadb-client]\nport=%s\nsocket=%s\nuser=healthcheck\npassword=%s\nprotocol=tcp\n' \
			"$PORT" "$SOCKET" "$password" >"$DATADIR/.my-healthcheck.cnf"
	)
}

# The statements that secure root and create the database and user, on stdout.
setup_sql() {
	local root_password
	root_password="$(sql_string "$MARIADB_ROOT_PASSWORD")"
	printf 'SET @@SESSION.SQL_LOG_BIN=0;\n'
	printf "SET @@SESSION.SQL_MODE=REPLACE(@@SESSION.SQL_MODE, 'NO_BACKSLASH_ESCAPES', '');\n"
	printf "DROP USER IF EXISTS root@'127.0.0.1', root@'::1';\n"
	printf "EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS root@\\\\'', @@hostname, '\\\\'');\n"
	printf "SET PASSWORD FOR 'root'@'localhost' = PASSWORD('%s');\n" "$root_password"
	if [ -n "$MARIADB_ROOT_HOST" ] && [ "$MARIADB_ROOT_HOST" != localhost ]; then
		local host
		host="$(sql_string "$MARIADB_ROOT_HOST")"
		printf "CREATE USER 'root'@'%s' IDENTIFIED BY '%s';\n" "$host" "$root_password"
		printf "GRANT ALL ON *.* TO 'root'@'%s' WITH GRANT OPTION;\n" "$host"
		printf "GRANT PROXY ON ''@'%%' TO 'root'@'%s' WITH GRANT OPTION;\n" "$host"
	fi
	healthcheck_users
	if [ -n "$MARIADB_DATABASE" ]; then
		printf 'CREATE DATABASE IF NOT EXISTS `%s`;\n' "$(sql_name "$MARIADB_DATABASE")"
	fi
	if [ -n "$MARIADB_USER" ] && [ -n "$MARIADB_PASSWORD" ]; then
		local user
		user="$(sql_string "$MARIADB_USER")"
		printf "CREATE USER '%s'@'%%' IDENTIFIED BY '%s';\n" "$user" "$(sql_string "$MARIADB_PASSWORD")"
		if [ -n "$MARIADB_DATABASE" ]; then
			# In a GRANT, _ and % in the database name are wildcards.
			local grant_name="${MARIADB_DATABASE//_/\\_}"
			grant_name="${grant_name//%/\\%}"
			printf "GRANT ALL ON \`%s\`.* TO '%s'@'%%';\n" "$(sql_name "$grant_name")" "$user"
		fi
	fi
}

setup_database() {
	if [ -z "$MARIADB_INITDB_SKIP_TZINFO" ]; then
		mariadb-tzinfo-to-sql --skip-write-binlog /usr/share/zoneinfo 2>/dev/null |
			client --database=mysql
	fi
	if [ -n "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
		MARIADB_ROOT_PASSWORD="$(random_password)"
		export MARIADB_ROOT_PASSWORD MYSQL_ROOT_PASSWORD="$MARIADB_ROOT_PASSWORD"
		log "root has a random password (not shown)"
	fi
	[ -z "$MARIADB_DATABASE" ] || log "creating database $MARIADB_DATABASE"
	[ -z "$MARIADB_USER" ] || log "creating user $MARIADB_USER"
	setup_sql | client --database=mysql --binary-mode
}

run_init_files() {
	local file
	for file in /docker-entrypoint-initdb.d/*; do
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
		*.sql) log "running $file"; init_client <"$file" ;;
		*.sql.gz) log "running $file"; gunzip -c -- "$file" | init_client ;;
		*.sql.xz) log "running $file"; xzcat -- "$file" | init_client ;;
		*.sql.zst) log "running $file"; zstd -dc -- "$file" | init_client ;;
		*) log "ignoring $file" ;;
		esac
	done
}

init_client() {
	local database=()
	if [ -n "$MARIADB_DATABASE" ]; then
		database=(--database="$MARIADB_DATABASE")
	fi
	CLIENT_PASSWORD="$MARIADB_ROOT_PASSWORD" client "${database[@]}"
}

initialise() {
	ls /docker-entrypoint-initdb.d/ >/dev/null
	init_database_dir "$@"
	temp_server_start "$@"
	setup_database
	run_init_files
	temp_server_stop
	log "initialisation complete; starting the server"
}

upgrade_needed() {
	[ -f "$DATADIR/mariadb_upgrade_info" ] && [ -f "$DATADIR/.my-healthcheck.cnf" ] || return 0
	local installed current
	installed="$(cut -d. -f1,2 <"$DATADIR/mariadb_upgrade_info")"
	current="$(mariadbd --version | grep -oE '[0-9]+\.[0-9]+' | head -n 1)"
	[ "$installed" != "$current" ]
}

# The system tables of an older server, brought up to this one's (MARIADB_AUTO_UPGRADE).
upgrade() {
	if [ -z "$MARIADB_AUTO_UPGRADE" ] || [ "$MARIADB_AUTO_UPGRADE" = 0 ]; then
		log "an upgrade is due, but MARIADB_AUTO_UPGRADE is not set"
		return
	fi
	log "upgrading the system tables"
	temp_server_start "$@" --skip-grant-tables --loose-innodb_buffer_pool_dump_at_shutdown=0 \
		--skip-slave-start
	if [ ! -f "$DATADIR/.my-healthcheck.cnf" ]; then
		{
			printf 'SET @@SESSION.SQL_LOG_BIN=0;\nFLUSH PRIVILEGES;\n'
			healthcheck_users
		} | client --binary-mode
	fi
	mariadb-upgrade --no-defaults --socket="$SOCKET" --upgrade-system-tables >/dev/null
	temp_server_stop
}

wants_help() {
	local arg
	for arg; do
		case "$arg" in
		-'?' | --help | --print-defaults | -V | --version) return 0 ;;
		esac
	done
	return 1
}

main() {
	if [ "$#" -eq 0 ] || [ "${1:0:1}" = - ]; then
		set -- mariadbd "$@"
	fi
	if { [ "$1" != mariadbd ] && [ "$1" != mysqld ]; } || wants_help "$@"; then
		exec "$@"
	fi
	setup_env "$@"
	create_directories
	if [ "$(id -u)" = 0 ]; then
		log "switching to the mysql user"
		exec setpriv --reuid=mysql --regid=mysql --init-groups -- "${BASH_SOURCE[0]}" "$@"
	fi
	if [ -z "$DATABASE_EXISTS" ]; then
		check_minimum_env
		initialise "$@"
	elif upgrade_needed; then
		upgrade "$@"
	fi
	exec "$@"
}

main "$@"
