#!/usr/bin/env bash
# Install the Debian packages a make target needs, when they are missing.
#
#   scripts/system-deps.sh "what needs them" CHECK=PACKAGE ...
#
# CHECK is an absolute path that must be executable, or a command name that
# must be on PATH. Missing packages are installed with apt-get, as root or
# through password-less sudo; otherwise the script says what to install and
# fails.
set -euo pipefail

purpose=$1
shift
missing=()
for pair in "$@"; do
    check=${pair%%=*}
    package=${pair#*=}
    if [[ $check == /* ]]; then
        [[ -x $check ]] && continue
    else
        command -v "$check" >/dev/null 2>&1 && continue
    fi
    [[ " ${missing[*]-} " == *" $package "* ]] || missing+=("$package")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "Installing ${missing[*]} for $purpose (apt-get install ${missing[*]})"
if [[ $(id -u) == 0 ]]; then
    sudo=()
elif sudo -n true 2>/dev/null; then
    sudo=(sudo)
else
    echo "${missing[*]} missing and this is not root: run 'sudo apt-get install ${missing[*]}'" >&2
    exit 1
fi
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}"
