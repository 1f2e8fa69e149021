"""Eval suites: run a prompt version's cases (repeated), check assertions, measure pass rates and
flakiness, cache model answers, store results under `.builderos/evals/`, and gate releases on them."""
