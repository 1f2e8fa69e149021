"""The policy: which tools an agent may use, what needs a human's approval, what is secret."""
