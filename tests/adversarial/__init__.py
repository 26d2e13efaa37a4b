"""Adversarial suite: hostile inputs, faults, two stacks on one host. Every case records its outcome."""
