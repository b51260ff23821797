"""Code shared by every function: settings, database, auth, errors, logging."""
