"""The Universal Packages client: ``python -m feed_core universal publish|download``."""
