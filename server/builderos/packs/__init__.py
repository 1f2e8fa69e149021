"""Packs: desks, agents and pipelines shared as signed `.deskpack` zips.

`keys` makes and reads Ed25519 keys (private keys stay in the user's config folder), `trust` keeps the
keys a user or workspace trusts, `build` writes a pack, `verify` checks one completely before anything
is written, and `install` puts a verified pack into the workspace (no code from a pack is ever run).
"""
