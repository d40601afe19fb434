# Sourced by scripts/test: the real NuGet client for the NuGet tests, installed when missing.
#  - mono and the class libraries NuGet.exe 5.8 loads, from Debian packages (apt-get, as root only);
#  - NuGet.exe itself from the npm package nuget-exe, pinned in tools/package.json.
# Nothing is done when all of it is there. The NuGet tests never skip: without the client they fail with a hint.

NUGET_DEBS=(
  nuget mono-runtime ca-certificates-mono
  libmono-system-net-http4.0-cil libmono-system-net-http-webrequest4.0-cil
  libmono-system-io-compression4.0-cil libmono-system-io-compression-filesystem4.0-cil
  libmono-system-runtime-serialization4.0-cil libmono-system-security4.0-cil libmono-system-data4.0-cil
  libmono-system-net4.0-cil libmono-system-numerics4.0-cil
)
NUGET_EXE="tools/node_modules/nuget-exe/nuget-5.8.0.exe"

source "$(dirname "${BASH_SOURCE[0]}")/_debs.sh"
debs_install NuGet "${NUGET_DEBS[@]}" || exit 1
command -v mono >/dev/null || { echo "NuGet tests: mono is not on PATH after installing ${NUGET_DEBS[*]}" >&2; exit 1; }
if [ ! -f "$NUGET_EXE" ]; then
  (cd tools && npm install --no-audit --no-fund --loglevel=error) || {
    echo "NuGet tests: npm could not install nuget-exe into tools/ (see tools/package.json)" >&2
    exit 1
  }
fi
