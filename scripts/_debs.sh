# Sourced by the scripts that need Debian packages for a group of tests (_nuget.sh, _maven.sh, _browser.sh).
#
# debs_install TOPIC PACKAGE...: install those of PACKAGE that are not installed yet, with apt-get, as root only;
# a fresh image's package lists are fetched once when the first try fails. TOPIC names the tests in messages and
# the log (/tmp/feed-TOPIC-apt.log). Returns non-zero, saying what to run, when it cannot install them.

debs_missing() {
  local pkg
  for pkg in "$@"; do
    if [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null)" != "ii " ]; then
      echo "$pkg"
    fi
  done
}

debs_install() {
  local topic="$1" missing log
  shift
  command -v dpkg-query >/dev/null && command -v apt-get >/dev/null || {
    echo "$topic tests: no dpkg or apt-get here; install these yourself: $*" >&2
    return 1
  }
  missing="$(debs_missing "$@" | tr '\n' ' ')"
  missing="${missing% }"
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "$topic tests need these Debian packages, and installing them needs root: apt-get install -y $missing" >&2
    return 1
  fi
  log="/tmp/feed-$(echo "$topic" | tr 'A-Z ' 'a-z-')-apt.log"
  echo "== installing Debian packages for the $topic tests: $missing"
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086  # one word per package
  if ! apt-get install -y -qq $missing >"$log" 2>&1; then
    # A fresh image has no package lists yet: fetch them once and try again.
    apt-get update -qq >>"$log" 2>&1 || true
    # shellcheck disable=SC2086
    if ! apt-get install -y -qq $missing >>"$log" 2>&1; then
      tail -n 20 "$log" >&2
      echo "$topic tests: apt-get could not install $missing (log: $log)" >&2
      return 1
    fi
  fi
}
