"""Rig 3 (`facefit-human/3.1`): MakeHuman's CC0 head, morphed, framed and shaded by us."""
