#!/usr/bin/env bash
# zone_run_test.sh CASE ZONE_RUN MISUSE_PROGRAM - the launcher's behaviour,
# one case per ctest: options become the shim's environment, the program's
# exit status comes back, each mistake on the command line is refused with
# its own message and env(1)'s exit status (125, 126 or 127).
set -euo pipefail
case_name=$1 zone_run=$2 misuse=$3
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# expect STATUS MESSAGE ARGS...: zone-run ARGS, started in an empty directory,
# exits with STATUS, writes exactly MESSAGE (one line) on stderr and nothing on
# stdout, and leaves the directory empty.
expect() {
  local want_status=$1 want=$2 status
  shift 2
  rm -rf "$tmp/cwd"
  mkdir "$tmp/cwd"
  set +e
  (cd "$tmp/cwd" && "$zone_run" "$@") >"$tmp/out" 2>"$tmp/err"
  status=$?
  set -e
  echo "zone-run $*: status $status: $(cat "$tmp/err")"
  [ "$status" -eq "$want_status" ] || fail "status $status, wanted $want_status"
  [ "$(cat "$tmp/err")" = "$want" ] || fail "stderr is not the one line: $want"
  [ ! -s "$tmp/out" ] || fail "wrote on stdout: $(cat "$tmp/out")"
  [ -z "$(ls -A "$tmp/cwd")" ] || fail "left files behind: $(ls -A "$tmp/cwd")"
}

