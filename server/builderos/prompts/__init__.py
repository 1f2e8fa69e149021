"""The prompt registry: versions of each prompt, `name@range` references and their resolution."""
