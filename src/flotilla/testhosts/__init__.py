"""Test-only: offline host images and the systemd+sshd containers that stand in for real hosts.

Nothing here runs against production hosts; the lab and the Molecule scenarios use it.
"""