case $case_name in
  stats)
    "$zone_run" --stats -- ls / >"$tmp/out" 2>"$tmp/err"
    cat "$tmp/err"
    grep -Eq '^zone stats: pid=[0-9]+ prog=ls size=[0-9]+ used=[0-9]+ peak_used=[0-9]+ blocks=[0-9]+ free=[0-9]+ free_regions=[0-9]+ largest_free=[0-9]+ fragmentation=[0-9]+\.[0-9]% returned=[0-9]+ decayed=[0-9]+ mapped=[0-9]+ peak_mapped=[0-9]+$' "$tmp/err" ||
      fail "no stats line from ls (which closes stderr at exit)"
    ;;
  status)
    set +e
    "$zone_run" -- sh -c 'exit 7'
    status=$?
    set -e
    [ "$status" -eq 7 ] || fail "exit status $status, wanted 7"
    ;;
  dump)
    # A relative dump path, and a program that changes directory.
    (cd "$tmp" && "$zone_run" --all --dump heap.txt --dump-every 200 -- sh -c 'cd / && ls -l /usr/bin >/dev/null')
    dumps=$(grep -c '^zone ' "$tmp/heap.txt")
    echo "$dumps dumps in the file"
    [ "$dumps" -ge 2 ] || fail "wanted periodic dumps and the exit dump, got $dumps"
    awk -f "$here/check_dump.awk" "$tmp/heap.txt" || fail "the dump file breaks the zdump format"
    ;;
  dump_truncates)
    echo stale >"$tmp/heap.txt"
    "$zone_run" --dump "$tmp/heap.txt" -- true
    head -n 1 "$tmp/heap.txt" | grep -q '^zone size=' || fail "the file was not emptied first"
    ;;
  misuse_warn)
    "$zone_run" --misuse warn -- "$misuse" free_double >"$tmp/out" 2>"$tmp/err" || fail "the program died"
    pointer=$(head -n 1 "$tmp/out")
    grep -qx "zone: free(): invalid pointer $pointer" "$tmp/err" || fail "no warning on stderr"
    ;;
  misuse_default)
    set +e
    "$zone_run" -- "$misuse" free_double >"$tmp/out" 2>"$tmp/err"
    status=$?
    set -e
    [ "$status" -eq 134 ] || fail "status $status, wanted 134 (SIGABRT)"
    ;;
  help)
    "$zone_run" --help >"$tmp/out"
    grep -q '^usage: zone-run' "$tmp/out" || fail "--help has no usage line"
    tr '\n' ' ' <"$tmp/out" | grep -q 'Exit status: .*125 when zone-run itself fails.* 126 when the program is found but can.t be executed; 127 when it is not found' ||
      fail "--help does not give the exit statuses"
    ;;
  # Each bad command line: its own message on one line, env(1)'s exit status.
  bad_dump_no_dir)
    expect 125 "zone-run: --dump: can't create /nonexistent/dir/x.txt: no directory /nonexistent/dir (FILE must be in an existing, writable directory)" \
      --dump /nonexistent/dir/x.txt -- true
    ;;
  bad_dump_unwritable)
    # sysfs refuses to create or open this for writing, even for root.
    [ -d /sys/kernel ] || { echo "skip: no /sys/kernel"; exit 77; }
    expect 125 "zone-run: --dump: can't write /sys/kernel/notes (FILE must be in an existing, writable directory)" \
      --dump /sys/kernel/notes -- true
    ;;
  bad_dump_directory)
    mkdir "$tmp/dir"
    expect 125 "zone-run: --dump: $tmp/dir is a directory (FILE must name a file)" --dump "$tmp/dir" -- true
    ;;
  bad_dump_too_long)
    long=$tmp/$(printf '%04100d' 0)
    expect 125 "zone-run: --dump: the path of FILE is ${#long} bytes long (at most 4095)" --dump "$long" -- true
    ;;
  bad_dump_no_value)
    # `--dump -- true` must not write a file named --: expect checks that the
    # directory it runs in stays empty.
    expect 125 "zone-run: --dump needs FILE after it, not the option -- (a name starting with - is written ./--)" \
      --dump -- true
    ;;
  bad_dump_at_end)
    expect 125 "zone-run: --dump needs FILE after it" --dump
    ;;
  bad_dump_empty)
    expect 125 "zone-run: --dump needs FILE after it, not an empty string" --dump= -- true
    ;;
  bad_program_missing)
    # Nothing is written when the program is missing: no heap.txt.
    expect 127 "zone-run: /no/such/prog: no such file (give a command on PATH or the path of an executable file)" \
      --dump heap.txt -- /no/such/prog
    ;;
  bad_command_missing)
    expect 127 "zone-run: zone-run-no-such-command: command not found on PATH (give a command on PATH or the path of an executable file)" \
      -- zone-run-no-such-command arg
    ;;
  bad_program_not_executable)
    printf 'echo hello\n' >"$tmp/script.sh"
    chmod 644 "$tmp/script.sh"
    expect 126 "zone-run: $tmp/script.sh: not executable (chmod +x it, or name its interpreter first, e.g. zone-run -- sh $tmp/script.sh)" \
      -- "$tmp/script.sh"
    ;;
  bad_command_not_executable)
    mkdir "$tmp/bin"
    printf 'echo hello\n' >"$tmp/bin/zone-run-script"
    chmod 644 "$tmp/bin/zone-run-script"
    PATH=$tmp/bin:$PATH expect 126 \
      "zone-run: zone-run-script: found on PATH as $tmp/bin/zone-run-script, which is not an executable file" \
      -- zone-run-script
    ;;
  bad_program_directory)
    mkdir "$tmp/dir"
    expect 126 "zone-run: $tmp/dir: is a directory, not a program" -- "$tmp/dir"
    ;;
  bad_interpreter_missing)
    printf '#!/no/such/interpreter -x\necho hello\n' >"$tmp/script"
    chmod 755 "$tmp/script"
    expect 127 "zone-run: $tmp/script: its #! interpreter /no/such/interpreter does not exist" -- "$tmp/script"
    ;;
  bad_interpreter_not_executable)
    printf 'not a program\n' >"$tmp/interpreter"
    chmod 644 "$tmp/interpreter"
    printf '#!%s\necho hello\n' "$tmp/interpreter" >"$tmp/script"
    chmod 755 "$tmp/script"
    expect 126 "zone-run: $tmp/script: its #! interpreter $tmp/interpreter is not an executable file" -- "$tmp/script"
    ;;
  bad_option)
    expect 125 "zone-run: unknown option --frobnicate (the options are --stats, --dump FILE, --dump-every N, --all, --misuse MODE, --print-shim, --help, --version)" \
      --frobnicate -- true
    ;;
  bad_no_program)
    for args in "" "--" "--stats" "--dump heap.txt --"; do
      # shellcheck disable=SC2086
      expect 125 "zone-run: no program to run (usage: zone-run [options] [--] program [args...])" $args
    done
    ;;
  bad_misuse)
    expect 125 "zone-run: --misuse takes abort, warn or ignore, not crash" --misuse crash -- true
    ;;
  bad_misuse_at_end)
    expect 125 "zone-run: --misuse needs a MODE (abort, warn or ignore) after it" --misuse
    ;;
  bad_dump_every_alone)
    expect 125 "zone-run: --dump-every needs --dump FILE too" --dump-every 5 -- true
    ;;
  bad_dump_every_count)
    for count in x 0 -1x 1.5; do
      expect 125 "zone-run: --dump-every needs a count of at least 1, not $count" --dump-every="$count" --dump f -- true
    done
    expect 125 "zone-run: --dump-every 99999999999999999999 is too large (the count is at most 9223372036854775807)" \
      --dump f --dump-every 99999999999999999999 -- true
    ;;
  bad_dump_every_no_value)
    expect 125 "zone-run: --dump-every needs a count N after it, not the option -- (a name starting with - is written ./--)" \
      --dump f --dump-every -- true
    ;;
  stats_program_only)
    # By default only the program zone-run starts reports, not its helpers.
    "$zone_run" --stats -- bash -c 'ls / >/dev/null; ls / >/dev/null' 2>"$tmp/err"
    cat "$tmp/err"
    [ "$(grep -c '^zone stats: ' "$tmp/err")" -eq 1 ] || fail "wanted one stats line"
    grep -q '^zone stats: pid=[0-9]* prog=bash ' "$tmp/err" || fail "the line is not bash's"
    ;;
  stats_all)
    "$zone_run" --all --stats -- bash -c 'ls / >/dev/null; ls / >/dev/null' 2>"$tmp/err"
    cat "$tmp/err"
    [ "$(grep -c '^zone stats: ' "$tmp/err")" -eq 3 ] || fail "wanted bash's and both ls's lines"
    [ "$(grep -c '^zone stats: pid=[0-9]* prog=ls ' "$tmp/err")" -eq 2 ] || fail "wanted two ls lines"
    ;;
  stats_through_exec)
    # A wrapper script that execs the program: the program reports.
    printf '#!/bin/sh\nexec ls / "$@"\n' >"$tmp/wrapper"
    chmod +x "$tmp/wrapper"
    "$zone_run" --stats -- "$tmp/wrapper" >/dev/null 2>"$tmp/err"
    cat "$tmp/err"
    [ "$(grep -c '^zone stats: pid=[0-9]* prog=ls ' "$tmp/err")" -eq 1 ] || fail "wanted ls's line only"
    ;;
  dump_tagged)
    "$zone_run" --all --dump "$tmp/heap.txt" -- bash -c 'ls / >/dev/null; true'
    grep '^zone ' "$tmp/heap.txt"
    [ "$(grep -c '^zone size=.* pid=[0-9][0-9]* prog=bash$' "$tmp/heap.txt")" -eq 1 ] || fail "no dump tagged prog=bash"
    [ "$(grep -c '^zone size=.* pid=[0-9][0-9]* prog=ls$' "$tmp/heap.txt")" -eq 1 ] || fail "no dump tagged prog=ls"
    ;;
  option_*)
    # A bad value of each ZONE_* variable: one warning for the whole process
    # tree, naming the variable, the value, what it takes and the man page.
    shim=$("$zone_run" --print-shim)
    case $case_name in
      option_stats) var=ZONE_STATS value=banana takes='0 or 1' ;;
      option_misuse) var=ZONE_MISUSE value=crash takes='abort, warn or ignore' ;;
      option_trim) var=ZONE_TRIM_THRESHOLD value=-5 takes='a count of bytes (0: never)' ;;
      option_return_delay) var=ZONE_RETURN_DELAY value=soon takes='a count of operations (0: never)' ;;
      option_dump_every) var=ZONE_DUMP_EVERY value=10x takes='a count of allocations (0: at exit only)' ;;
      option_report_pid) var=ZONE_REPORT_PID value=me takes='a process id' ;;
      option_arenas_zero) var=ZONE_ARENAS value=0 takes='a count of arenas from 1 to 256' ;;
      option_arenas_large) var=ZONE_ARENAS value=257 takes='a count of arenas from 1 to 256' ;;
      option_arenas_junk) var=ZONE_ARENAS value=8x takes='a count of arenas from 1 to 256' ;;
      option_mmap_small) var=ZONE_MMAP_THRESHOLD value=65536 takes='a count of bytes from 1048576 on (0: never)' ;;
      option_mmap_junk) var=ZONE_MMAP_THRESHOLD value=big takes='a count of bytes from 1048576 on (0: never)' ;;
      option_dump_unwritable) var=ZONE_DUMP value=/nonexistent/dir/x.txt
        takes='the path of a file it can create or append to' why="can't open it for writing; " ;;
      *) fail "no such case $case_name" ;;
    esac
    env "$var=$value" LD_PRELOAD="$shim" bash -c 'ls / >/dev/null; ls / >/dev/null' 2>"$tmp/err"
    cat "$tmp/err"
    want="zone: ignoring $var=$value: ${why:-}it takes $takes (see libzoneshim(7))"
    [ "$(cat "$tmp/err")" = "$want" ] || fail "wanted exactly one line: $want"
    ;;
  installed)
    # zone_run_test.sh installed CMAKE BUILD_DIR: the installed launcher finds
    # the installed library relative to itself, even after the tree moves.
    cmake=$2 build=$3
    "$cmake" --install "$build" --prefix "$tmp/prefix" >/dev/null
    mv "$tmp/prefix" "$tmp/moved"
    shim=$("$tmp/moved/bin/zone-run" --print-shim)
    case $shim in "$tmp"/moved/*/libzoneshim.so.*) ;; *) fail "installed zone-run found $shim" ;; esac
    out=$("$tmp/moved/bin/zone-run" --stats -- ls -d /usr 2>"$tmp/err")
    [ "$out" = /usr ] || fail "installed zone-run: output $out"
    grep -q '^zone stats: ' "$tmp/err" || fail "installed zone-run: the shim was not loaded"
    ;;
  print_shim)
    shim=$("$zone_run" --print-shim)
    [ -f "$shim" ] || fail "--print-shim gave $shim"
    ;;
  *)
    fail "unknown case $case_name"
    ;;
esac
echo ok
