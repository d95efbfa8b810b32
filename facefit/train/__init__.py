"""Training loops of the networks (imitator, feature extractor); used by `facefit train`."""
