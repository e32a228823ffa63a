#!/usr/bin/env bash
# Checks, after `./mvnw -Prelease verify`, what a release publishes: every module of the build that is deployed
# (no maven.deploy.skip) is in the BOM with the project's version, the BOM lists nothing else, and each deployed
# jar has the sources and javadoc jars Maven Central requires beside it. A module added later and forgotten
# here fails CI instead of the release. Used by .ci/run; by hand: ./mvnw -q -Prelease verify -DskipTests && .ci/published.sh
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
problem() { echo "ci: published artifacts: $*" >&2; fail=1; }

# The first <artifactId> (or <version>) after the parent block, i.e. the module's own. One awk, no pipe: under
# pipefail, a reader that stops at its first match (grep -m1, grep -q) can kill its writer with SIGPIPE and fail
# the check at random.
own() {
  awk -v tag="$2" '/<parent>/,/<\/parent>/ { next }
    match($0, "<" tag ">[^<]*") { print substr($0, RSTART + length(tag) + 2, RLENGTH - length(tag) - 2); exit }' "$1"
}

version=$(own pom.xml version)
[ "$(own bom/pom.xml version)" = "$version" ] || problem "bom/pom.xml's version is not the build's ($version)"

bom_entries=$(sed -n '/<dependencyManagement>/,/<\/dependencyManagement>/p' bom/pom.xml \
  | grep -o '<artifactId>[^<]*' | sed 's/<artifactId>//' | sort)
bom_versions=$(sed -n '/<dependencyManagement>/,/<\/dependencyManagement>/p' bom/pom.xml \
  | grep -o '<version>[^<]*' | sed 's/<version>//' | sort -u)
[ "$bom_versions" = '${project.version}' ] || problem "every BOM entry's version must be \${project.version}, got: $bom_versions"

deployed=()
for module in $(sed -n '/<modules>/,/<\/modules>/p' pom.xml | grep -o '<module>[^<]*' | sed 's/<module>//'); do
  pom="$module/pom.xml"
  [ "$module" = bom ] && continue
  grep -q '<maven.deploy.skip>true</maven.deploy.skip>' "$pom" && continue
  artifact=$(own "$pom" artifactId)
  deployed+=("$artifact")
  grep -qx "$artifact" <<<"$bom_entries" || problem "$artifact ($module) is deployed but not in bom/pom.xml"
  if ! grep -q '<packaging>pom</packaging>' "$pom"; then
    for classifier in sources javadoc; do
      [ -f "$module/target/$artifact-$version-$classifier.jar" ] \
        || problem "$module/target/$artifact-$version-$classifier.jar missing after -Prelease verify"
    done
  fi
done
for entry in $bom_entries; do
  grep -qx "$entry" <<<"$(printf '%s\n' "${deployed[@]}")" || problem "bom/pom.xml lists $entry, which the build does not deploy"
done

[ "$fail" -eq 0 ] && echo "ci: published artifacts: ${#deployed[@]} modules, all in the BOM with sources and javadoc jars"
exit "$fail"
