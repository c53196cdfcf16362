"""JWT-header single sign-on behind a proxy: the FAB security manager and its parts."""
