#!/bin/sh
# Load the AuthZEN interop scenarios (Todo 1.1, API gateway) into the store at
# $CHARTER_HOME (or ~/.charter): the people, the subject type mapping, the roles.
#   CHARTER_HOME=$(mktemp -d) sh examples/authzen-interop/load.sh && charter serve
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
charter=${CHARTER:-charter}
"$charter" init
"$charter" people import "$here/people.json"
"$charter" policy apply "$here/policy.yaml"
"$charter" roles apply "$here/roles.yaml"
