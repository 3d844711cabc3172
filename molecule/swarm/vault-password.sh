#!/bin/sh
# Ansible's vault password for this scenario's run (ANSIBLE_VAULT_PASSWORD_FILE in molecule.yml):
# a random one, generated on first use in Molecule's ephemeral folder and kept there for the run.
# prepare.yml encrypts the sudo password of the host that requires one with it.
set -eu
file="${MOLECULE_EPHEMERAL_DIRECTORY:?run this through molecule}/vault-password"
if [ ! -s "$file" ]; then
    umask 077
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$file"
fi
cat "$file"
