// The runner lands with issue 4.
