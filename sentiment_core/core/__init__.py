"""The studio's foundation: settings, errors a user can fix, the run directory, JSON."""
