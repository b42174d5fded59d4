"""What the daemon serves: the metrics contract, its exposition, the HTTP app and its security."""
