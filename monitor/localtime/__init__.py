"""Questions of a region's local time: business hours and holidays, maintenance windows."""
