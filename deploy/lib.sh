# shellcheck shell=bash
# Shared by deploy/*/deploy.sh (sourced, not run).
#
# Every cloud command goes through `run`. With BLINDFOLD_DEPLOY_DRY_RUN=1
# nothing is run: each command is printed on stderr as one line, "+ " and
# the command shell-quoted (what the tests parse with the cloud's own CLI),
# and `capture` answers with the placeholder the caller gives, so the
# script goes on to its next step.

dry_run=${BLINDFOLD_DEPLOY_DRY_RUN:-0}

say() { echo "deploy: $*" >&2; }
die() {
  echo "deploy: $*" >&2
  exit 2
}

# Prints a command on stderr as "+ " and one shell-quoted line.
show() {
  local out=() a
  for a in "$@"; do out+=("$(printf '%q' "$a")"); done
  echo "+ ${out[*]}" >&2
}

# run CMD...: runs a command (or prints it in a dry run).
run() {
  if [[ $dry_run == 1 ]]; then
    show "$@"
  else
    "$@"
  fi
}

# capture PLACEHOLDER CMD...: runs a command and prints its output (in a
# dry run, prints the command and answers PLACEHOLDER).
capture() {
  local placeholder=$1
  shift
  if [[ $dry_run == 1 ]]; then
    show "$@"
    echo "$placeholder"
  else
    "$@"
  fi
}

# flag_value "$@": in a script's argument loop, prints the script's
# header comment and exits on -h/--help, and stops when a flag has no value.
flag_value() {
  case $1 in
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
  esac
  [[ $# -ge 2 ]] || die "$1 needs a value"
}

# require_flags VAR:FLAG...: each variable is set, else names its flag.
require_flags() {
  local pair var
  for pair in "$@"; do
    var=${pair%%:*}
    [[ -n ${!var} ]] || die "--${pair#*:} is required (see --help)"
  done
}

# need TOOL...: each tool is on PATH (not checked in a dry run).
need() {
  [[ $dry_run == 1 ]] && return 0
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || die "$t is not installed"
  done
}

# need_file PATH WHAT: a file that must exist.
need_file() {
  [[ -f $1 ]] || die "$2 not found at $1"
}

# json_field FILE KEY: a top-level string field of a JSON file.
json_field() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

# make_work_dir: sets $work to a scratch directory for files the commands
# read, removed at exit; a dry run keeps it (its commands name those
# files) and says where.
make_work_dir() {
  work=$(mktemp -d)
  if [[ $dry_run == 1 ]]; then
    say "dry run: the files the commands read are kept in $work"
  else
    trap 'rm -rf "$work"' EXIT
  fi
}
