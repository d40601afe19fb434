# Sourced by scripts/test: the real cargo for the Cargo tests. It is a precondition, not installed here: the tests
# need cargo >= 1.74 (authenticated registries and the cargo:token credential provider), newer than Debian's cargo
# package, so install a Rust toolchain with rustup. rustup's usual place (~/.cargo/bin) is put on PATH when cargo is
# not there yet. The Cargo tests never skip: without a fit cargo the run stops here with the reason.

if ! command -v cargo >/dev/null && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
  export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi
.venv/bin/python -m tests.cargo_client check >/dev/null || {
  .venv/bin/python -m tests.cargo_client check >&2
  exit 1
}
