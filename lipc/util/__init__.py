"""Small utilities with no knowledge of networks or MIPs: job fingerprints for resumable runs."""
