"""devpts: pseudo-terminals (pty(7))."""
