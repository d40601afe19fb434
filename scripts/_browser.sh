# Sourced by scripts/test: what the web UI's browser tests need, installed when missing.
#  - Chromium from Debian packages (apt-get, as root only); Playwright (requirements-dev.txt) drives it through
#    its executable path, since Playwright's own browser download cannot be reached;
#  - axe-core from the npm registry, pinned in tools/package.json, injected into each page for the
#    accessibility checks.
# Nothing is done when all of it is there. The browser tests never skip: without Chromium they fail with a hint.

BROWSER_DEBS=(chromium fonts-dejavu-core)
AXE_JS="tools/node_modules/axe-core/axe.min.js"

source "$(dirname "${BASH_SOURCE[0]}")/_debs.sh"
debs_install UI "${BROWSER_DEBS[@]}" || exit 1
if [ ! -f "$AXE_JS" ]; then
  (cd tools && npm install --no-audit --no-fund --loglevel=error) || {
    echo "UI tests: npm could not install axe-core into tools/ (see tools/package.json)" >&2
    exit 1
  }
fi
