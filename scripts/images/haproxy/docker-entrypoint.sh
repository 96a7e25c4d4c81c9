#!/bin/sh
# Behaves like the official HAProxy image's entrypoint: arguments that start with an option run haproxy
# with them, and haproxy itself runs in master-worker mode (-W, reloads on SIGUSR2) in the foreground
# (-db), so it stays the container's main process.
set -e
case "${1-}" in
  -*) set -- haproxy "$@" ;;
esac
if [ "${1-}" = haproxy ]; then
  shift
  set -- haproxy -W -db "$@"
fi
exec "$@"
