# Sourced by scripts/test: the real Maven client for the Maven tests, and their seed repository.
#  - mvn, a JDK and Gradle (Debian's 4.4.1, for the Gradle resolve test) from Debian packages (apt-get, as root
#    only), when one is missing;
#  - the seed repository .cache/maven-seed: every plugin and library the tests' Maven builds use, fetched once by
#    mvn through its own configuration (python -m tests.maven_client seed). The tests serve it on 127.0.0.1 as the
#    feed's Maven upstream, so the suite itself never reaches a public registry.
# The seed is keyed by the generated seed projects (their poms, sources and goals, which pin every plugin) and the
# mvn version: .cache/maven-seed/SEED-KEY is written last, and a different or missing key rebuilds the whole seed
# (about 30 s and 60 MB). Delete the folder to force a rebuild. The Maven tests never skip: without mvn they fail
# with a hint, and a missing seed is built by the first test that needs it.

MAVEN_DEBS=(maven default-jdk-headless gradle)

source "$(dirname "${BASH_SOURCE[0]}")/_debs.sh"
# mvn, java and gradle from anywhere on PATH will do (an SDK install, say); Debian's packages otherwise.
if ! { command -v mvn && command -v java && command -v gradle; } >/dev/null; then
  debs_install Maven "${MAVEN_DEBS[@]}" || exit 1
fi
.venv/bin/python -m tests.maven_client seed || {
  echo "Maven tests: building the seed repository failed (mvn fetches it through its own configuration)" >&2
  exit 1
}
