"""Personal data: the secret key, customer tokens, masking, PII checks and erasure (GDPR article 17)."""
