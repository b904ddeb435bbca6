#!/bin/sh
# Written by `mlrelease deploy compose`: starts NGINX as its non-root user with the
# read-only config of /etc/mlrelease/nginx; pid and temporary files go to the tmpfs
# /run/mlrelease-nginx, the logs to the container's output (docker compose logs nginx).
set -eu
mkdir -p /run/mlrelease-nginx/temp /run/mlrelease-nginx/logs
cp /etc/mlrelease/nginx/nginx.conf /run/mlrelease-nginx/nginx.conf
ln -sf /dev/stdout /run/mlrelease-nginx/logs/access.log
ln -sf /dev/stderr /run/mlrelease-nginx/error.log
exec nginx -p /run/mlrelease-nginx -c /run/mlrelease-nginx/nginx.conf -e /run/mlrelease-nginx/error.log -g 'daemon off;'
