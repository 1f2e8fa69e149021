"""The one validator: the editor's diagnostics, `builderos validate` and run preflight all call it."""
