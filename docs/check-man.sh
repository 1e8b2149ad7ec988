#!/bin/sh
# check-man.sh - the man page checks run by ctest.
#   check-man.sh page MANDIR manN/page.N VERSION
#     groff -ww (every warning) renders the page with no output on stderr, a
#     .so alias names a page that exists, and a full page's .TH carries the
#     project's MAJOR.MINOR version; with man-db present, man --warnings too.
#   check-man.sh coverage MANDIR zone.h
#     every function zone.h declares with ZONE_API has a page in man3.
set -eu

fail() {
  printf 'check-man: %s\n' "$*" >&2
  exit 1
}

case ${1:-} in
page)
  mandir=$2 page=$3 version=$4
  cd "$mandir"
  [ -f "$page" ] || fail "$page: no such page"
  first=$(sed -n 1p "$page")
  case $first in
  .so\ *)
    target=${first#.so }
    [ -f "$target" ] || fail "$page: .so names $target, which does not exist"
    ;;
  *)
    want="libzone ${version%.*}"
    th=$(grep '^\.TH ' "$page") || fail "$page: no .TH line"
    case $th in
    *"\"$want\""*) ;;
    *) fail "$page: .TH does not say \"$want\": $th" ;;
    esac
    ;;
  esac
  # -s: soelim resolves .so aliases relative to MANDIR.
  warnings=$(groff -s -man -ww -z "$page" 2>&1) || fail "$page: groff failed: $warnings"
  [ -z "$warnings" ] || fail "$page: groff warnings:
$warnings"
  if command -v man >/dev/null 2>&1; then
    warnings=$(MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null) ||
      fail "$page: man failed: $warnings"
    [ -z "$warnings" ] || fail "$page: man --warnings:
$warnings"
  fi
  echo "ok: $page"
  ;;
coverage)
  mandir=$2 header=$3
  names=$(sed -n 's/^ZONE_API [^(]*[ *]\([a-z_][a-z_0-9]*\)(.*/\1/p' "$header")
  [ -n "$names" ] || fail "no ZONE_API functions found in $header"
  missing=""
  for name in $names; do
    [ -f "$mandir/man3/$name.3" ] || missing="$missing $name"
  done
  [ -z "$missing" ] || fail "functions without a man page:$missing"
  echo "ok: $(echo "$names" | wc -l) functions, each with a page"
  ;;
*)
  fail "usage: check-man.sh page MANDIR PAGE VERSION | coverage MANDIR HEADER"
  ;;
esac
