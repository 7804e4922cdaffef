"""The embedded default: moto in server mode, the template's resources, the bundled feeds.

Development and demo code only; no Lambda handler imports it.
"""
