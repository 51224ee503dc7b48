#!/bin/sh
# run-fuzzer.sh FUZZER CORPUS SECONDS: fuzzes for SECONDS starting from CORPUS (read only); new inputs
# go to a temporary folder that is removed afterwards. A crash fails the test and leaves its input
# (crash-*) in the test's working folder, to be added to CORPUS once fixed.
set -u
fuzzer=$1 corpus=$2 seconds=$3
dict=${corpus%-corpus}.dict
new=$(mktemp -d) || exit 1
trap 'rm -rf "$new"' EXIT
set -- -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
[ -f "$dict" ] && set -- "$@" -dict="$dict"
"$fuzzer" "$@" "$new" "$corpus"
