#!/usr/bin/env bash
# healthcheck.sh of storefleet/mariadb: the official image's probe script, for the tests
# the charts use. Each argument is a test, run in order; the first failure exits 1.
#   --connect                    the server takes TCP connections (not only the setup's
#                                socket-only server); authentication is not checked
#   --innodb_initialized         InnoDB finished its start-up and crash recovery
#   --innodb_buffer_pool_loaded  the buffer pool dump was loaded back
#   --mariadbupgrade             no mariadb-upgrade holds its lock
# Options: --datadir=DIR (default /var/lib/mysql), --defaults-extra-file=FILE (default
# DIR/.my-healthcheck.cnf, written by the entrypoint with the `healthcheck` user),
# --no-defaults. Without a passing --connect, a connect test runs last, as upstream.
set -Eeuo pipefail

datadir=/var/lib/mysql
extra_file=
no_defaults=
connected=

defaults() {
	if [ -n "$no_defaults" ]; then
		printf '%s\n' --no-defaults
	elif [ -n "$extra_file" ]; then
		printf '%s\n' "--defaults-extra-file=$extra_file"
	elif [ -f "$datadir/.my-healthcheck.cnf" ]; then
		printf '%s\n' "--defaults-extra-file=$datadir/.my-healthcheck.cnf"
	fi
}

# query SQL [--protocol=...]: the first column of the first row, over the socket.
query() {
	local options=()
	mapfile -t options < <(defaults)
	mariadb "${options[@]}" --skip-ssl --skip-ssl-verify-server-cert --protocol=socket \
		--batch --skip-column-names -e "$1"
}

connect() {
	local answer
	answer="$(query 'SELECT @@skip_networking' 2>/dev/null)" || answer=
	case "$answer" in
	0) connected=yes; return 0 ;;
	1) return 1 ;;
	esac
	# No socket answer (say, no healthcheck user yet): try TCP; being refused a login
	# still proves the server listens.
	local options=()
	mapfile -t options < <(defaults)
	answer="$(mariadb "${options[@]}" --skip-ssl --skip-ssl-verify-server-cert -h localhost \
		--protocol=tcp --batch --skip-column-names -e 'SELECT @@skip_networking' 2>&1)" || :
	case "$answer" in
	0 | "ERROR 1820 (HY000)"* | "ERROR 4151 (HY000)"* | "ERROR 1226 (42000)"* | ERROR\ 1[0-9][0-9][0-9]\ \(28000\)*)
		connected=yes
		return 0
		;;
	esac
	return 1
}

innodb_initialized() {
	[ "$(query "SELECT 1 FROM information_schema.ENGINES WHERE engine='innodb' AND support IN ('YES', 'DEFAULT', 'ENABLED')")" = 1 ]
}

innodb_buffer_pool_loaded() {
	[[ "$(query "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME='Innodb_buffer_pool_load_status'")" == *"load completed"* ]]
}

mariadbupgrade() {
	local info="$datadir/mariadb_upgrade_info"
	[ -r "$info" ] || return 0
	flock --exclusive --nonblock 9 9<"$info"
}

if [ "$#" -eq 0 ]; then
	echo "healthcheck.sh: name at least one test" >&2
	exit 1
fi
for arg; do
	case "$arg" in
	--datadir=*) datadir="${arg#*=}" ;;
	--defaults-extra-file=*) extra_file="${arg#*=}" ;;
	--no-defaults) no_defaults=yes ;;
	--connect | --innodb_initialized | --innodb_buffer_pool_loaded | --mariadbupgrade)
		test_name="${arg#--}"
		if ! "$test_name"; then
			echo "healthcheck $test_name failed" >&2
			exit 1
		fi
		;;
	*)
		echo "healthcheck.sh: unknown test or option $arg" >&2
		exit 1
		;;
	esac
done
if [ -z "$connected" ]; then
	connect
fi
