"""Judgement: the site policy, rules and their conditions, the rule schema, end-of-life table, learning."""
