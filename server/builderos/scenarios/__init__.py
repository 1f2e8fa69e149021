"""Scenario tests of pipelines (SPEC §2): run with stubs in a scratch copy, check expectations and traces."""
