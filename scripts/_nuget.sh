# Sourced by scripts/test: the real NuGet client for the NuGet tests, installed when missing.
#  - mono and the class libraries NuGet.exe 5.8 loads, from Debian packages (apt-get, as root only);
#  - NuGet.exe itself from the npm package nuget-exe, pinned in tools/package.json.
# Set FEED_SKIP_NUGET_INSTALL=1 to leave the machine alone: the NuGet tests then fail with an install hint
# if the client is missing (they never skip).

NUGET_DEBS=(
  nuget mono-runtime ca-certificates-mono
  libmono-system-net-http4.0-cil libmono-system-net-http-webrequest4.0-cil
  libmono-system-io-compression4.0-cil libmono-system-io-compression-filesystem4.0-cil
  libmono-system-runtime-serialization4.0-cil libmono-system-security4.0-cil libmono-system-data4.0-cil
  libmono-system-net4.0-cil libmono-system-numerics4.0-cil
)
NUGET_EXE="tools/node_modules/nuget-exe/nuget-5.8.0.exe"

nuget_missing_debs() {
  local pkg
  for pkg in "${NUGET_DEBS[@]}"; do
    if [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null)" != "ii " ]; then
      echo "$pkg"
    fi
  done
}

nuget_install_debs() {
  local missing
  command -v dpkg-query >/dev/null || { echo "NuGet tests: no dpkg here; install mono and ${NUGET_DEBS[*]} yourself" >&2; return 1; }
  missing="$(nuget_missing_debs | tr '\n' ' ')"
  [ -z "$missing" ] && command -v mono >/dev/null && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "NuGet tests need these Debian packages, and installing them needs root: apt-get install -y $missing" >&2
    return 1
  fi
  echo "== installing mono for the NuGet tests: $missing"
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086  # one word per package
  if ! apt-get install -y -qq --no-install-recommends $missing >/tmp/feed-nuget-apt.log 2>&1; then
    # A fresh image has no package lists yet: fetch them once and try again.
    apt-get update -qq >>/tmp/feed-nuget-apt.log 2>&1 || true
    # shellcheck disable=SC2086
    if ! apt-get install -y -qq --no-install-recommends $missing >>/tmp/feed-nuget-apt.log 2>&1; then
      tail -n 20 /tmp/feed-nuget-apt.log >&2
      echo "NuGet tests: apt-get could not install $missing (log: /tmp/feed-nuget-apt.log)" >&2
      return 1
    fi
  fi
}

if [ "${FEED_SKIP_NUGET_INSTALL:-}" != 1 ]; then
  nuget_install_debs || exit 1
  if [ ! -f "$NUGET_EXE" ]; then
    (cd tools && npm install --no-audit --no-fund --loglevel=error) || {
      echo "NuGet tests: npm could not install nuget-exe into tools/ (see tools/package.json)" >&2
      exit 1
    }
  fi
fi
