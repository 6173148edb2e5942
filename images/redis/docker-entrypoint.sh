#!/bin/sh
# Entrypoint of storefleet/redis, a stand-in for the official `redis` image built from
# Debian's redis-server (devtools/images.py), with that image's contract: arguments that
# start with "-" or end in ".conf" are redis-server's; started as root it drops to the
# redis user (999) in /data; without a config file and without an explicit
# --protected-mode it adds `--protected-mode no`, since the container's network is the
# boundary (set a password with --requirepass, as the charts do).
set -eu

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi

if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
	find . \! -user redis -exec chown redis:redis -- '{}' +
	exec setpriv --reuid=redis --regid=redis --init-groups -- "$0" "$@"
fi

if [ "$1" = redis-server ]; then
	protected=
	config=
	for arg; do
		case "$arg" in
		--protected-mode) protected=yes ;;
		*.conf) config=yes ;;
		esac
	done
	if [ -z "$protected" ] && [ -z "$config" ]; then
		set -- "$@" --protected-mode no
	fi
	# Redis keeps what it writes private to its user.
	umask 0077
fi

exec "$@"
