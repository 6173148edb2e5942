#!/bin/sh
# Entrypoint of storefleet/medusa, the node image's own: runs the command it is given,
# and hands anything that is not a command (an option, a script file) to node.
set -e

if [ "${1#-}" != "$1" ] || [ -z "$(command -v "$1")" ] || { [ -f "$1" ] && ! [ -x "$1" ]; }; then
	set -- node "$@"
fi

exec "$@"
