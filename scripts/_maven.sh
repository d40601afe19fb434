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

maven_install_debs() {
  command -v mvn >/dev/null && command -v java >/dev/null && command -v gradle >/dev/null && return 0
  command -v apt-get >/dev/null || { echo "Maven tests: no apt-get here; install mvn, a JDK and gradle yourself" >&2; return 1; }
  if [ "$(id -u)" != 0 ]; then
    echo "Maven tests need mvn, a JDK and gradle, and installing them needs root: apt-get install -y ${MAVEN_DEBS[*]}" >&2
    return 1
  fi
  echo "== installing mvn, a JDK and gradle for the Maven tests: ${MAVEN_DEBS[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq "${MAVEN_DEBS[@]}" >/tmp/feed-maven-apt.log 2>&1; then
    # A fresh image has no package lists yet: fetch them once and try again.
    apt-get update -qq >>/tmp/feed-maven-apt.log 2>&1 || true
    if ! apt-get install -y -qq "${MAVEN_DEBS[@]}" >>/tmp/feed-maven-apt.log 2>&1; then
      tail -n 20 /tmp/feed-maven-apt.log >&2
      echo "Maven tests: apt-get could not install ${MAVEN_DEBS[*]} (log: /tmp/feed-maven-apt.log)" >&2
      return 1
    fi
  fi
}

maven_install_debs || exit 1
.venv/bin/python -m tests.maven_client seed || {
  echo "Maven tests: building the seed repository failed (mvn fetches it through its own configuration)" >&2
  exit 1
}
