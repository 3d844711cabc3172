"""flotilla: the CLI and test-host tooling around the flotilla.cluster Ansible collection.

What operators run against production lives in the collection (roles/, playbooks/, plugins/).
This package holds conveniences: the local lab and the test hosts it and Molecule share.
"""

__version__ = "0.1.0"
