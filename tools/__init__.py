"""Python tools that run on the operator's machine (the offline policy gate), not on the hosts."""
