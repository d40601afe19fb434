# Sourced by scripts/test: what the web UI's browser tests need, installed when missing.
#  - Chromium from Debian packages (apt-get, as root only); Playwright (requirements-dev.txt) drives it through
#    its executable path, since Playwright's own browser download cannot be reached;
#  - axe-core from the npm registry, pinned in tools/package.json, injected into each page for the
#    accessibility checks.
# Nothing is done when all of it is there. The browser tests never skip: without Chromium they fail with a hint.

BROWSER_DEBS=(chromium fonts-dejavu-core)
AXE_JS="tools/node_modules/axe-core/axe.min.js"

browser_install_debs() {
  local missing="" pkg
  command -v dpkg-query >/dev/null || { echo "UI tests: no dpkg here; install Chromium yourself (FEED_CHROMIUM names it)" >&2; return 1; }
  for pkg in "${BROWSER_DEBS[@]}"; do
    if [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null)" != "ii " ]; then
      missing="$missing $pkg"
    fi
  done
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "UI tests need these Debian packages, and installing them needs root: apt-get install -y$missing" >&2
    return 1
  fi
  echo "== installing Chromium for the UI tests:$missing"
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086  # one word per package
  if ! apt-get install -y -qq $missing >/tmp/feed-browser-apt.log 2>&1; then
    apt-get update -qq >>/tmp/feed-browser-apt.log 2>&1 || true
    # shellcheck disable=SC2086
    if ! apt-get install -y -qq $missing >>/tmp/feed-browser-apt.log 2>&1; then
      tail -n 20 /tmp/feed-browser-apt.log >&2
      echo "UI tests: apt-get could not install$missing (log: /tmp/feed-browser-apt.log)" >&2
      return 1
    fi
  fi
}

browser_install_debs || exit 1
if [ ! -f "$AXE_JS" ]; then
  (cd tools && npm install --no-audit --no-fund --loglevel=error) || {
    echo "UI tests: npm could not install axe-core into tools/ (see tools/package.json)" >&2
    exit 1
  }
fi
