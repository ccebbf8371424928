#!/usr/bin/env bash
# Runs the JUnit 4 tests of the platform-free core (org.brillsson.demo.core) on a plain JVM,
# without the Android SDK or Gradle. Works from any directory. Exit status is non-zero on any
# failure; the last line reads "N passed, M failed".
#
# Needs javac/java, junit4, hamcrest and gson from Debian packages; installs them with apt-get
# when missing (as root, or through sudo).
#
# SharedVectorsTest reads app/src/test/resources/early_exit_vectors.json (copied onto the test
# classpath); EARLY_EXIT_VECTORS=/path/to/file.json checks another file instead.
set -euo pipefail

JAVA_OPTS=()
if [ -n "${EARLY_EXIT_VECTORS:-}" ]; then  # resolved before leaving the caller's directory
    JAVA_OPTS+=("-Dearly_exit_vectors=$(realpath "$EARLY_EXIT_VECTORS")")
fi
cd "$(dirname "${BASH_SOURCE[0]}")"

JARS=/usr/share/java
PACKAGES="default-jdk-headless junit4 libgoogle-gson-java"

hamcrest_jar() {
    for j in hamcrest-core.jar hamcrest.jar hamcrest-all.jar; do
        if [ -f "$JARS/$j" ]; then echo "$JARS/$j"; return; fi
    done
}

if ! command -v javac >/dev/null || ! command -v java >/dev/null \
    || [ ! -f "$JARS/junit4.jar" ] || [ ! -f "$JARS/gson.jar" ] || [ -z "$(hamcrest_jar)" ]; then
    echo "Installing $PACKAGES ..."
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >/dev/null
    $SUDO apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null
fi

CP="$JARS/junit4.jar:$(hamcrest_jar):$JARS/gson.jar"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

MAIN=app/src/main/java
TEST=app/src/test/java
mapfile -t SOURCES < <(find "$MAIN/org/brillsson/demo/core" "$TEST" -name '*.java' | sort)
mapfile -t TESTS < <(cd "$TEST" && find . -name '*Test.java' | sort | sed -e 's|^\./||' -e 's|\.java$||' -e 's|/|.|g')

# Java 8 language level: the same sources are built for Android (sourceCompatibility 1.8).
javac -Xlint:all,-options -encoding UTF-8 --release 8 -cp "$CP" -d "$WORK/classes" "${SOURCES[@]}"
cp -R app/src/test/resources/. "$WORK/classes/"

set +e
java ${JAVA_OPTS[@]+"${JAVA_OPTS[@]}"} -cp "$WORK/classes:$CP" org.junit.runner.JUnitCore "${TESTS[@]}" >"$WORK/junit.log" 2>&1
STATUS=$?
set -e
cat "$WORK/junit.log"

# JUnit's summary is "OK (N tests)" or "Tests run: N,  Failures: M".
if RUN=$(grep -oE '^OK \([0-9]+ tests?\)' "$WORK/junit.log" | grep -oE '[0-9]+'); then
    FAILED=0
elif LINE=$(grep -E '^Tests run: [0-9]+, +Failures: [0-9]+' "$WORK/junit.log"); then
    RUN=$(echo "$LINE" | sed -E 's/^Tests run: ([0-9]+),.*/\1/')
    FAILED=$(echo "$LINE" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
else
    echo "error: no JUnit summary found (JUnit exit status $STATUS)" >&2
    exit 1
fi
echo "$((RUN - FAILED)) passed, $FAILED failed"
if [ "$STATUS" -ne 0 ] || [ "$FAILED" -ne 0 ]; then
    exit 1
fi
