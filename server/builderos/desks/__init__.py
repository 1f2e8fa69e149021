"""Desks: parameterised workspace templates, applied atomically and upgraded with a three-way merge.

`catalog` finds desks, `params` checks parameter values, `render` fills in a desk's files,
`txn` writes them all-or-nothing, `apply` and `upgrade` put it together, `records` remembers
what was applied (so an upgrade has its merge base).
"""
