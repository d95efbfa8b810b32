"""Rig 3 (`facefit-human/3.3`): MakeHuman's CC0 head, morphed, framed and shaded by us."""
